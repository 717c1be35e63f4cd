"""B2B accounts as kept: the account and its members, its statement (credit held, invoices open and overdue), and
the payments it sends, each restoring that much credit."""

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert

from domain.accounts import Account, due_date
from integrations.own_ledger import account_paid, account_total, credit_used
from store.account_tables import account_members, account_payments, accounts
from store.document_tables import documents
from store.ledger_tables import ledger_transactions as lt


class OpenInvoice(BaseModel):
    number: str
    order_id: str
    issued_at: datetime
    due_date: date
    total: Decimal
    open: Decimal
    overdue: bool


class AccountStatement(Account):
    """The account, what its credit holds now and what is left of it, and its invoices oldest first, each as far
    as credit memos and payments (applied oldest invoice first) have settled it."""

    credit_used: Decimal
    credit_available: Decimal
    receivable: Decimal
    paid: Decimal
    invoices: list[OpenInvoice]


class PaymentRefused(Exception):
    """A payment the account's books cannot take: above what it owes, or a reference already used otherwise."""


class AccountRefused(Exception):
    """A change the account's books cannot take: another currency once orders are on them."""


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, account: Account) -> bool:
        """Create the account, or replace what an existing one says; True when it is new. An account with orders
        keeps its currency: its ledger's amounts are in it."""
        row = account.model_dump(exclude={"buyers", "approvers"})
        with self._engine.begin() as conn:
            new = conn.execute(
                insert(accounts)
                .values(**row)
                .on_conflict_do_nothing(index_elements=[accounts.c.id])
                .returning(accounts.c.id)
            ).first()
            if new is None:
                # locked as an order's credit check locks it: no order comes onto the books while this is decided
                was = conn.execute(
                    select(accounts.c.currency).where(accounts.c.id == account.id).with_for_update()
                ).scalar_one()
                if was != account.currency and _has_orders(conn, account.id):
                    raise AccountRefused(
                        f"account {account.id} has orders in {was}: its currency cannot change to {account.currency}"
                    )
                conn.execute(accounts.update().where(accounts.c.id == account.id).values(**row))
            conn.execute(delete(account_members).where(account_members.c.account_id == account.id))
            members = [{"account_id": account.id, "customer_id": c, "role": "buyer"} for c in account.buyers]
            members += [{"account_id": account.id, "customer_id": c, "role": "approver"} for c in account.approvers]
            conn.execute(insert(account_members), members)
        return new is not None

    def get(self, account_id: str) -> Account | None:
        with self._engine.connect() as conn:
            return _account(conn, account_id)

    def statement(self, account_id: str, today: date) -> AccountStatement | None:
        with self._engine.connect() as conn:
            account = _account(conn, account_id)
            if account is None:
                return None
            used = credit_used(conn, account_id)
            books = _Books.of(conn, account_id)
            invoices = _invoices(conn, account, settled=books.credited + books.paid, today=today)
        return AccountStatement(
            **account.model_dump(),
            credit_used=used,
            # a limit lowered below what is used leaves nothing to use; `credit_used` still shows by how much
            credit_available=max(account.credit_limit - used, Decimal(0)),
            receivable=books.owed,
            paid=books.paid,
            invoices=invoices,
        )

    def record_payment(self, account_id: str, reference: str, amount: Decimal) -> bool:
        """Take the account's payment once per reference; True when it is new. The account's row is locked, so two
        payments at once cannot both pay the same invoice."""
        with self._engine.begin() as conn:
            conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
            found = conn.execute(
                select(account_payments.c.amount).where(
                    account_payments.c.account_id == account_id, account_payments.c.reference == reference
                )
            ).scalar_one_or_none()
            if found is not None:
                if Decimal(found) != amount:
                    raise PaymentRefused(f"payment {reference} was already recorded for {found}")
                return False
            owed = _Books.of(conn, account_id).owed
            if amount > owed:
                raise PaymentRefused(f"a payment of {amount} is above the {owed} the account owes on its invoices")
            conn.execute(
                insert(account_payments).values(
                    id=f"pay_{secrets.token_hex(12)}", account_id=account_id, reference=reference, amount=amount
                )
            )
        return True


@dataclass(frozen=True)
class _Books:
    """What the account was invoiced, credited (credit memos) and paid, and so what it owes on its invoices."""

    invoiced: Decimal
    credited: Decimal
    paid: Decimal

    @classmethod
    def of(cls, conn: Connection, account_id: str) -> "_Books":
        return cls(
            invoiced=account_total(conn, account_id, "capture"),
            credited=account_total(conn, account_id, "refund"),
            paid=account_paid(conn, account_id),
        )

    @property
    def owed(self) -> Decimal:
        return self.invoiced - self.credited - self.paid


def _has_orders(conn: Connection, account_id: str) -> bool:
    return conn.execute(select(lt.c.id).where(lt.c.account_id == account_id).limit(1)).first() is not None


def _account(conn: Connection, account_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        return None
    members = conn.execute(
        select(account_members.c.customer_id, account_members.c.role)
        .where(account_members.c.account_id == account_id)
        .order_by(account_members.c.customer_id)
    ).all()
    return Account(
        id=row["id"],
        name=row["name"],
        terms=row["terms"],
        credit_limit=row["credit_limit"],
        currency=row["currency"],
        approval_threshold=row["approval_threshold"],
        buyers=[m.customer_id for m in members if m.role == "buyer"],
        approvers=[m.customer_id for m in members if m.role == "approver"],
    )


def _invoices(conn: Connection, account: Account, settled: Decimal, today: date) -> list[OpenInvoice]:
    orders = select(lt.c.merchant_reference).where(lt.c.account_id == account.id).distinct()
    rows = conn.execute(
        select(documents.c.number, documents.c.order_id, documents.c.issued_at, documents.c.snapshot)
        .where(documents.c.kind == "invoice", documents.c.order_id.in_(orders))
        .order_by(documents.c.issued_at, documents.c.number)
    ).all()
    out = []
    for number, order_id, issued_at, snapshot in rows:
        total = Decimal(str(snapshot["total"]))
        applied = min(total, settled)
        settled -= applied
        # as the invoice said when issued; the account's terms now for one issued before invoices said it
        said = (snapshot.get("payment") or {}).get("due_date")
        due = date.fromisoformat(said) if said else due_date(issued_at, account.terms)
        left = total - applied
        out.append(
            OpenInvoice(
                number=number,
                order_id=order_id,
                issued_at=issued_at,
                due_date=due,
                total=total,
                open=left,
                overdue=left > 0 and due < today,
            )
        )
    return out
