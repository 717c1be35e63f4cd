"""The OMS's own payment ledger against a real PostgreSQL: credit limits held at the authorization (also under
concurrency), the ledger's rules and idempotency, and the router that sends each call to it or to the card gateway."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select

from domain.accounts import Account
from domain.ids import account_payment_reference, prepaid_payment_reference
from integrations.own_ledger import OwnLedger, PaymentRouter, credit_used
from integrations.payment_port import CardDeclined, GatewayRefused, GatewayTransaction
from integrations.payments import SimulatedGateway
from store.accounts import AccountStore
from store.ledger_tables import gateway_transactions, ledger_transactions

pytestmark = pytest.mark.db

T = TypeVar("T")
LIMIT = Decimal("100000")


@pytest.fixture
def ledger(engine: Engine) -> OwnLedger:
    return OwnLedger(engine)


@pytest.fixture
def account_id(engine: Engine) -> str:
    """A fresh JPY account with a credit limit of LIMIT."""
    return new_account(engine)


def new_account(engine: Engine, limit: Decimal = LIMIT, currency: str = "JPY") -> str:
    account_id = f"ACME-{uuid.uuid4().hex[:10]}"
    account = Account(id=account_id, name="ACME", terms="net30", credit_limit=limit, currency=currency, buyers=["C-1"])
    AccountStore(engine).save(account)
    return account_id


def ref() -> str:
    return f"W-{uuid.uuid4().hex[:12]}"


def key() -> str:
    return f"order-{uuid.uuid4().hex}:step"


def used(engine: Engine, account_id: str) -> Decimal:
    with engine.connect() as conn:
        return credit_used(conn, account_id)


def rows_with_key(engine: Engine, idempotency_key: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).where(ledger_transactions.c.idempotency_key == idempotency_key)
        return int(conn.execute(stmt).scalar_one())


def on_account(ledger: OwnLedger, account_id: str, amount: str, currency: str = "JPY") -> GatewayTransaction:
    return ledger.authorize(key(), ref(), account_payment_reference(account_id), Decimal(amount), currency)


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


def test_an_order_within_the_credit_limit_is_authorized_and_holds_credit(
    ledger: OwnLedger, engine: Engine, account_id: str
) -> None:
    # given an account with 100000 JPY of credit, when an order of 60000 is authorized on it
    reference = ref()
    tx = ledger.authorize(key(), reference, account_payment_reference(account_id), Decimal("60000"), "JPY")

    # then it succeeded in the own ledger, and the account's credit holds it
    assert tx.id.startswith("own_auth_")
    assert (tx.kind, tx.status, tx.amount, tx.currency) == ("authorize", "succeeded", Decimal("60000"), "JPY")
    assert ledger.transactions(reference) == [tx]
    assert used(engine, account_id) == Decimal("60000")


def test_an_order_above_what_is_left_is_declined_once_and_replayed_as_declined(
    ledger: OwnLedger, engine: Engine, account_id: str
) -> None:
    # given an account with 30000 of its 100000 left
    first = on_account(ledger, account_id, "70000")
    reference, k = ref(), key()

    # when an order of 40000 is authorized, then it is declined, naming the limit and what is left
    with pytest.raises(CardDeclined) as declined:
        ledger.authorize(k, reference, account_payment_reference(account_id), Decimal("40000"), "JPY")
    assert "credit limit" in declined.value.reason
    assert "JPY 30000 available" in declined.value.reason  # in the currency's units, as a person reads it

    # and once credit is given back, a replay of its key still answers the same decline, with no new row
    ledger.void(key(), first.id)
    with pytest.raises(CardDeclined) as replayed:
        ledger.authorize(k, reference, account_payment_reference(account_id), Decimal("40000"), "JPY")
    assert replayed.value.reason == declined.value.reason
    [tx] = ledger.transactions(reference)
    assert (tx.status, tx.decline_reason) == ("declined", declined.value.reason)
    assert rows_with_key(engine, k) == 1
    assert used(engine, account_id) == 0


def test_an_unknown_account_or_another_currency_is_declined(ledger: OwnLedger, account_id: str) -> None:
    # an account that does not exist: declined, and the decline kept (naming no account) for a replay of its key
    reference, k, unknown = ref(), key(), account_payment_reference(f"NOPE-{uuid.uuid4().hex[:8]}")
    for _ in range(2):
        with pytest.raises(CardDeclined, match="no account"):
            ledger.authorize(k, reference, unknown, Decimal("1"), "JPY")
    assert [t.status for t in ledger.transactions(reference)] == ["declined"]
    with pytest.raises(CardDeclined, match="kept in JPY, not USD"):
        on_account(ledger, account_id, "1", currency="USD")


def test_concurrent_orders_never_hold_more_than_the_credit_limit(
    ledger: OwnLedger, engine: Engine, account_id: str
) -> None:
    # when 8 orders, each 30% of the limit, are authorized on the account at once
    results = all_at_once(8, lambda _: on_account(ledger, account_id, "30000"))

    # then three fit, the others are declined, and the credit held is within the limit
    authorized = [r for r in results if isinstance(r, GatewayTransaction)]
    assert len(authorized) == 3
    assert all(isinstance(r, CardDeclined) for r in results if not isinstance(r, GatewayTransaction))
    assert used(engine, account_id) == Decimal("90000") <= LIMIT


def test_captures_stay_within_the_authorization_and_replay_the_original(ledger: OwnLedger, account_id: str) -> None:
    auth = on_account(ledger, account_id, "1000")

    # a capture above the authorization is refused, and nothing is written
    with pytest.raises(GatewayRefused, match="exceeds"):
        ledger.capture(key(), auth.id, Decimal("1000.01"))
    assert [t.kind for t in ledger.transactions(auth.merchant_reference)] == ["authorize"]

    # a partial capture, replayed with its key, answers the original; another amount under that key is refused
    k = key()
    cap = ledger.capture(k, auth.id, Decimal("600"))
    assert cap.id.startswith("own_cap_") and cap.parent_id == auth.id
    assert ledger.capture(k, auth.id, Decimal("600")) == cap
    with pytest.raises(GatewayRefused, match="already used"):
        ledger.capture(k, auth.id, Decimal("500"))

    # what is left can be captured, then nothing more
    ledger.capture(key(), auth.id, Decimal("400"))
    with pytest.raises(GatewayRefused):
        ledger.capture(key(), auth.id, Decimal("1"))


def test_a_void_releases_what_is_not_captured_once(ledger: OwnLedger, account_id: str) -> None:
    auth = on_account(ledger, account_id, "1000")
    ledger.capture(key(), auth.id, Decimal("300"))

    # when what is left is voided, then the void is of that; its key replays it; a second void is refused
    k = key()
    void = ledger.void(k, auth.id)
    assert (void.kind, void.amount, void.parent_id) == ("void", Decimal("700"), auth.id)
    assert ledger.void(k, auth.id) == void
    with pytest.raises(GatewayRefused, match="nothing left to void"):
        ledger.void(key(), auth.id)
    with pytest.raises(GatewayRefused):
        ledger.capture(key(), auth.id, Decimal("1"))


def test_refunds_stay_within_the_capture_and_replay_the_original(ledger: OwnLedger, account_id: str) -> None:
    auth = on_account(ledger, account_id, "1000")
    cap = ledger.capture(key(), auth.id, Decimal("800"))

    # a refund above the capture is refused; one within it is taken and replayed by its key
    with pytest.raises(GatewayRefused, match="exceeds"):
        ledger.refund(key(), cap.id, Decimal("800.01"))
    k = key()
    refund = ledger.refund(k, cap.id, Decimal("500"))
    assert refund.id.startswith("own_ref_") and (refund.parent_id, refund.amount) == (cap.id, Decimal("500"))
    assert ledger.refund(k, cap.id, Decimal("500")) == refund

    # then only what is left of the capture can be refunded, and an authorization is no capture
    with pytest.raises(GatewayRefused, match="exceeds the 300"):
        ledger.refund(key(), cap.id, Decimal("301"))
    with pytest.raises(GatewayRefused, match="no successful capture"):
        ledger.refund(key(), auth.id, Decimal("1"))


def test_a_void_gives_credit_back_and_an_invoice_holds_it_until_paid(
    ledger: OwnLedger, engine: Engine, account_id: str
) -> None:
    # given two orders on the account: one voided, one captured (invoiced) in full
    voided = on_account(ledger, account_id, "20000")
    invoiced = on_account(ledger, account_id, "50000")
    ledger.void(key(), voided.id)
    cap = ledger.capture(key(), invoiced.id, Decimal("50000"))

    # then the void gave its credit back and the invoice still holds its own
    assert used(engine, account_id) == Decimal("50000")

    # when a credit memo and a payment come in, then each gives back that much
    ledger.refund(key(), cap.id, Decimal("10000"))
    assert used(engine, account_id) == Decimal("40000")
    AccountStore(engine).record_payment(account_id, f"BANK-{uuid.uuid4().hex[:8]}", Decimal("40000"))
    assert used(engine, account_id) == 0


def test_a_prepaid_reference_authorizes_without_an_account(ledger: OwnLedger, engine: Engine) -> None:
    # given an order a platform took the money for, when its prepayment is authorized and captured
    reference = ref()
    tx = ledger.authorize(key(), reference, prepaid_payment_reference("shopify", "5001"), Decimal("12000"), "JPY")
    cap = ledger.capture(key(), tx.id, Decimal("12000"))

    # then both succeeded with no account's credit involved
    assert (tx.status, cap.status) == ("succeeded", "succeeded")
    with engine.connect() as conn:
        accounts = conn.execute(
            select(ledger_transactions.c.account_id).where(ledger_transactions.c.merchant_reference == reference)
        ).all()
    assert [a for (a,) in accounts] == [None, None]


def test_the_router_sends_own_references_to_the_ledger_and_cards_to_the_gateway(
    ledger: OwnLedger, engine: Engine, account_id: str
) -> None:
    cards = SimulatedGateway(engine, latency_ms=0)
    router = PaymentRouter(cards, ledger)
    reference = ref()

    # when one order's card, account and prepaid payments go through the router, each with a capture and refund
    card = router.authorize(key(), reference, "tok_visa", Decimal("1000"), "JPY")
    own = router.authorize(key(), reference, account_payment_reference(account_id), Decimal("2000"), "JPY")
    prepaid = router.authorize(key(), reference, prepaid_payment_reference("sfcc", "00042"), Decimal("3000"), "JPY")
    card_cap = router.capture(key(), card.id, Decimal("1000"))
    own_cap = router.capture(key(), own.id, Decimal("2000"))
    card_ref = router.refund(key(), card_cap.id, Decimal("100"))
    own_ref = router.refund(key(), own_cap.id, Decimal("200"))
    own_void = router.void(key(), prepaid.id)

    # then the card's movements are the gateway's, the others the own ledger's
    card_side = [card, card_cap, card_ref]
    own_side = [own, prepaid, own_cap, own_ref, own_void]
    assert [t.id for t in cards.transactions(reference)] == [t.id for t in card_side]
    assert [t.id for t in ledger.transactions(reference)] == [t.id for t in own_side]
    assert all(t.id.startswith("own_") for t in own_side) and not any(t.id.startswith("own_") for t in card_side)
    with engine.connect() as conn:
        on_cards = conn.execute(
            select(func.count()).where(gateway_transactions.c.merchant_reference == reference)
        ).scalar_one()
    assert on_cards == 3

    # and the router lists both ledgers together, oldest first
    in_order = [card, own, prepaid, card_cap, own_cap, card_ref, own_ref, own_void]
    assert [t.id for t in router.transactions(reference)] == [t.id for t in in_order]


def test_the_router_sends_a_card_transaction_id_to_the_gateway(ledger: OwnLedger, engine: Engine) -> None:
    # given a card authorization, when the own ledger is asked to capture it, then it knows no such authorization
    router = PaymentRouter(SimulatedGateway(engine, latency_ms=0), ledger)
    card = router.authorize(key(), ref(), "tok_visa", Decimal("1000"), "JPY")
    with pytest.raises(GatewayRefused, match="no successful authorize"):
        ledger.capture(key(), card.id, Decimal("1"))
    # while through the router the gateway captures it
    assert router.capture(key(), card.id, Decimal("1000")).id.startswith("cap_")
