"""The payment gateway port and a simulator that keeps a real ledger in PostgreSQL.

The simulator behaves like a card gateway where it matters to the order workflow: idempotency keys
(replays return the original transaction, never a second charge), a ledger that refuses to capture
more than was authorized or refund more than was captured, declines, latency and transient outages.
With ``failure_rate`` it fails now and then like a real gateway: GatewayUnavailable before the write,
or after the commit (the answer is lost; the retry with the same idempotency key returns the original
transaction). Authorizations lapse after ``AUTHORIZATION_TTL`` (``expires_at``).

A card token is vaulted once, at checkout (``save_payment_method``): the gateway keeps it and answers with
a ``pm_`` reference, which is all the order carries from then on. ``authorize`` takes either.
"""

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError

from integrations.simulator_faults import FaultPlan
from store.tables import gateway_payment_methods as pm
from store.tables import gateway_transactions as gt

T = TypeVar("T")
# How long an authorization holds the funds before the issuer releases them.
AUTHORIZATION_TTL = timedelta(days=7)

TransactionKind = Literal["authorize", "capture", "void", "refund"]
TransactionStatus = Literal["succeeded", "declined"]


class GatewayTransaction(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    idempotency_key: str
    kind: TransactionKind
    merchant_reference: str
    parent_id: str | None
    amount: Decimal
    currency: str
    status: TransactionStatus
    decline_reason: str | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expires_at(self) -> datetime | None:
        """When the authorization lapses (created_at + AUTHORIZATION_TTL); other transactions do not expire."""
        return self.created_at + AUTHORIZATION_TTL if self.kind == "authorize" else None


class PaymentError(Exception):
    """Base of the gateway's errors."""


class CardDeclined(PaymentError):
    """The issuer said no. Permanent: retrying the same card will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayUnavailable(PaymentError):
    """The gateway could not be reached or answered with an outage. Transient: retry with the same key."""


class GatewayRefused(PaymentError):
    """The gateway's ledger refused the request (over-capture, over-refund, unknown parent, key reuse)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentGateway(Protocol):
    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        """Keep the card's token at the gateway; the answer (`pm_...`) pays from then on. One key, one method."""
        ...

    def authorize(
        self, idempotency_key: str, merchant_reference: str, token: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        """`token` is a saved payment method (`pm_...`), or a card token for orders placed before the vault."""
        ...

    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction: ...

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        """Release whatever of the authorization is not captured; the result's amount is what was voided."""
        ...

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction: ...

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        """Every transaction made with this merchant reference (the order id), oldest first."""
        ...


APPROVED_TOKEN = "tok_visa"
DECLINED_TOKEN = "tok_decline"
FLAKY_TOKEN = "tok_flaky"
PAYMENT_METHOD_PREFIX = "pm_"

_PREFIX: dict[TransactionKind, str] = {"authorize": "auth", "capture": "cap", "void": "void", "refund": "ref"}


class SimulatedGateway:
    def __init__(
        self,
        engine: Engine,
        latency_ms: int = 30,
        flaky_failures: int = 2,
        failure_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._engine = engine
        self._faults = FaultPlan(failure_rate, seed)
        self._latency_ms = latency_ms
        self._flaky_failures = flaky_failures
        # Outages of tok_flaky are counted per key in memory: a restart of the simulator "heals" the network.
        self._attempts: dict[str, int] = {}
        self._attempts_lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------------
    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        return self._faulty(lambda: self._save_payment_method(idempotency_key, customer_reference, token))

    def authorize(
        self, idempotency_key: str, merchant_reference: str, token: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        return self._faulty(lambda: self._authorize(idempotency_key, merchant_reference, token, amount, currency))

    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        return self._faulty(lambda: self._capture(idempotency_key, authorization_id, amount))

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        return self._faulty(lambda: self._void(idempotency_key, authorization_id))

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        return self._faulty(lambda: self._refund(idempotency_key, capture_id, amount))

    def _save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        self._network()
        stmt = (
            insert(pm)
            .values(
                id=f"{PAYMENT_METHOD_PREFIX}{secrets.token_hex(12)}",
                idempotency_key=idempotency_key,
                customer_reference=customer_reference,
                token=token,
            )
            .on_conflict_do_nothing(index_elements=[pm.c.idempotency_key])
        )
        with self._transaction() as conn:
            conn.execute(stmt)
            saved = conn.execute(select(pm).where(pm.c.idempotency_key == idempotency_key)).mappings().one()
        if saved["token"] != token or saved["customer_reference"] != customer_reference:
            raise GatewayRefused(f"idempotency key {idempotency_key!r} already saved another payment method")
        method_id: str = saved["id"]
        return method_id

    @staticmethod
    def _card_token(conn: Connection, token: str) -> str:
        if not token.startswith(PAYMENT_METHOD_PREFIX):
            return token
        card = conn.execute(select(pm.c.token).where(pm.c.id == token)).scalar_one_or_none()
        if card is None:
            raise GatewayRefused(f"no saved payment method {token}")
        return str(card)

    def _authorize(
        self, idempotency_key: str, merchant_reference: str, token: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        self._network()
        if amount < 0:
            raise GatewayRefused(f"cannot authorize a negative amount ({amount})")
        with self._transaction() as conn:  # the saved card is read where the authorization is written
            card = self._card_token(conn, token)
            tx = self._authorize_card(conn, idempotency_key, merchant_reference, card, amount, currency)
        if tx.status == "declined":  # raised once the decline is committed: a replay of the key finds it
            raise CardDeclined(tx.decline_reason or "declined")
        return tx

    def _authorize_card(
        self,
        conn: Connection,
        idempotency_key: str,
        merchant_reference: str,
        token: str,
        amount: Decimal,
        currency: str,
    ) -> GatewayTransaction:
        if token == FLAKY_TOKEN and self._still_flaky(idempotency_key):
            raise GatewayUnavailable("payment gateway timed out; retry with the same idempotency key")
        decline_reason = None
        if token == DECLINED_TOKEN:
            decline_reason = "card declined by the issuer"
        elif token not in (APPROVED_TOKEN, FLAKY_TOKEN):
            decline_reason = "unknown card token"
        row = {
            "kind": "authorize",
            "merchant_reference": merchant_reference,
            "parent_id": None,
            "amount": amount,
            "currency": currency,
            "status": "declined" if decline_reason else "succeeded",
            "decline_reason": decline_reason,
        }
        return self._insert_once(conn, idempotency_key, row)

    def _capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        self._network()
        with self._transaction() as conn:
            auth = self._lock_parent(conn, authorization_id, "authorize")
            if (replay := self._existing(conn, idempotency_key)) is not None:
                return _replayed(replay, "capture", authorization_id, amount)
            if amount <= 0:
                raise GatewayRefused(f"cannot capture a non-positive amount ({amount})")
            remaining = self._remaining_authorized(conn, auth)
            if amount > remaining:
                raise GatewayRefused(f"capture of {amount} exceeds the {remaining} still authorized on {auth.id}")
            return self._insert_once(conn, idempotency_key, _child(auth, "capture", amount))

    def _void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        self._network()
        with self._transaction() as conn:
            auth = self._lock_parent(conn, authorization_id, "authorize")
            if (replay := self._existing(conn, idempotency_key)) is not None:
                return _replayed(replay, "void", authorization_id, None)
            remaining = self._remaining_authorized(conn, auth)
            if remaining <= 0:
                raise GatewayRefused(f"nothing left to void on {auth.id}: it is fully captured or already voided")
            return self._insert_once(conn, idempotency_key, _child(auth, "void", remaining))

    def _refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        self._network()
        with self._transaction() as conn:
            cap = self._lock_parent(conn, capture_id, "capture")
            if (replay := self._existing(conn, idempotency_key)) is not None:
                return _replayed(replay, "refund", capture_id, amount)
            if amount <= 0:
                raise GatewayRefused(f"cannot refund a non-positive amount ({amount})")
            remaining = cap.amount - self._children_total(conn, cap.id, "refund")
            if amount > remaining:
                raise GatewayRefused(f"refund of {amount} exceeds the {remaining} left to refund on {cap.id}")
            return self._insert_once(conn, idempotency_key, _child(cap, "refund", amount))

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        # captures, voids and refunds inherit their authorization's reference, so this indexed column finds them all
        self._network()
        with self._transaction() as conn:
            rows = conn.execute(
                select(gt).where(gt.c.merchant_reference == merchant_reference).order_by(gt.c.created_at, gt.c.id)
            ).mappings()
            return [GatewayTransaction.model_validate(dict(r)) for r in rows]

    # -- simulation ------------------------------------------------------------------------------
    def _faulty(self, call: Callable[[], T]) -> T:
        """Run one write, failing it as the fault plan says: before it reaches the ledger, or after its commit."""
        fault = self._faults.gateway()
        if fault == "before":
            raise GatewayUnavailable("payment gateway unavailable (simulated outage); retry with the same key")
        try:
            result = call()
        except PaymentError as err:
            if fault == "after":
                raise GatewayUnavailable("payment gateway timed out (simulated); retry with the same key") from err
            raise
        if fault == "after":
            raise GatewayUnavailable("payment gateway timed out (simulated); retry with the same key")
        return result

    def _network(self) -> None:
        if self._latency_ms > 0:
            time.sleep(self._latency_ms / 1000 * random.uniform(0.5, 1.5))

    def _still_flaky(self, idempotency_key: str) -> bool:
        with self._attempts_lock:
            attempt = self._attempts.get(idempotency_key, 0) + 1
            self._attempts[idempotency_key] = attempt
        return attempt <= self._flaky_failures

    # -- ledger ----------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except OperationalError as err:
            # The ledger's database being down is, to the caller, the gateway being down.
            raise GatewayUnavailable(f"payment gateway unavailable: {err.orig}") from err

    def _existing(self, conn: Connection, idempotency_key: str) -> GatewayTransaction | None:
        row = conn.execute(select(gt).where(gt.c.idempotency_key == idempotency_key)).mappings().first()
        return GatewayTransaction.model_validate(dict(row)) if row else None

    def _lock_parent(self, conn: Connection, parent_id: str, kind: TransactionKind) -> GatewayTransaction:
        # The row lock serialises every movement against one parent, so concurrent captures or
        # refunds see each other's totals and can never overdraw it.
        row = conn.execute(select(gt).where(gt.c.id == parent_id).with_for_update()).mappings().first()
        if row is None or row["kind"] != kind or row["status"] != "succeeded":
            raise GatewayRefused(f"no successful {kind} transaction {parent_id}")
        return GatewayTransaction.model_validate(dict(row))

    def _children_total(self, conn: Connection, parent_id: str, kind: TransactionKind) -> Decimal:
        total = conn.execute(
            select(func.coalesce(func.sum(gt.c.amount), 0)).where(
                gt.c.parent_id == parent_id, gt.c.kind == kind, gt.c.status == "succeeded"
            )
        ).scalar_one()
        return Decimal(total)

    def _remaining_authorized(self, conn: Connection, auth: GatewayTransaction) -> Decimal:
        used = self._children_total(conn, auth.id, "capture") + self._children_total(conn, auth.id, "void")
        return auth.amount - used

    def _insert_once(self, conn: Connection, idempotency_key: str, row: dict[str, Any]) -> GatewayTransaction:
        """Insert the transaction unless its key exists; a concurrent twin waits on the unique index and then
        finds the winner's row, so one key never writes two rows."""
        kind: TransactionKind = row["kind"]
        stmt = (
            insert(gt)
            .values(id=f"{_PREFIX[kind]}_{secrets.token_hex(12)}", idempotency_key=idempotency_key, **row)
            .on_conflict_do_nothing(index_elements=[gt.c.idempotency_key])
            .returning(*gt.c)
        )
        inserted = conn.execute(stmt).mappings().first()
        if inserted is not None:
            return GatewayTransaction.model_validate(dict(inserted))
        existing = self._existing(conn, idempotency_key)
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish once committed
            raise GatewayUnavailable("idempotency key conflict could not be resolved; retry")
        replay = _replayed(existing, kind, row["parent_id"], row["amount"] if kind != "void" else None)
        if kind == "authorize" and replay.merchant_reference != row["merchant_reference"]:
            raise GatewayRefused(f"idempotency key {idempotency_key!r} was used for another merchant reference")
        return replay


def _child(parent: GatewayTransaction, kind: TransactionKind, amount: Decimal) -> dict[str, Any]:
    return {
        "kind": kind,
        "merchant_reference": parent.merchant_reference,
        "parent_id": parent.id,
        "amount": amount,
        "currency": parent.currency,
        "status": "succeeded",
        "decline_reason": None,
    }


def _replayed(
    tx: GatewayTransaction, kind: TransactionKind, parent_id: str | None, amount: Decimal | None
) -> GatewayTransaction:
    """The original transaction of a replayed key, or a refusal when the key is reused for something else."""
    if tx.kind != kind or tx.parent_id != parent_id or (amount is not None and tx.amount != amount):
        raise GatewayRefused(
            f"idempotency key {tx.idempotency_key!r} was already used for a {tx.kind} of {tx.amount}"
            + (f" on {tx.parent_id}" if tx.parent_id else "")
        )
    return tx
