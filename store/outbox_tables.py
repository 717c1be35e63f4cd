"""Events out: the outbox the projection writes, the webhook subscriptions, and each destination's progress.

Kept beside store/tables.py, on its MetaData, so that module stays small; Alembic sees both (migrations/env.py).
Every destination (a webhook subscription, NATS, notifications) has one row in `outbox_destinations` and its
work in `outbox_deliveries`: one design for all.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from store.tables import Json, metadata

# The id of the transaction writing a row, as a bigint (xid8 holds an epoch and fits): the relay reads only rows of
# transactions that have ended, so a row committed late under a lower event_id is never passed over.
CURRENT_TXID = text("pg_current_xact_id()::text::bigint")

# One row per domain event, written by the projection in the transaction that writes it to order_events.
outbox = Table(
    "outbox",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),  # order_events.seq
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", Json, nullable=False),
    Column("txid", BigInteger, nullable=False, server_default=CURRENT_TXID),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("order_id", "sequence", name="uq_outbox_order_sequence"),
)

Index("ix_outbox_txid_event_id", outbox.c.txid, outbox.c.event_id)

# Webhook subscribers (POST /v1/subscriptions). The secret signs each delivery, so it is kept as given.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", Json, nullable=False),  # ["*"] or event type names
    Column("secret", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Where each destination has read the outbox to: every row up to (after_txid, after_event_id) has been handed to
# its deliveries. `subscription:<id>` for a webhook subscriber, the sink's name for an internal one (`nats` ...).
outbox_destinations = Table(
    "outbox_destinations",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("after_txid", BigInteger, nullable=False, server_default="0"),
    Column("after_event_id", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

DELIVERY_STATES = ("pending", "failed")

# What a destination still owes: a pending row is due at `due_at` (claimed by moving it past a lease); a row that
# gave up is `failed` until replayed; a delivered row is deleted.
outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("destination", String(80), ForeignKey("outbox_destinations.name", ondelete="CASCADE"), primary_key=True),
    Column("event_id", BigInteger, ForeignKey("outbox.event_id"), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("first_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("failed_at", DateTime(timezone=True)),
    CheckConstraint("state in (" + ",".join(f"'{s}'" for s in DELIVERY_STATES) + ")", name="state"),
)

# an order's pending events in order (the earliest goes first), and the failures a subscriber is shown
Index(
    "ix_outbox_deliveries_pending",
    outbox_deliveries.c.destination,
    outbox_deliveries.c.order_id,
    outbox_deliveries.c.event_id,
    postgresql_where=outbox_deliveries.c.state == "pending",
)
Index(
    "ix_outbox_deliveries_failed",
    outbox_deliveries.c.destination,
    outbox_deliveries.c.event_id,
    postgresql_where=outbox_deliveries.c.state == "failed",
)
