"""A card gateway simulator that keeps a real ledger in PostgreSQL (its port: integrations/payment_port.py).

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
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert

from integrations.ledger import Ledger
from integrations.payment_port import (
    AUTHORIZATION_TTL,
    CardDeclined,
    GatewayRefused,
    GatewayTransaction,
    GatewayUnavailable,
    PaymentError,
    PaymentGateway,
    TransactionKind,
    TransactionStatus,
)
from integrations.simulator_faults import FaultPlan
from store.ledger_tables import gateway_transactions as gt
from store.tables import gateway_payment_methods as pm

# the port's names, which callers have always imported from here
__all__ = [
    "AUTHORIZATION_TTL",
    "CardDeclined",
    "GatewayRefused",
    "GatewayTransaction",
    "GatewayUnavailable",
    "PaymentError",
    "PaymentGateway",
    "SimulatedGateway",
    "TransactionKind",
    "TransactionStatus",
]

T = TypeVar("T")
APPROVED_TOKEN = "tok_visa"
DECLINED_TOKEN = "tok_decline"
FLAKY_TOKEN = "tok_flaky"
PAYMENT_METHOD_PREFIX = "pm_"


class SimulatedGateway:
    def __init__(
        self,
        engine: Engine,
        latency_ms: int = 30,
        flaky_failures: int = 2,
        failure_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._ledger = Ledger(engine, gt)
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
        with self._ledger.transaction() as conn:
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
        with self._ledger.transaction() as conn:  # the saved card is read where the authorization is written
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
        return self._ledger.insert_once(conn, idempotency_key, row)

    def _capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        self._network()
        return self._ledger.capture(idempotency_key, authorization_id, amount)

    def _void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        self._network()
        return self._ledger.void(idempotency_key, authorization_id)

    def _refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        self._network()
        return self._ledger.refund(idempotency_key, capture_id, amount)

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        # captures, voids and refunds inherit their authorization's reference, so this indexed column finds them all
        self._network()
        with self._ledger.transaction() as conn:
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
