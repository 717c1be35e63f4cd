"""The accounts routes: operators create, replace and record payments; operators and agents read statements;
each refusal answers its own code, and the OpenAPI document declares them all."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.accounts import Account
from starter.api import accounts
from starter.api.app import CALLER_ERRORS, api_document
from starter.api.auth import parse_tokens
from store.accounts import AccountRefused, AccountStatement, OpenInvoice, PaymentRefused
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_CUSTOMER_1,
    AS_OPERATOR,
    AS_PARTNER,
    AS_STOREFRONT,
    TOKENS,
)

BODY: dict[str, Any] = {
    "id": "ACME",
    "name": "ACME 株式会社",
    "terms": "net30",
    "credit_limit": "100000",
    "currency": "JPY",
    "approval_threshold": "50000",
    "buyers": ["C-1"],
    "approvers": ["C-9"],
}


@dataclass
class FakeAccounts:
    """AccountStore's answers, with what the account owes set by the test."""

    saved: dict[str, Account] = field(default_factory=dict)
    payments: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    owed: Decimal = Decimal("30000")
    days_asked: list[date] = field(default_factory=list)

    def save(self, account: Account) -> bool:
        new = account.id not in self.saved
        if not new and self.saved[account.id].currency != account.currency and self.owed:
            raise AccountRefused(f"account {account.id} has orders in {self.saved[account.id].currency}: its currency")
        self.saved[account.id] = account
        return new

    def get(self, account_id: str) -> Account | None:
        account = self.saved.get(account_id)
        # as the money columns give it back: with four decimals, whatever the currency
        return account.model_copy(update={"credit_limit": kept(account.credit_limit)}) if account else None

    def statement(self, account_id: str, today: date) -> AccountStatement | None:
        self.days_asked.append(today)
        account = self.get(account_id)
        if account is None:
            return None
        paid = kept(sum((a for (owner, _), a in self.payments.items() if owner == account_id), Decimal(0)))
        used = self.owed - paid
        invoice = OpenInvoice(
            number="INV-2025-000001",
            order_id="W-1",
            issued_at=datetime(2025, 1, 10, tzinfo=UTC),
            due_date=date(2025, 2, 9),
            total=self.owed,
            open=self.owed - paid,
            overdue=True,
        )
        return AccountStatement(
            **account.model_dump(),
            credit_used=used,
            credit_available=account.credit_limit - used,
            receivable=self.owed - paid,
            paid=paid,
            invoices=[invoice],
        )

    def record_payment(self, account_id: str, reference: str, amount: Decimal) -> bool:
        found = self.payments.get((account_id, reference))
        if found is not None:
            if found != amount:
                raise PaymentRefused(f"payment {reference} was already recorded for {found}")
            return False
        paid = sum((a for (owner, _), a in self.payments.items() if owner == account_id), Decimal(0))
        if amount > self.owed - paid:
            raise PaymentRefused(f"a payment of {amount} is above the {self.owed - paid} the account owes")
        self.payments[(account_id, reference)] = amount
        return True


def kept(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.0001"))


@dataclass
class Services:
    accounts: FakeAccounts


@pytest.fixture
def store() -> FakeAccounts:
    return FakeAccounts()


def app_with(store: FakeAccounts) -> FastAPI:
    # registered as starter/api/app.py registers its routers
    app = FastAPI()
    app.include_router(accounts.router, responses=CALLER_ERRORS)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = Services(accounts=store)
    return app


@pytest.fixture
def http(store: FakeAccounts) -> Iterator[TestClient]:
    with TestClient(app_with(store)) as client:
        yield client


@pytest.fixture
def acme(http: TestClient, store: FakeAccounts) -> Account:
    assert http.post("/v1/accounts", json=BODY, headers=AS_OPERATOR).status_code == 201
    return store.saved["ACME"]


def pay(http: TestClient, amount: str, reference: str = "BANK-1", account_id: str = "ACME") -> Any:
    body = {"reference": reference, "amount": amount}
    return http.post(f"/v1/accounts/{account_id}/payments", json=body, headers=AS_OPERATOR)


def test_an_operator_creates_an_account_and_gets_its_statement(http: TestClient, store: FakeAccounts) -> None:
    # when an operator posts a new account
    answer = http.post("/v1/accounts", json=BODY, headers=AS_OPERATOR)

    # then it is created (201) as given, and its statement answered
    assert answer.status_code == 201, answer.text
    assert store.saved["ACME"] == Account.model_validate(BODY)
    got = answer.json()
    assert {k: got[k] for k in BODY} == BODY
    # in the currency's own minor units, though the money columns keep four decimals
    assert (got["credit_used"], got["credit_available"], got["receivable"]) == ("30000", "70000", "30000")
    assert [(i["total"], i["open"]) for i in got["invoices"]] == [("30000", "30000")]


def test_posting_an_existing_account_replaces_it_with_200(http: TestClient, store: FakeAccounts, acme: Account) -> None:
    # given an account, when it is posted again with other terms, limit and members
    body = {**BODY, "terms": "net60", "credit_limit": "200000", "buyers": ["C-2", "C-3"], "approvers": ["C-1"]}
    answer = http.post("/v1/accounts", json=body, headers=AS_OPERATOR)

    # then it is replaced (200), and the statement says so
    assert answer.status_code == 200, answer.text
    assert store.saved["ACME"] == Account.model_validate(body)
    assert (answer.json()["terms"], answer.json()["buyers"]) == ("net60", ["C-2", "C-3"])


def test_an_account_the_books_refuse_to_change_is_409_with_the_reason(
    http: TestClient, store: FakeAccounts, acme: Account
) -> None:
    # given an account with orders on its books, when an operator posts it in another currency
    answer = http.post("/v1/accounts", json={**BODY, "currency": "USD"}, headers=AS_OPERATOR)
    # then it is refused with the reason, and the account is as it was
    assert answer.status_code == 409, answer.text
    assert "currency" in answer.json()["detail"]
    assert store.saved["ACME"].currency == "JPY"


@pytest.mark.parametrize(
    "change",
    [
        {"terms": "monthly"},
        {"credit_limit": "-1"},
        {"credit_limit": "100000.5"},
        {"currency": "XYZ"},
        {"approvers": []},
        {"buyers": []},
        {"buyers": ["C-1", "C-1"]},
        {"id": "no spaces"},
        {"name": "ACME\x00"},
        {"buyers": ["C-\x00"]},
        {"discount": "10"},
    ],
)
def test_an_invalid_account_is_refused_and_nothing_saved(
    http: TestClient, store: FakeAccounts, change: dict[str, Any]
) -> None:
    # given a body with one field wrong (NUL: PostgreSQL cannot keep it), when it is posted, then it is a 422
    answer = http.post("/v1/accounts", json={**BODY, **change}, headers=AS_OPERATOR)
    assert answer.status_code == 422, answer.text
    assert store.saved == {}


@pytest.mark.parametrize("headers", [AS_AGENT, AS_STOREFRONT, AS_CUSTOMER_1, AS_PARTNER])
def test_only_an_operator_may_create_an_account(http: TestClient, store: FakeAccounts, headers: dict[str, str]) -> None:
    answer = http.post("/v1/accounts", json=BODY, headers=headers)
    assert answer.status_code == 403, answer.text
    assert store.saved == {}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nobody"}])
def test_every_accounts_route_needs_a_known_token(http: TestClient, acme: Account, headers: dict[str, str]) -> None:
    assert http.post("/v1/accounts", json=BODY, headers=headers).status_code == 401
    assert http.get("/v1/accounts/ACME", headers=headers).status_code == 401
    payment = {"reference": "BANK-1", "amount": "1"}
    assert http.post("/v1/accounts/ACME/payments", json=payment, headers=headers).status_code == 401


@pytest.mark.parametrize("headers", [AS_OPERATOR, AS_AGENT])
def test_an_operator_or_an_agent_reads_the_statement_as_of_today_utc(
    http: TestClient, store: FakeAccounts, acme: Account, headers: dict[str, str]
) -> None:
    store.days_asked.clear()
    answer = http.get("/v1/accounts/ACME", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == "ACME"
    assert store.days_asked == [datetime.now(UTC).date()]


@pytest.mark.parametrize("headers", [AS_STOREFRONT, AS_CUSTOMER_1, AS_PARTNER])
def test_other_roles_may_not_read_a_statement(http: TestClient, acme: Account, headers: dict[str, str]) -> None:
    assert http.get("/v1/accounts/ACME", headers=headers).status_code == 403


def test_an_unknown_account_is_404_and_an_impossible_id_422(http: TestClient) -> None:
    assert http.get("/v1/accounts/NOPE", headers=AS_OPERATOR).status_code == 404
    assert http.get("/v1/accounts/-bad%00id", headers=AS_OPERATOR).status_code == 422
    assert pay(http, "1", account_id="NOPE").status_code == 404


def test_a_payment_is_recorded_once_per_reference(http: TestClient, store: FakeAccounts, acme: Account) -> None:
    # when an operator records a payment, then it is new (201) and the statement shows it paid
    first = pay(http, "10000")
    assert first.status_code == 201, first.text
    assert (first.json()["paid"], first.json()["credit_available"]) == ("10000", "80000")

    # when the same payment is recorded again (in another form of the same amount), then nothing more is (200)
    again = pay(http, "10000.00")
    assert again.status_code == 200, again.text
    assert store.payments == {("ACME", "BANK-1"): Decimal("10000")}
    assert again.json()["paid"] == "10000"


def test_a_payment_the_books_refuse_is_409_with_the_reason(
    http: TestClient, store: FakeAccounts, acme: Account
) -> None:
    # above what the account owes
    above = pay(http, "30001")
    assert above.status_code == 409, above.text
    assert "above the 30000" in above.json()["detail"]

    # a reference already used with another amount
    pay(http, "500")
    reused = pay(http, "600")
    assert reused.status_code == 409, reused.text
    assert "already recorded" in reused.json()["detail"]
    assert store.payments == {("ACME", "BANK-1"): Decimal("500")}


@pytest.mark.parametrize(
    "payment",
    [
        {"reference": "BANK-1", "amount": "100.5"},  # JPY has no decimals
        {"reference": "BANK-1", "amount": "1.00001"},  # more than the money columns keep
        {"reference": "BANK-1", "amount": "0"},
        {"reference": "BANK-1", "amount": "-5"},
        {"reference": "BANK-1", "amount": "100000000000000"},
        {"reference": "", "amount": "100"},
        {"reference": "B" * 65, "amount": "100"},
        {"reference": "BANK\x00", "amount": "100"},
        {"reference": "BANK-1"},
        {"reference": "BANK-1", "amount": "100", "method": "wire"},
    ],
)
def test_an_invalid_payment_is_422_and_nothing_recorded(
    http: TestClient, store: FakeAccounts, acme: Account, payment: dict[str, Any]
) -> None:
    answer = http.post("/v1/accounts/ACME/payments", json=payment, headers=AS_OPERATOR)
    assert answer.status_code == 422, answer.text
    assert store.payments == {}


@pytest.mark.parametrize("headers", [AS_AGENT, AS_STOREFRONT, AS_CUSTOMER_1])
def test_only_an_operator_records_a_payment(
    http: TestClient, store: FakeAccounts, acme: Account, headers: dict[str, str]
) -> None:
    payment = {"reference": "BANK-1", "amount": "100"}
    assert http.post("/v1/accounts/ACME/payments", json=payment, headers=headers).status_code == 403
    assert store.payments == {}


def test_the_openapi_document_declares_every_answer(store: FakeAccounts) -> None:
    # given the document of an app the router is registered on, as the API's is
    paths = api_document(app_with(store))["paths"]

    def answers(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    # then each route lists what it answers, besides what every route with a token may
    assert {"200", "201", "401", "403", "422"} <= answers("/v1/accounts", "post")
    assert {"200", "401", "403", "404", "422"} <= answers("/v1/accounts/{account_id}", "get")
    assert {"200", "201", "401", "403", "404", "409", "422"} <= answers("/v1/accounts/{account_id}/payments", "post")
    assert "get" not in paths["/v1/accounts"]


def test_the_document_says_which_currencies_and_that_members_are_named_once(store: FakeAccounts) -> None:
    # given the account's schema in the document, then a client generating bodies from it meets what is validated
    account = api_document(app_with(store))["components"]["schemas"]["Account"]["properties"]
    assert "JPY" in account["currency"]["enum"] and "AAA" not in account["currency"]["enum"]
    assert account["buyers"]["uniqueItems"] is True and account["approvers"]["uniqueItems"] is True
