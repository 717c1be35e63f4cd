"""The two payment ledgers, kept in one shape so they cannot drift: the card gateway simulator's (a partner's books,
as a real gateway keeps them) and the OMS's own, for orders on account or prepaid on a platform (its
`account_id` draws on an account's credit). Each transaction is an authorization, or a capture, void or refund of
one, keyed by the caller's idempotency key.

Kept beside store/tables.py, on its MetaData; Alembic sees it (migrations/env.py).
"""

from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, String, Table, Text, func

from store.tables import MONEY, metadata


def _ledger(name: str, *own: Column[Any]) -> Table:
    """A ledger's table: the columns every ledger keeps, with `own` after the parent's."""
    table = Table(
        name,
        metadata,
        Column("id", String(40), primary_key=True),
        Column("idempotency_key", String(200), nullable=False, unique=True),
        Column("kind", String(16), nullable=False),
        Column("merchant_reference", String(64), nullable=False, index=True),
        Column("parent_id", String(40), ForeignKey(f"{name}.id")),
        *own,
        Column("amount", MONEY, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("status", String(16), nullable=False),
        Column("decline_reason", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        CheckConstraint("kind in ('authorize','capture','void','refund')", name="kind"),
        CheckConstraint("status in ('succeeded','declined')", name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )
    Index(f"ix_{name}_parent", table.c.parent_id)
    return table


gateway_transactions = _ledger("gateway_transactions")
# the account whose credit it draws on; none for a platform's prepayment
ledger_transactions = _ledger(
    "ledger_transactions", Column("account_id", String(64), ForeignKey("accounts.id"), index=True)
)
