"""B2B accounts (terms, credit limit, approval threshold, buyers and approvers), the OMS's own payment ledger for
orders on account or prepaid on a storefront platform, and the accounts' payments

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 4)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("terms", sa.String(16), nullable=False),
        sa.Column("credit_limit", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("approval_threshold", MONEY),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("credit_limit >= 0", name=op.f("ck_accounts_credit_limit_not_negative")),
    )
    op.create_table(
        "account_members",
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "customer_id", "role"),
        sa.CheckConstraint("role in ('buyer','approver')", name=op.f("ck_account_members_role")),
    )
    op.create_index("ix_account_members_customer", "account_members", ["customer_id"])
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("merchant_reference", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(40), sa.ForeignKey("ledger_transactions.id")),
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id")),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind in ('authorize','capture','void','refund')", name=op.f("ck_ledger_transactions_kind")),
        sa.CheckConstraint("status in ('succeeded','declined')", name=op.f("ck_ledger_transactions_status")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_ledger_transactions_amount_not_negative")),
    )
    op.create_index(op.f("ix_ledger_transactions_merchant_reference"), "ledger_transactions", ["merchant_reference"])
    op.create_index(op.f("ix_ledger_transactions_account_id"), "ledger_transactions", ["account_id"])
    op.create_index("ix_ledger_transactions_parent", "ledger_transactions", ["parent_id"])
    op.create_table(
        "account_payments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name=op.f("ck_account_payments_amount_positive")),
        sa.UniqueConstraint("account_id", "reference", name="uq_account_payments_reference"),
    )


def downgrade() -> None:
    op.drop_table("account_payments")
    op.drop_table("ledger_transactions")
    op.drop_table("account_members")
    op.drop_table("accounts")
