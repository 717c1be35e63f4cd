"""The OMS's own payment ledger: what no card pays, authorized, captured, voided and refunded as a card would be,
so the order's payment steps are the same whatever pays.

- On account (`account:<id>`): a B2B order on its account's net terms. The authorization holds the order's total
  against the account's credit limit (declined above what is left); a capture is an invoice the account owes; a
  void gives back what was not invoiced; a refund is a credit memo; the account's payments restore credit.
- Prepaid (`prepaid:<platform>:<reference>`): a storefront platform (Shopify, Salesforce B2C Commerce) took the
  money at its own checkout. The authorization records what it holds for the order; captures and refunds record
  what the platform is to settle and give back, which the order's events tell it.

The router sends each call to this ledger or to the card gateway by the reference or transaction id it names.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, select

from domain import ids
from domain.money import quantize
from integrations.ledger import Ledger, replayed
from integrations.payment_port import (
    CardDeclined,
    GatewayRefused,
    GatewayTransaction,
    PaymentGateway,
    TransactionKind,
)
from store.account_tables import account_payments, accounts
from store.ledger_tables import ledger_transactions as lt


class OwnLedger:
    def __init__(self, engine: Engine) -> None:
        self._ledger = Ledger(engine, lt, id_prefix=ids.LEDGER_TRANSACTION_PREFIX, inherited=("account_id",))

    def authorize(
        self, idempotency_key: str, merchant_reference: str, reference: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        if amount < 0:
            raise GatewayRefused(f"cannot authorize a negative amount ({amount})")
        account_id = ids.account_of_payment_reference(reference)
        with self._ledger.transaction() as conn:
            if (replay := self._ledger.existing(conn, idempotency_key)) is not None:
                tx = replayed(replay, "authorize", None, amount)
            else:
                decline = self._credit_refusal(conn, account_id, amount, currency) if account_id else None
                row = {
                    "kind": "authorize",
                    "merchant_reference": merchant_reference,
                    "parent_id": None,
                    # a foreign key: the decline for an account that does not exist names none
                    "account_id": account_id if account_id and _exists(conn, account_id) else None,
                    "amount": amount,
                    "currency": currency,
                    "status": "declined" if decline else "succeeded",
                    "decline_reason": decline,
                }
                tx = self._ledger.insert_once(conn, idempotency_key, row)
        if tx.status == "declined":  # raised once the decline is committed: a replay of the key finds it
            raise CardDeclined(tx.decline_reason or "declined")
        return tx

    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        return self._ledger.capture(idempotency_key, authorization_id, amount)

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        return self._ledger.void(idempotency_key, authorization_id)

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        return self._ledger.refund(idempotency_key, capture_id, amount)

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        with self._ledger.transaction() as conn:
            rows = conn.execute(
                select(lt).where(lt.c.merchant_reference == merchant_reference).order_by(lt.c.created_at, lt.c.id)
            ).mappings()
            return [GatewayTransaction.model_validate(dict(r)) for r in rows]

    @staticmethod
    def _credit_refusal(conn: Connection, account_id: str, amount: Decimal, currency: str) -> str | None:
        """Why the account cannot take this order on credit now, or None. The account's row is locked, so two
        orders at once never both fit into what one alone would."""
        account = conn.execute(select(accounts).where(accounts.c.id == account_id).with_for_update()).mappings().first()
        if account is None:
            return f"no account {account_id}"
        if account["currency"] != currency:
            return f"account {account_id} is kept in {account['currency']}, not {currency}"
        available = account["credit_limit"] - credit_used(conn, account_id)
        if amount > available:
            return (
                f"above the credit limit of account {account_id}: {currency} {amount} asked, "
                f"{currency} {quantize(max(available, Decimal(0)), currency)} available until open invoices are paid"
            )
        return None


def _exists(conn: Connection, account_id: str) -> bool:
    return conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is not None


def credit_used(conn: Connection, account_id: str) -> Decimal:
    """What the account's credit holds now: every order's authorization less what was voided and credited (what
    was invoiced stays held until paid), less what the account has paid."""
    held = account_total(conn, account_id, "authorize") - account_total(conn, account_id, "void")
    return held - account_total(conn, account_id, "refund") - account_paid(conn, account_id)


def account_total(conn: Connection, account_id: str, kind: TransactionKind) -> Decimal:
    """What the account's orders moved of one kind (authorized, invoiced, voided, credited)."""
    return Decimal(
        conn.execute(
            select(func.coalesce(func.sum(lt.c.amount), 0)).where(
                lt.c.account_id == account_id, lt.c.kind == kind, lt.c.status == "succeeded"
            )
        ).scalar_one()
    )


def account_paid(conn: Connection, account_id: str) -> Decimal:
    """What the account has paid against its invoices."""
    total = conn.execute(
        select(func.coalesce(func.sum(account_payments.c.amount), 0)).where(account_payments.c.account_id == account_id)
    ).scalar_one()
    return Decimal(total)


class PaymentRouter:
    """The payment port the order's steps call: the OMS's own ledger for what is on account or prepaid, the card
    gateway for everything else (saved cards, and orders placed before other methods existed)."""

    def __init__(self, cards: PaymentGateway, own: OwnLedger) -> None:
        self.cards = cards
        self.own = own

    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        return self.cards.save_payment_method(idempotency_key, customer_reference, token)

    def authorize(
        self, idempotency_key: str, merchant_reference: str, token: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        holder = self.own if ids.is_own_ledger_reference(token) else self.cards
        return holder.authorize(idempotency_key, merchant_reference, token, amount, currency)

    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction:
        return self._holder(authorization_id).capture(idempotency_key, authorization_id, amount)

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        return self._holder(authorization_id).void(idempotency_key, authorization_id)

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction:
        return self._holder(capture_id).refund(idempotency_key, capture_id, amount)

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        both = [*self.cards.transactions(merchant_reference), *self.own.transactions(merchant_reference)]
        return sorted(both, key=_oldest_first)

    def _holder(self, transaction_id: str) -> "PaymentGateway | OwnLedger":
        return self.own if ids.is_own_ledger_reference(transaction_id) else self.cards


def _oldest_first(tx: GatewayTransaction) -> tuple[datetime, str]:
    return tx.created_at, tx.id
