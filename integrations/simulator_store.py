"""The simulators' state in PostgreSQL: fulfillment orders received and the webhooks owed for them.

Every change to a fulfillment order locks its webhook rows and then its own row, always in that order,
so a cancel or amend and the sender settling a webhook never deadlock and always see each other. A
webhook is claimed by moving its due time past a lease (``FOR UPDATE SKIP LOCKED``): two simulator
processes never send the same step at once, and a step claimed by a process that died is sent again once
its lease has run out.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Select, and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from integrations.simulator_faults import FaultPlan
from integrations.simulator_flows import (
    CARRIER,
    HANDED_OVER,
    PICKED,
    Stage,
    progressed,
    remaining_lines,
    webhook_of,
)
from store.tables import simulator_amendments as am
from store.tables import simulator_early_cancels as early
from store.tables import simulator_fulfillment_orders as sfo
from store.tables import simulator_webhooks as wh

Outcome = Literal["sent", "retry", "refused"]
# How far a repeat of a step trails the original when the sender delivers a webhook twice.
DUPLICATE_AFTER_S = 0.05
# How long the earlier of two steps reported out of order trails the later one, at the least.
OUT_OF_ORDER_GAP_S = 0.1


@dataclass(frozen=True)
class Webhook:
    id: int
    fulfillment_order_id: str
    stage: str
    path: str
    body: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Amended:
    record: dict[str, Any] | None = None
    refusal: tuple[int, str] | None = None  # (HTTP status, why)


class SimulatorStore:
    def __init__(
        self,
        engine: Engine,
        delay_s: float,
        faults: FaultPlan | None = None,
        retry_first_s: float = 0.2,
        retry_max_s: float = 5.0,
        retry_attempts: int = 20,
    ) -> None:
        self.engine = engine
        self.delay_s = delay_s
        self.faults = faults or FaultPlan()
        self.retry_first_s, self.retry_max_s, self.retry_attempts = retry_first_s, retry_max_s, retry_attempts

    # -- what the locations received --------------------------------------------------------------
    def accept(self, request: dict[str, Any], flow: tuple[Stage, ...]) -> tuple[dict[str, Any], bool]:
        """Record a release once (the record and True); a repeat answers the record and resends its latest
        warehouse webhook (False)."""
        fo_id = request["fulfillment_order_id"]
        with self.engine.begin() as conn:
            canceled_first = conn.execute(
                select(early.c.fulfillment_order_id).where(early.c.fulfillment_order_id == fo_id)
            )
            status, steps = ("canceled", ()) if canceled_first.first() else ("received", flow)
            inserted = (
                conn.execute(
                    pg_insert(sfo)
                    .values(
                        fulfillment_order_id=fo_id,
                        order_id=request["order_id"],
                        location_id=request["location_id"],
                        delivery_method=request["delivery_method"],
                        lines=request["lines"],
                        request=request,
                        flow=list(steps),
                        status=status,
                    )
                    .on_conflict_do_nothing(index_elements=[sfo.c.fulfillment_order_id])
                    .returning(*sfo.c)
                )
                .mappings()
                .first()
            )
            if inserted is not None:
                fo = dict(inserted)
                self._schedule_next(conn, fo)
                return fo, True
            self._resend_latest(conn, fo_id, "warehouse")
            return self._fo(conn, fo_id) or {}, False

    def record(self, fo_id: str) -> dict[str, Any] | None:
        """The fulfillment order with ``owed``, how many of its webhooks are still to be sent."""
        with self.engine.connect() as conn:
            row = conn.execute(_with_owed().where(sfo.c.fulfillment_order_id == fo_id)).mappings().first()
            return dict(row) if row else None

    def records(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(_with_owed().order_by(sfo.c.created_at)).mappings()]

    def cancel(self, fo_id: str) -> dict[str, Any] | None:
        """Stop the fulfillment order unless its goods have left (None then). An unknown id is remembered as
        canceled: its release, should it arrive later, never runs."""
        with self.engine.begin() as conn:
            fo, claimed = self._lock(conn, fo_id)
            if fo is None:
                conn.execute(pg_insert(early).values(fulfillment_order_id=fo_id).on_conflict_do_nothing())
                return {"fulfillment_order_id": fo_id, "status": "canceled"}
            if claimed & HANDED_OVER:
                return None
            self._stop(conn, fo, keep_status=fo["status"] == "rejected")
            return self._fo(conn, fo_id)

    def amend(self, fo_id: str, remove: list[dict[str, Any]], key: str) -> Amended:
        """Take units off a fulfillment order before it is picked, once per key; emptied, it is canceled."""
        with self.engine.begin() as conn:
            fo, claimed = self._lock(conn, fo_id)
            done = conn.execute(select(am).where(am.c.idempotency_key == key)).mappings().first()
            if done is not None:
                if done["fulfillment_order_id"] != fo_id or done["remove"] != remove:
                    return Amended(refusal=(422, f"Idempotency-Key {key!r} was used for another amend"))
                return Amended(record={**(fo or {}), "lines": done["lines"], "status": done["status"]})
            if fo is None:
                return Amended(refusal=(404, f"no fulfillment order {fo_id}"))
            if claimed & PICKED or fo["status"] != "received":
                return Amended(refusal=(409, f"too late: {fo_id} is {fo['status']}, its units are off the shelf"))
            lines = remaining_lines(fo["lines"], remove)
            if isinstance(lines, str):
                return Amended(refusal=(400, f"{fo_id} {lines}"))
            conn.execute(
                update(sfo).where(sfo.c.fulfillment_order_id == fo_id).values(lines=lines, updated_at=func.now())
            )
            if not lines:
                self._stop(conn, fo, keep_status=False)
            fo = self._fo(conn, fo_id) or {}
            conn.execute(
                insert(am).values(
                    idempotency_key=key, fulfillment_order_id=fo_id, remove=remove, lines=lines, status=fo["status"]
                )
            )
            return Amended(record=fo)

    def track(self, tracking_number: str) -> str | None:
        """The parcel's latest carrier event sent ("shipped" before any), None for an unknown parcel; asking
        resends that event."""
        with self.engine.begin() as conn:
            fo_id = conn.execute(
                select(sfo.c.fulfillment_order_id).where(sfo.c.tracking_number == tracking_number)
            ).scalar_one_or_none()
            if fo_id is None:
                return None
            latest = conn.execute(
                select(wh.c.stage)
                .where(
                    wh.c.fulfillment_order_id == fo_id, wh.c.chain, wh.c.path.like("%/carrier"), wh.c.state == "sent"
                )
                .order_by(wh.c.step.desc())
                .limit(1)
            ).scalar_one_or_none()
            self._resend_latest(conn, fo_id, "carrier")
            return latest or "shipped"

    # -- the sender's side ------------------------------------------------------------------------
    def claim(self, limit: int, lease_s: float) -> list[Webhook]:
        """Due webhooks, each now this caller's for ``lease_s`` seconds; rows another sender is claiming are
        skipped, not waited for."""
        due = (
            select(wh.c.id)
            .where(wh.c.state == "pending", wh.c.due_at <= func.now())
            .order_by(wh.c.due_at, wh.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(wh)
            .where(wh.c.id.in_(due.scalar_subquery()))
            .values(due_at=func.now() + timedelta(seconds=lease_s), attempts=wh.c.attempts + 1)
            .returning(wh.c.id, wh.c.fulfillment_order_id, wh.c.stage, wh.c.path, wh.c.body, wh.c.attempts)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [Webhook(**r) for r in rows]

    def unclaim(self, ids: list[int]) -> None:
        """Hand back webhooks this sender will not finish (it is stopping): due again at once, for anyone."""
        if ids:
            with self.engine.begin() as conn:
                pending = and_(wh.c.id.in_(ids), wh.c.state == "pending")
                conn.execute(update(wh).where(pending).values(due_at=func.now(), attempts=wh.c.attempts - 1))

    def settle(self, webhook_id: int, outcome: Outcome, answer: str) -> None:
        """Record what the OMS answered; a step it took schedules the next one. A webhook canceled meanwhile
        stays canceled."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(select(wh).where(wh.c.id == webhook_id, wh.c.state == "pending").with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                return
            locked = select(sfo).where(sfo.c.fulfillment_order_id == row["fulfillment_order_id"]).with_for_update()
            fo = dict(conn.execute(locked).mappings().one())
            this = wh.c.id == webhook_id
            if outcome == "retry" and row["attempts"] < self.retry_attempts:
                backoff = min(self.retry_first_s * 2 ** (row["attempts"] - 1), self.retry_max_s)
                conn.execute(
                    update(wh).where(this).values(due_at=func.now() + timedelta(seconds=backoff), last_answer=answer)
                )
                return
            if outcome != "sent":
                conn.execute(update(wh).where(this).values(state="failed", last_answer=answer))
                if row["chain"]:
                    self._set_fo(conn, fo["fulfillment_order_id"], status="failed", error=f"{row['stage']}: {answer}")
                return
            conn.execute(update(wh).where(this).values(state="sent", sent_at=func.now(), last_answer=answer))
            if not row["chain"]:
                return
            if progressed(fo["status"], row["stage"], fo["flow"]):
                self._set_fo(conn, fo["fulfillment_order_id"], status=row["stage"])
            if self.faults.happens():  # the OMS hears this step twice
                self._add(conn, dict(row), DUPLICATE_AFTER_S, chain=False)
            others = conn.execute(
                select(func.count()).where(
                    wh.c.fulfillment_order_id == fo["fulfillment_order_id"], wh.c.chain, wh.c.state == "pending"
                )
            ).scalar_one()
            if others == 0 and fo["status"] not in ("canceled", "failed"):
                self._schedule_next(conn, fo)

    # -- inside a transaction ---------------------------------------------------------------------
    def _fo(self, conn: Connection, fo_id: str) -> dict[str, Any] | None:
        row = conn.execute(select(sfo).where(sfo.c.fulfillment_order_id == fo_id)).mappings().first()
        return dict(row) if row else None

    def _lock(self, conn: Connection, fo_id: str) -> tuple[dict[str, Any] | None, frozenset[str]]:
        """Lock the fulfillment order (its webhooks first); it and the stages of its steps already claimed."""
        rows = conn.execute(select(wh).where(wh.c.fulfillment_order_id == fo_id).with_for_update()).mappings().all()
        fo = conn.execute(select(sfo).where(sfo.c.fulfillment_order_id == fo_id).with_for_update()).mappings().first()
        claimed = frozenset(r["stage"] for r in rows if r["chain"] and (r["attempts"] > 0 or r["state"] == "sent"))
        return (dict(fo) if fo else None), claimed

    def _set_fo(self, conn: Connection, fo_id: str, **values: Any) -> None:
        conn.execute(update(sfo).where(sfo.c.fulfillment_order_id == fo_id).values(updated_at=func.now(), **values))

    def _stop(self, conn: Connection, fo: dict[str, Any], keep_status: bool) -> None:
        fo_id = fo["fulfillment_order_id"]
        conn.execute(
            update(wh).where(wh.c.fulfillment_order_id == fo_id, wh.c.state == "pending").values(state="canceled")
        )
        self._set_fo(conn, fo_id, status=fo["status"] if keep_status else "canceled", next_step=len(fo["flow"]))

    def _schedule_next(self, conn: Connection, fo: dict[str, Any]) -> None:
        """Schedule the next step; now and then the next two, the later one due first (news out of order)."""
        flow, first = fo["flow"], fo["next_step"]
        if first >= len(flow):
            return
        count = 2 if first + 1 < len(flow) and self.faults.happens() else 1
        stages = flow[first : first + count]
        if "shipped" in stages and fo["tracking_number"] is None:
            fo = {**fo, "tracking_number": self._new_tracking_number(conn), "carrier": CARRIER}
            self._set_fo(conn, fo["fulfillment_order_id"], tracking_number=fo["tracking_number"], carrier=CARRIER)
        for n, stage in enumerate(stages):
            path, body = webhook_of(fo, stage)
            row = {
                "fulfillment_order_id": fo["fulfillment_order_id"],
                "stage": stage,
                "step": first + n,
                "path": path,
                "body": body,
            }
            trails = (count - 1 - n) * max(self.delay_s, OUT_OF_ORDER_GAP_S)
            self._add(conn, row, self.delay_s + trails, chain=True)
        self._set_fo(conn, fo["fulfillment_order_id"], next_step=first + count)

    def _add(self, conn: Connection, row: dict[str, Any], after_s: float, chain: bool) -> None:
        conn.execute(
            insert(wh).values(
                fulfillment_order_id=row["fulfillment_order_id"],
                stage=row["stage"],
                step=row["step"],
                chain=chain,
                path=row["path"],
                body=row["body"],
                due_at=func.now() + timedelta(seconds=after_s),
            )
        )

    def _resend_latest(self, conn: Connection, fo_id: str, partner: Literal["warehouse", "carrier"]) -> None:
        """Send the latest step already reported to ``partner``'s webhook once more (a lost one arrives)."""
        latest = (
            conn.execute(
                select(wh)
                .where(
                    wh.c.fulfillment_order_id == fo_id,
                    wh.c.chain,
                    wh.c.path.like(f"%/{partner}"),
                    wh.c.state.in_(("sent", "failed")),
                )
                .order_by(wh.c.step.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if latest is not None:
            self._add(conn, dict(latest), 0.0, chain=False)

    def _new_tracking_number(self, conn: Connection) -> str:
        while True:
            number = "YMT" + "".join(secrets.choice("0123456789") for _ in range(10))
            taken = conn.execute(select(sfo.c.fulfillment_order_id).where(sfo.c.tracking_number == number)).first()
            if taken is None:
                return number


def _with_owed() -> Select[Any]:
    owed = (
        select(func.count())
        .where(wh.c.fulfillment_order_id == sfo.c.fulfillment_order_id, wh.c.state == "pending")
        .scalar_subquery()
    )
    return select(sfo, owed.label("owed"))
