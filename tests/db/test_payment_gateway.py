"""The simulated payment gateway against a real PostgreSQL: ledger rules, idempotency, concurrency."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select

from integrations.payments import (
    AUTHORIZATION_TTL,
    CardDeclined,
    GatewayRefused,
    GatewayTransaction,
    GatewayUnavailable,
    SimulatedGateway,
)
from store.ledger_tables import gateway_transactions

pytestmark = pytest.mark.db

T = TypeVar("T")


@pytest.fixture
def gateway(engine: Engine) -> SimulatedGateway:
    return SimulatedGateway(engine, latency_ms=0)


def ref() -> str:
    return f"W-{uuid.uuid4().hex[:12]}"


def key() -> str:
    return f"order-{uuid.uuid4().hex}:step"


def rows_with_key(engine: Engine, idempotency_key: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).where(gateway_transactions.c.idempotency_key == idempotency_key)
        return int(conn.execute(stmt).scalar_one())


def authorize(gateway: SimulatedGateway, amount: str, token: str = "tok_visa") -> GatewayTransaction:
    return gateway.authorize(key(), ref(), token, Decimal(amount), "JPY")


def all_at_once(count: int, call: Callable[[int], T]) -> list[T | Exception]:
    """Run `call(i)` on `count` threads released together, collecting results or exceptions."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T | Exception:
        barrier.wait()
        try:
            return call(i)
        except Exception as err:
            return err

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_visa_token_is_approved(gateway: SimulatedGateway) -> None:
    # given a merchant reference, when tok_visa authorizes 24980 JPY
    reference = ref()
    tx = gateway.authorize(key(), reference, "tok_visa", Decimal("24980"), "JPY")

    # then the authorization succeeded and is in the merchant's ledger
    assert tx.id.startswith("auth_")
    assert (tx.kind, tx.status, tx.amount, tx.currency) == ("authorize", "succeeded", Decimal("24980"), "JPY")
    assert gateway.transactions(reference) == [tx]


def test_decline_is_recorded_and_replayed_without_a_new_row(gateway: SimulatedGateway, engine: Engine) -> None:
    reference, k = ref(), key()

    # when tok_decline authorizes, twice with the same key
    with pytest.raises(CardDeclined) as first:
        gateway.authorize(k, reference, "tok_decline", Decimal("1000"), "JPY")
    with pytest.raises(CardDeclined) as second:
        gateway.authorize(k, reference, "tok_decline", Decimal("1000"), "JPY")

    # then both raise the same reason and one declined row is recorded
    assert first.value.reason == second.value.reason
    [tx] = gateway.transactions(reference)
    assert (tx.status, tx.decline_reason) == ("declined", first.value.reason)
    assert rows_with_key(engine, k) == 1


def test_unknown_token_is_declined(gateway: SimulatedGateway) -> None:
    with pytest.raises(CardDeclined, match="unknown card token"):
        authorize(gateway, "100", token="tok_mystery")


def test_flaky_token_fails_twice_then_approves_with_one_row(gateway: SimulatedGateway, engine: Engine) -> None:
    reference, k = ref(), key()

    # given tok_flaky, when the caller retries with the same key
    for _ in range(2):
        with pytest.raises(GatewayUnavailable):
            gateway.authorize(k, reference, "tok_flaky", Decimal("500"), "JPY")
    tx = gateway.authorize(k, reference, "tok_flaky", Decimal("500"), "JPY")

    # then the third attempt is approved and only it left a row
    assert tx.status == "succeeded"
    assert rows_with_key(engine, k) == 1


def test_same_key_returns_the_original_transaction(gateway: SimulatedGateway, engine: Engine) -> None:
    reference, k = ref(), key()
    first = gateway.authorize(k, reference, "tok_visa", Decimal("3000"), "JPY")

    # when the same authorize is replayed
    again = gateway.authorize(k, reference, "tok_visa", Decimal("3000"), "JPY")

    # then it is the same transaction and nothing new was written
    assert again == first
    assert rows_with_key(engine, k) == 1


def test_same_key_with_another_amount_or_parent_is_refused(gateway: SimulatedGateway) -> None:
    reference, k = ref(), key()
    auth = gateway.authorize(k, reference, "tok_visa", Decimal("3000"), "JPY")
    with pytest.raises(GatewayRefused):
        gateway.authorize(k, reference, "tok_visa", Decimal("3001"), "JPY")

    # a capture key reused against another authorization is refused too
    other = authorize(gateway, "3000")
    capture_key = key()
    gateway.capture(capture_key, auth.id, Decimal("100"))
    with pytest.raises(GatewayRefused):
        gateway.capture(capture_key, other.id, Decimal("100"))
    assert sum(t.amount for t in gateway.transactions(other.merchant_reference) if t.kind == "capture") == 0


def test_concurrent_authorize_with_one_key_writes_one_row(gateway: SimulatedGateway, engine: Engine) -> None:
    reference, k = ref(), key()

    # when 8 threads authorize with the same key at once
    results = all_at_once(8, lambda _: gateway.authorize(k, reference, "tok_visa", Decimal("777"), "JPY"))

    # then every caller gets the same transaction and one row exists
    assert all(isinstance(r, GatewayTransaction) for r in results)
    assert len({r.id for r in results if isinstance(r, GatewayTransaction)}) == 1
    assert rows_with_key(engine, k) == 1


def test_capture_above_the_authorization_is_refused(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")
    with pytest.raises(GatewayRefused, match="exceeds"):
        gateway.capture(key(), auth.id, Decimal("1000.01"))
    assert [t.kind for t in gateway.transactions(auth.merchant_reference)] == ["authorize"]


def test_capture_of_an_unknown_authorization_is_refused(gateway: SimulatedGateway) -> None:
    with pytest.raises(GatewayRefused):
        gateway.capture(key(), "auth_does_not_exist", Decimal("1"))


def test_partial_captures_up_to_the_authorization_then_refused(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")

    # when two captures use up the authorization
    first = gateway.capture(key(), auth.id, Decimal("600"))
    second = gateway.capture(key(), auth.id, Decimal("400"))

    # then both succeed against it, and a third capture of anything is refused
    assert first.id.startswith("cap_")
    assert (first.parent_id, second.parent_id) == (auth.id, auth.id)
    assert first.amount + second.amount == auth.amount
    with pytest.raises(GatewayRefused):
        gateway.capture(key(), auth.id, Decimal("1"))


def test_concurrent_captures_never_exceed_the_authorization(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "100")

    # when 8 threads each capture 30 of 100 at once, with distinct keys
    results = all_at_once(8, lambda _: gateway.capture(key(), auth.id, Decimal("30")))

    # then exactly three fit and the rest are refused by the ledger
    captured = [r for r in results if isinstance(r, GatewayTransaction)]
    assert len(captured) == 3
    assert all(isinstance(r, GatewayRefused) for r in results if not isinstance(r, GatewayTransaction))
    ledger = gateway.transactions(auth.merchant_reference)
    assert sum(t.amount for t in ledger if t.kind == "capture" and t.status == "succeeded") <= auth.amount


def test_refund_above_what_was_captured_is_refused(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")
    cap = gateway.capture(key(), auth.id, Decimal("800"))

    # a refund of part of the capture is accepted; one above what is left is refused
    refund = gateway.refund(key(), cap.id, Decimal("500"))
    assert (refund.kind, refund.parent_id, refund.amount) == ("refund", cap.id, Decimal("500"))
    assert refund.id.startswith("ref_")
    with pytest.raises(GatewayRefused, match="exceeds"):
        gateway.refund(key(), cap.id, Decimal("300.01"))
    assert gateway.refund(key(), cap.id, Decimal("300")).amount == Decimal("300")


def test_void_after_a_partial_capture_voids_the_rest(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")
    gateway.capture(key(), auth.id, Decimal("350"))
    void_key = key()

    # when the authorization is voided
    void = gateway.void(void_key, auth.id)

    # then the uncaptured 650 is voided, a replay returns the same void, and nothing is left to capture
    assert void.id.startswith("void_")
    assert (void.kind, void.parent_id, void.amount) == ("void", auth.id, Decimal("650"))
    assert gateway.void(void_key, auth.id) == void
    with pytest.raises(GatewayRefused):
        gateway.capture(key(), auth.id, Decimal("1"))
    with pytest.raises(GatewayRefused, match="nothing left to void"):
        gateway.void(key(), auth.id)


def test_void_of_a_fully_captured_authorization_is_refused(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")
    gateway.capture(key(), auth.id, Decimal("1000"))
    with pytest.raises(GatewayRefused):
        gateway.void(key(), auth.id)


# -- expiry and injected failures -----------------------------------------------------------------


def test_an_authorization_says_when_it_expires_and_a_capture_does_not(gateway: SimulatedGateway) -> None:
    auth = authorize(gateway, "1000")
    cap = gateway.capture(key(), auth.id, Decimal("400"))

    assert auth.expires_at == auth.created_at + AUTHORIZATION_TTL == auth.created_at + timedelta(days=7)
    assert cap.expires_at is None
    # and it travels with the transaction as the payments API shows it
    assert auth.model_dump()["expires_at"] == auth.expires_at


def test_at_rate_one_every_call_fails_before_the_write_or_after_the_commit(engine: Engine) -> None:
    # given a gateway that fails every call (a fixed seed chooses how)
    failing = SimulatedGateway(engine, latency_ms=0, failure_rate=1.0, seed=5)
    keys = [key() for _ in range(12)]
    reference = ref()

    # when authorizations are attempted, then each one raises GatewayUnavailable
    for k in keys:
        with pytest.raises(GatewayUnavailable):
            failing.authorize(k, reference, "tok_visa", Decimal("500"), "JPY")
    # and some never reached the ledger, while others were written and only their answer was lost
    written = {k for k in keys if rows_with_key(engine, k) == 1}
    assert 0 < len(written) < len(keys)

    # when a healthy gateway retries each with the same key
    healthy = SimulatedGateway(engine, latency_ms=0)
    retried = {k: healthy.authorize(k, reference, "tok_visa", Decimal("500"), "JPY") for k in keys}

    # then a lost answer's retry returns the original transaction, and no key has two rows
    originals = {tx.idempotency_key: tx for tx in healthy.transactions(reference)}
    assert all(retried[k] == originals[k] for k in keys)
    assert all(rows_with_key(engine, k) == 1 for k in keys)


def test_a_decline_whose_answer_was_lost_is_a_decline_on_the_retry(engine: Engine) -> None:
    failing = SimulatedGateway(engine, latency_ms=0, failure_rate=1.0, seed=5)
    healthy = SimulatedGateway(engine, latency_ms=0)
    keys, reference = [key() for _ in range(6)], ref()
    for k in keys:
        with pytest.raises(GatewayUnavailable):
            failing.authorize(k, reference, "tok_decline", Decimal("500"), "JPY")
    for k in keys:
        with pytest.raises(CardDeclined):
            healthy.authorize(k, reference, "tok_decline", Decimal("500"), "JPY")
    assert all(rows_with_key(engine, k) == 1 for k in keys)


def test_at_rate_one_fifth_retries_with_the_same_keys_leave_an_exact_ledger(engine: Engine) -> None:
    # given a gateway failing a fifth of its calls, and a caller that retries each step with its key
    gateway = SimulatedGateway(engine, latency_ms=0, failure_rate=0.2, seed=9)
    failures = 0

    def until_answered(call: Callable[..., GatewayTransaction], *args: object) -> GatewayTransaction:
        nonlocal failures
        for _ in range(50):
            try:
                return call(*args)
            except GatewayUnavailable:
                failures += 1
        raise AssertionError("the gateway never answered")

    # when ten orders are authorized, captured in two parts, refunded in part and voided
    for _ in range(10):
        reference, keys = ref(), [key() for _ in range(5)]
        auth = until_answered(gateway.authorize, keys[0], reference, "tok_visa", Decimal("1000"), "JPY")
        first = until_answered(gateway.capture, keys[1], auth.id, Decimal("300"))
        until_answered(gateway.capture, keys[2], auth.id, Decimal("200"))
        until_answered(gateway.refund, keys[3], first.id, Decimal("100"))
        void = until_answered(gateway.void, keys[4], auth.id)

        # then each step is in the ledger once, with the amounts asked for, whatever failed on the way
        ledger = gateway.transactions(reference)
        assert sorted(t.idempotency_key for t in ledger) == sorted(keys)
        assert [t.amount for t in ledger if t.kind == "capture"] == [Decimal("300"), Decimal("200")]
        assert void.amount == Decimal("500")
    assert failures > 0


# -- the card vault ------------------------------------------------------------------------------


def test_a_saved_card_pays_by_its_reference(gateway: SimulatedGateway) -> None:
    # given a card token saved at checkout
    method = gateway.save_payment_method(key(), "C-1", "tok_visa")
    # when the order authorizes with the reference
    auth = gateway.authorize(key(), ref(), method, Decimal(500), "JPY")
    # then the gateway charges the card behind it
    assert method.startswith("pm_") and "tok_visa" not in method
    assert auth.status == "succeeded" and auth.amount == Decimal(500)


def test_a_saved_declined_card_is_still_declined(gateway: SimulatedGateway) -> None:
    # given a card the issuer refuses, saved at checkout
    method = gateway.save_payment_method(key(), "C-1", "tok_decline")
    # when the order authorizes with it, then the issuer's answer comes back as for the token
    with pytest.raises(CardDeclined):
        gateway.authorize(key(), ref(), method, Decimal(500), "JPY")


def test_saving_a_card_again_with_its_key_gives_the_same_reference(gateway: SimulatedGateway) -> None:
    # given a card saved once under a key
    saved_with = key()
    first = gateway.save_payment_method(saved_with, "C-1", "tok_visa")
    # when a repeated checkout saves it again, then it is the same payment method
    assert gateway.save_payment_method(saved_with, "C-1", "tok_visa") == first
    # and the key cannot be taken for another card
    with pytest.raises(GatewayRefused, match="another payment method"):
        gateway.save_payment_method(saved_with, "C-1", "tok_decline")


def test_an_unknown_payment_method_is_refused_and_nothing_is_written(gateway: SimulatedGateway, engine: Engine) -> None:
    # given a reference the gateway never gave out
    attempt = key()
    # when an order authorizes with it, then the gateway refuses, and the ledger has no row for it
    with pytest.raises(GatewayRefused, match="no saved payment method"):
        gateway.authorize(attempt, ref(), "pm_000000000000000000000000", Decimal(500), "JPY")
    assert rows_with_key(engine, attempt) == 0
