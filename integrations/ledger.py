"""A ledger of payment transactions in PostgreSQL: idempotency keys (a replayed key returns its original
transaction, never a second one), parents locked while their children are counted (no capture above what was
authorized, no refund above what was captured), and a lost database that reads as an unavailable gateway.

The card simulator keeps its ledger so, and the OMS's own ledger (accounts, prepayments) is one too.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError

from integrations.payment_port import GatewayRefused, GatewayTransaction, GatewayUnavailable, TransactionKind

_PREFIX: dict[TransactionKind, str] = {"authorize": "auth", "capture": "cap", "void": "void", "refund": "ref"}


class Ledger:
    def __init__(self, engine: Engine, table: Table, id_prefix: str = "", inherited: tuple[str, ...] = ()) -> None:
        self._engine = engine
        self._table = table
        self._id_prefix = id_prefix
        # columns a capture, void or refund copies from the transaction it moves money of (the own ledger's account)
        self._inherited = inherited

    # -- the movements: each against its parent, locked, and once per key -----------------------------
    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        with self.transaction() as conn:
            auth = self.lock_parent(conn, authorization_id, "authorize")
            if (replay := self.existing(conn, idempotency_key)) is not None:
                return replayed(replay, "capture", authorization_id, amount)
            if amount <= 0:
                raise GatewayRefused(f"cannot capture a non-positive amount ({amount})")
            remaining = self.remaining_authorized(conn, auth)
            if amount > remaining:
                raise GatewayRefused(f"capture of {amount} exceeds the {remaining} still authorized on {auth.id}")
            return self._insert_child(conn, idempotency_key, auth, "capture", amount)

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        with self.transaction() as conn:
            auth = self.lock_parent(conn, authorization_id, "authorize")
            if (replay := self.existing(conn, idempotency_key)) is not None:
                return replayed(replay, "void", authorization_id, None)
            remaining = self.remaining_authorized(conn, auth)
            if remaining <= 0:
                raise GatewayRefused(f"nothing left to void on {auth.id}: it is fully captured or already voided")
            return self._insert_child(conn, idempotency_key, auth, "void", remaining)

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        with self.transaction() as conn:
            cap = self.lock_parent(conn, capture_id, "capture")
            if (replay := self.existing(conn, idempotency_key)) is not None:
                return replayed(replay, "refund", capture_id, amount)
            if amount <= 0:
                raise GatewayRefused(f"cannot refund a non-positive amount ({amount})")
            remaining = cap.amount - self.children_total(conn, cap.id, "refund")
            if amount > remaining:
                raise GatewayRefused(f"refund of {amount} exceeds the {remaining} left to refund on {cap.id}")
            return self._insert_child(conn, idempotency_key, cap, "refund", amount)

    def _insert_child(
        self, conn: Connection, idempotency_key: str, parent: GatewayTransaction, kind: TransactionKind, amount: Decimal
    ) -> GatewayTransaction:
        row = child(parent, kind, amount)
        if self._inherited:
            columns = [self._table.c[name] for name in self._inherited]
            found = conn.execute(select(*columns).where(self._table.c.id == parent.id)).one()
            row.update(zip(self._inherited, found, strict=True))
        return self.insert_once(conn, idempotency_key, row)

    # -- the ledger's rows ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except OperationalError as err:
            # The ledger's database being down is, to the caller, the gateway being down.
            raise GatewayUnavailable(f"payment gateway unavailable: {err.orig}") from err

    def existing(self, conn: Connection, idempotency_key: str) -> GatewayTransaction | None:
        row = (
            conn.execute(select(self._table).where(self._table.c.idempotency_key == idempotency_key)).mappings().first()
        )
        return GatewayTransaction.model_validate(dict(row)) if row else None

    def lock_parent(self, conn: Connection, parent_id: str, kind: TransactionKind) -> GatewayTransaction:
        # The row lock serialises every movement against one parent, so concurrent captures or
        # refunds see each other's totals and can never overdraw it.
        row = (
            conn.execute(select(self._table).where(self._table.c.id == parent_id).with_for_update()).mappings().first()
        )
        if row is None or row["kind"] != kind or row["status"] != "succeeded":
            raise GatewayRefused(f"no successful {kind} transaction {parent_id}")
        return GatewayTransaction.model_validate(dict(row))

    def children_total(self, conn: Connection, parent_id: str, kind: TransactionKind) -> Decimal:
        total = conn.execute(
            select(func.coalesce(func.sum(self._table.c.amount), 0)).where(
                self._table.c.parent_id == parent_id, self._table.c.kind == kind, self._table.c.status == "succeeded"
            )
        ).scalar_one()
        return Decimal(total)

    def remaining_authorized(self, conn: Connection, auth: GatewayTransaction) -> Decimal:
        used = self.children_total(conn, auth.id, "capture") + self.children_total(conn, auth.id, "void")
        return auth.amount - used

    def insert_once(self, conn: Connection, idempotency_key: str, row: dict[str, Any]) -> GatewayTransaction:
        """Insert the transaction unless its key exists; a concurrent twin waits on the unique index and then
        finds the winner's row, so one key never writes two rows."""
        kind: TransactionKind = row["kind"]
        stmt = (
            insert(self._table)
            .values(
                id=f"{self._id_prefix}{_PREFIX[kind]}_{secrets.token_hex(12)}", idempotency_key=idempotency_key, **row
            )
            .on_conflict_do_nothing(index_elements=[self._table.c.idempotency_key])
            .returning(*self._table.c)
        )
        inserted = conn.execute(stmt).mappings().first()
        if inserted is not None:
            return GatewayTransaction.model_validate(dict(inserted))
        existing = self.existing(conn, idempotency_key)
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish once committed
            raise GatewayUnavailable("idempotency key conflict could not be resolved; retry")
        replay = replayed(existing, kind, row["parent_id"], row["amount"] if kind != "void" else None)
        if kind == "authorize" and replay.merchant_reference != row["merchant_reference"]:
            raise GatewayRefused(f"idempotency key {idempotency_key!r} was used for another merchant reference")
        return replay


def child(parent: GatewayTransaction, kind: TransactionKind, amount: Decimal) -> dict[str, Any]:
    return {
        "kind": kind,
        "merchant_reference": parent.merchant_reference,
        "parent_id": parent.id,
        "amount": amount,
        "currency": parent.currency,
        "status": "succeeded",
        "decline_reason": None,
    }


def replayed(
    tx: GatewayTransaction, kind: TransactionKind, parent_id: str | None, amount: Decimal | None
) -> GatewayTransaction:
    """The original transaction of a replayed key, or a refusal when the key is reused for something else."""
    if tx.kind != kind or tx.parent_id != parent_id or (amount is not None and tx.amount != amount):
        raise GatewayRefused(
            f"idempotency key {tx.idempotency_key!r} was already used for a {tx.kind} of {tx.amount}"
            + (f" on {tx.parent_id}" if tx.parent_id else "")
        )
    return tx
