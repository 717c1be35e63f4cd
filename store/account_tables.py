"""B2B accounts: what an account may owe, who buys and approves for it, and what the account has paid (what each
order on it was authorized, invoiced and credited is the OMS's own ledger, store/ledger_tables.py).

Kept beside store/tables.py, on its MetaData, so that module stays small; Alembic sees it (migrations/env.py).
"""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
)

from store.tables import MONEY, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("terms", String(16), nullable=False),
    Column("credit_limit", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    # an order above it waits for an approver; none: no order needs one
    Column("approval_threshold", MONEY),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("credit_limit >= 0", name="credit_limit_not_negative"),
)

account_members = Table(
    "account_members",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("account_id", "customer_id", "role"),
    CheckConstraint("role in ('buyer','approver')", name="role"),
)

Index("ix_account_members_customer", account_members.c.customer_id)

# Money an account sent against its invoices: it restores that much credit. One row per remittance reference.
account_payments = Table(
    "account_payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="amount_positive"),
    UniqueConstraint("account_id", "reference", name="uq_account_payments_reference"),
)
