"""B2B accounts as kept in PostgreSQL: saved and replaced with their members, their statement after orders,
invoices, credit memos and payments, and the payments the books refuse."""

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import to_json
from sqlalchemy import Engine, insert

from domain.accounts import Account
from domain.ids import account_payment_reference
from integrations.own_ledger import OwnLedger
from integrations.payment_port import GatewayTransaction
from store.accounts import AccountRefused, AccountStore, PaymentRefused
from store.document_tables import documents
from tests.db.test_own_ledger import all_at_once, key

pytestmark = pytest.mark.db


@pytest.fixture
def store(engine: Engine) -> AccountStore:
    return AccountStore(engine)


@pytest.fixture
def ledger(engine: Engine) -> OwnLedger:
    return OwnLedger(engine)


def account(**change: Any) -> Account:
    fields: dict[str, Any] = {
        "id": f"ACME-{uuid.uuid4().hex[:10]}",
        "name": "ACME 株式会社",
        "terms": "net30",
        "credit_limit": Decimal("100000"),
        "currency": "JPY",
        "approval_threshold": Decimal("50000"),
        "buyers": ["C-1", "C-2"],
        "approvers": ["C-9"],
    }
    return Account(**{**fields, **change})


def invoiced(ledger: OwnLedger, account_id: str, amount: str, captured: str | None = None) -> GatewayTransaction:
    """An order on the account, authorized for `amount` and captured (invoiced) for `captured`, or the whole."""
    order_id = f"W-{uuid.uuid4().hex[:12]}"
    auth = ledger.authorize(key(), order_id, account_payment_reference(account_id), Decimal(amount), "JPY")
    return ledger.capture(key(), auth.id, Decimal(captured or amount))


def issue_invoice(engine: Engine, order_id: str, total: str, issued_at: datetime, due: date | None = None) -> str:
    """The invoice document the projection writes for the order (store/order_documents.py), with its total and,
    when given, the due date it states."""
    series = f"T-{uuid.uuid4().hex[:12]}"
    number = f"{series}-000001"
    payment = {"method": "invoice", "due_date": due} if due else None
    snapshot = {"kind": "invoice", "order_id": order_id, "total": Decimal(total), "payment": payment}
    with engine.begin() as conn:
        conn.execute(
            insert(documents).values(
                number=number,
                series=series,
                sequence=1,
                kind="invoice",
                source_id=f"INV-{order_id}-F1",
                order_id=order_id,
                issued_at=issued_at,
                snapshot=json.loads(to_json(snapshot)),
            )
        )
    return number


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)


def test_a_new_account_is_saved_and_a_second_save_replaces_it_and_its_members(store: AccountStore) -> None:
    # given a new account, when it is saved, then it is new and reads back as saved
    first = account()
    assert store.save(first) is True
    assert store.get(first.id) == first

    # when it is saved again with other terms and members, then it is no longer new, and only those members remain
    second = account(
        id=first.id,
        name="ACME Holdings",
        terms="net60",
        credit_limit=Decimal("250000"),
        approval_threshold=None,
        buyers=["C-3"],
        approvers=[],
    )
    assert store.save(second) is False
    found = store.get(first.id)
    assert found is not None
    assert (found.name, found.terms, found.credit_limit, found.approval_threshold) == (
        "ACME Holdings",
        "net60",
        Decimal("250000"),
        None,
    )
    assert (found.buyers, found.approvers) == (["C-3"], [])


def test_an_account_with_orders_keeps_its_currency_and_one_without_may_change_it(
    store: AccountStore, ledger: OwnLedger
) -> None:
    # given an account with an order invoiced in yen, and another with no order yet
    used, fresh = account(), account()
    store.save(used)
    store.save(fresh)
    invoiced(ledger, used.id, "30000")
    # when the first is saved again in dollars, then it is refused and stays in yen, its books read as they were
    with pytest.raises(AccountRefused, match="currency"):
        store.save(used.model_copy(update={"currency": "USD", "name": "ACME Inc."}))
    kept = store.get(used.id)
    assert kept is not None and (kept.currency, kept.name) == ("JPY", used.name)
    # and saved again in yen with another limit, it is replaced
    assert store.save(used.model_copy(update={"credit_limit": Decimal("200000")})) is False
    # when the account with no order changes its currency, then it is saved
    assert store.save(fresh.model_copy(update={"currency": "USD"})) is False
    changed = store.get(fresh.id)
    assert changed is not None and changed.currency == "USD"


def test_an_unknown_account_has_no_statement(store: AccountStore) -> None:
    assert store.get("NOPE-unknown") is None
    assert store.statement("NOPE-unknown", date(2025, 1, 1)) is None


def test_the_statement_counts_what_is_held_invoiced_credited_and_paid(
    store: AccountStore, ledger: OwnLedger, engine: Engine
) -> None:
    # given an account with two orders: 40000 invoiced in full, and 30000 authorized of which 20000 is invoiced
    acct = account()
    store.save(acct)
    first = invoiced(ledger, acct.id, "40000")
    invoiced(ledger, acct.id, "30000", captured="20000")

    # and a credit memo of 5000 on the first and a payment of 10000
    ledger.refund(key(), first.id, Decimal("5000"))
    assert store.record_payment(acct.id, "BANK-1", Decimal("10000")) is True

    # when its statement is read
    statement = store.statement(acct.id, date(2025, 1, 1))

    # then the credit holds both authorizations less the credit memo and the payment
    assert statement is not None
    assert statement.credit_used == Decimal("55000")
    assert statement.credit_available == Decimal("45000")
    # and the account owes what was invoiced less what was credited and paid
    assert statement.receivable == Decimal("45000")
    assert statement.paid == Decimal("10000")
    assert (statement.id, statement.credit_limit, statement.buyers) == (acct.id, acct.credit_limit, ["C-1", "C-2"])


def test_a_limit_lowered_below_what_is_used_leaves_nothing_available_not_a_negative_amount(
    store: AccountStore, ledger: OwnLedger
) -> None:
    # given an account with 60000 of its 100000 credit used
    acct = account()
    store.save(acct)
    invoiced(ledger, acct.id, "60000")

    # when its limit is lowered to 50000
    store.save(acct.model_copy(update={"credit_limit": Decimal("50000")}))
    statement = store.statement(acct.id, date(2025, 1, 1))

    # then no credit is available, and what is used still shows it is 10000 over the limit
    assert statement is not None
    assert (statement.credit_limit, statement.credit_used) == (Decimal("50000"), Decimal("60000"))
    assert statement.credit_available == Decimal("0")


def test_invoices_are_listed_oldest_first_and_settled_oldest_first(
    store: AccountStore, ledger: OwnLedger, engine: Engine
) -> None:
    # given an account with two invoiced orders, the later one's invoice stating its own due date
    acct = account()
    store.save(acct)
    older = invoiced(ledger, acct.id, "40000")
    newer = invoiced(ledger, acct.id, "20000")
    # written newest first, so only their dates order them
    later = issue_invoice(engine, newer.merchant_reference, "20000", at("2025-02-01"), due=date(2025, 2, 15))
    earlier = issue_invoice(engine, older.merchant_reference, "40000", at("2025-01-10"))
    # and an invoice of an order not on the account
    issue_invoice(engine, f"W-{uuid.uuid4().hex[:12]}", "999", at("2025-01-01"))

    # and a credit memo of 5000 and a payment of 10000
    ledger.refund(key(), older.id, Decimal("5000"))
    store.record_payment(acct.id, "BANK-1", Decimal("10000"))

    # when the statement is read on 2025-02-11
    statement = store.statement(acct.id, date(2025, 2, 11))

    # then the account's invoices are listed oldest first, the 15000 settled off the oldest one
    assert statement is not None
    invoices = [(i.number, i.order_id, i.total, i.open, i.due_date, i.overdue) for i in statement.invoices]
    assert invoices == [
        (earlier, older.merchant_reference, Decimal("40000"), Decimal("25000"), date(2025, 2, 9), True),
        (later, newer.merchant_reference, Decimal("20000"), Decimal("20000"), date(2025, 2, 15), False),
    ]

    # when the rest of the oldest and part of the newer are paid, then the oldest is settled, the newer partly
    store.record_payment(acct.id, "BANK-2", Decimal("30000"))
    after = store.statement(acct.id, date(2025, 2, 16))
    assert after is not None
    assert [(i.open, i.overdue) for i in after.invoices] == [(Decimal("0"), False), (Decimal("15000"), True)]


def test_an_invoice_is_overdue_only_after_its_due_date(store: AccountStore, ledger: OwnLedger, engine: Engine) -> None:
    acct = account()
    store.save(acct)
    order = invoiced(ledger, acct.id, "1000")
    issue_invoice(engine, order.merchant_reference, "1000", at("2025-03-01"))

    def overdue(today: date) -> bool:
        statement = store.statement(acct.id, today)
        assert statement is not None
        [invoice] = statement.invoices
        assert invoice.due_date == date(2025, 3, 31)
        return invoice.overdue

    # net30 from 2025-03-01: due on 2025-03-31, overdue from the day after
    assert (overdue(date(2025, 3, 31)), overdue(date(2025, 4, 1))) == (False, True)


def test_a_payment_above_what_is_owed_or_a_reused_reference_is_refused(store: AccountStore, ledger: OwnLedger) -> None:
    # given an account owing 30000 on its invoices (and 10000 more authorized, not invoiced)
    acct = account()
    store.save(acct)
    invoiced(ledger, acct.id, "40000", captured="30000")

    # a payment of more than it owes is refused, naming what it owes
    with pytest.raises(PaymentRefused, match="above the 30000"):
        store.record_payment(acct.id, "BANK-1", Decimal("30001"))

    # a payment is taken once: the same reference and amount again records nothing more
    assert store.record_payment(acct.id, "BANK-1", Decimal("12000")) is True
    assert store.record_payment(acct.id, "BANK-1", Decimal("12000.00")) is False
    # and the same reference with another amount is refused
    with pytest.raises(PaymentRefused, match="already recorded"):
        store.record_payment(acct.id, "BANK-1", Decimal("500"))
    statement = store.statement(acct.id, date(2025, 1, 1))
    assert statement is not None
    assert (statement.paid, statement.receivable) == (Decimal("12000"), Decimal("18000"))


def test_two_payments_of_the_whole_balance_at_once_one_wins(store: AccountStore, ledger: OwnLedger) -> None:
    # given an account owing 30000
    acct = account()
    store.save(acct)
    invoiced(ledger, acct.id, "30000")

    # when two payments of the whole balance, with their own references, are recorded at once
    results = all_at_once(2, lambda i: store.record_payment(acct.id, f"BANK-{i}", Decimal("30000")))

    # then one is taken and the other refused, and the account has paid the balance once
    assert sorted(type(r).__name__ for r in results) == ["PaymentRefused", "bool"]
    assert True in results
    statement = store.statement(acct.id, date(2025, 1, 1))
    assert statement is not None
    assert (statement.paid, statement.receivable, statement.credit_used) == (Decimal("30000"), Decimal(0), Decimal(0))
