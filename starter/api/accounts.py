"""B2B accounts: operators set an account's terms, limit and members and record the payments it sends; operators
and agents read its statement (credit held and left, invoices open and overdue)."""

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import Field

from domain.accounts import NO_NUL, Account
from domain.models import MAX_AMOUNT, Strict
from domain.money import quantize
from starter.api.auth import Principal, require
from starter.api.orders import Svc
from store.accounts import AccountRefused, AccountStatement, PaymentRefused

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

# As domain.models.AccountId: an id no account can have is not looked up
AccountIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "no such account"}}


class PaymentBody(Strict):
    reference: str = Field(
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="the remittance's own reference: the same one again records nothing more",
    )
    # at most the four decimals the money columns keep; the account's currency may allow fewer (checked below)
    amount: Decimal = Field(
        gt=0, le=MAX_AMOUNT, decimal_places=4, description="a decimal string in the account's currency"
    )


def _today() -> date:
    return datetime.now(UTC).date()


async def _statement(svc: Svc, account_id: str) -> AccountStatement:
    found = await asyncio.to_thread(svc.accounts.statement, account_id, _today())
    if found is None:
        raise HTTPException(404, f"there is no account {account_id}")
    return _in_minor_units(found)


def _in_minor_units(statement: AccountStatement) -> AccountStatement:
    """The money columns keep four decimals: the answer shows the currency's own (JPY 100000, not 100000.0000),
    as the account was posted."""

    def q(amount: Decimal) -> Decimal:
        return quantize(amount, statement.currency)

    threshold = statement.approval_threshold
    return statement.model_copy(
        update={
            "credit_limit": q(statement.credit_limit),
            "approval_threshold": None if threshold is None else q(threshold),
            "credit_used": q(statement.credit_used),
            "credit_available": q(statement.credit_available),
            "receivable": q(statement.receivable),
            "paid": q(statement.paid),
            "invoices": [i.model_copy(update={"total": q(i.total), "open": q(i.open)}) for i in statement.invoices],
        }
    )


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": AccountStatement, "description": "an existing account, replaced by the body"},
        409: {"description": "refused: another currency for an account with orders"},
    },
)
async def save_account(
    account: Account, response: Response, svc: Svc, who: Principal = require("operator")
) -> AccountStatement:
    """Create the account (201), or replace an existing one's fields and members with the body's (200). What its
    orders hold, owe and paid stays; the statement answered says it. An account with orders keeps its currency
    (409): its books are in it."""
    try:
        new = await asyncio.to_thread(svc.accounts.save, account)
    except AccountRefused as err:
        raise HTTPException(409, str(err)) from err
    if not new:
        response.status_code = 200
    return await _statement(svc, account.id)


@router.get("/{account_id}", responses=UNKNOWN)
async def account_statement(
    account_id: AccountIdPath, svc: Svc, who: Principal = require("operator", "agent")
) -> AccountStatement:
    """The account, its credit held and left, and its invoices oldest first as far as payments and credit memos
    have settled them (oldest invoice first); overdue when open after their due date (UTC today)."""
    return await _statement(svc, account_id)


@router.post(
    "/{account_id}/payments",
    status_code=201,
    responses={
        200: {"model": AccountStatement, "description": "the same payment again (same reference and amount)"},
        **UNKNOWN,
        409: {"description": "refused: above what the account owes, or the reference was used with another amount"},
    },
)
async def record_payment(
    account_id: AccountIdPath,
    body: PaymentBody,
    response: Response,
    svc: Svc,
    who: Principal = require("operator"),
) -> AccountStatement:
    """Record money the account sent against its invoices: it restores that much credit. Answers the statement."""
    account = await asyncio.to_thread(svc.accounts.get, account_id)
    if account is None:
        raise HTTPException(404, f"there is no account {account_id}")
    # "500.5" is no yen amount: an invalid body; "500.00" is 500 and is kept so
    amount = quantize(body.amount, account.currency)
    if amount != body.amount:
        raise HTTPException(422, f"amount {body.amount} has more decimals than {account.currency} allows")
    try:
        new = await asyncio.to_thread(svc.accounts.record_payment, account_id, body.reference, amount)
    except PaymentRefused as err:
        raise HTTPException(409, str(err)) from err
    if not new:
        response.status_code = 200
    return await _statement(svc, account_id)
