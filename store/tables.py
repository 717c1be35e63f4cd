"""Every table of the OMS database, in one MetaData that Alembic migrates."""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from domain.tax import TAX_CLASSES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Json = JSON().with_variant(JSONB(), "postgresql")
MONEY = Numeric(18, 4)


def _now() -> "Column[Any]":
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


# -- catalog and inventory --------------------------------------------------------------------
locations = Table(
    "locations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("capabilities", Json, nullable=False),
    Column("daily_capacity", Integer, nullable=False),
    Column("cutoff", String(5), nullable=False, server_default="15:00"),
    CheckConstraint("kind in ('warehouse','distribution_center','store','dropship')", name="kind"),
)

# The catalog, the price authority: what a sku is called, its price in each currency it is sold in
# (`{"JPY": "5000"}`, decimal strings within MONEY at the currency's minor units) and how it is taxed.
products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prices", Json, nullable=False, server_default="{}"),
    Column("tax_class", String(16), nullable=False, server_default="standard"),
    # when an operator last set the product (PUT /v1/products/{sku}); NULL while it is as the demo seed left it
    Column("edited_at", DateTime(timezone=True)),
    CheckConstraint("tax_class in (" + ",".join(f"'{c}'" for c in TAX_CLASSES) + ")", name="tax_class"),
)

inventory_levels = Table(
    "inventory_levels",
    metadata,
    Column("location_id", String(64), ForeignKey("locations.id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    Column("safety_stock", Integer, nullable=False, server_default="0"),
    _now(),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("location_id", String(64), ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="reserved"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _now(),
    # a hold that lapses unless confirmed (held orders); NULL holds until released or shipped
    Column("expires_at", DateTime(timezone=True)),
    # a reship or exchange may take the same sku at the same location again: one row per fulfillment order
    Column("fulfillment_order_id", String(80), nullable=False, server_default=""),
    UniqueConstraint(
        "order_id", "fulfillment_order_id", "sku", "location_id", name="order_fulfillment_order_sku_location"
    ),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("status in ('reserved','released','shipped','expired')", name="status"),
)

Index(
    "ix_reservations_expiring",
    reservations.c.expires_at,
    postgresql_where=(reservations.c.status == "reserved") & reservations.c.expires_at.is_not(None),
)

MOVEMENT_KINDS = ("receipt", "adjustment", "reservation", "release", "shipment", "return_restock", "expiry")

# The inventory ledger: every change of on_hand or reserved, written in the transaction that makes it,
# so the sum of a location/SKU's deltas is its level.
inventory_movements = Table(
    "inventory_movements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("location_id", String(64), ForeignKey("locations.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("on_hand_delta", Integer, nullable=False, server_default="0"),
    Column("reserved_delta", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    # what caused it: an order id, fulfillment order id, return id or adjustment id
    Column("reference", String(200)),
    # the caller's idempotency key: a repeated call with the same key changes nothing
    Column("movement_key", String(240), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind in (" + ",".join(f"'{k}'" for k in MOVEMENT_KINDS) + ")", name="kind"),
)

Index("ix_inventory_movements_location_sku", inventory_movements.c.location_id, inventory_movements.c.sku)
Index("ix_inventory_movements_reference", inventory_movements.c.reference)

# Which locations sell to which channel: web/app/agent/b2b see the whole network, the store channel the stores.
location_groups = Table(
    "location_groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("channel", String(16), nullable=False, index=True),
)

location_group_members = Table(
    "location_group_members",
    metadata,
    Column("group_id", String(64), ForeignKey("location_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", String(64), ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
)

# -- order read model (a projection of the workflows' events) ---------------------------------
orders = Table(
    "orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("workflow_id", String(80), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("channel", String(16), nullable=False, index=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("customer", Json, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", MONEY, nullable=False),
    Column("authorized", MONEY, nullable=False),
    Column("captured", MONEY, nullable=False),
    Column("refunded", MONEY, nullable=False),
    Column("voided", MONEY, nullable=False),
    Column("delivery_method", String(16), nullable=False),
    Column("shipping_address", Json, nullable=False),
    Column("fraud_score", Integer),
    Column("version", Integer, nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    _now(),
    # the latest date promised by a fulfillment order still open or done (not rejected or canceled)
    Column("promised_date", Date),
    # while units wait for stock: when the order gives up waiting and cancels them
    Column("backordered_until", DateTime(timezone=True)),
    # a row of the order the projection could not write (a value its column cannot hold): why, and when
    Column("projection_error", Text),
    Column("projection_error_at", DateTime(timezone=True)),
    # the order needs a person (a step failed for good, a partner silent past its deadline): why, and since when
    Column("attention_reason", Text),
    Column("attention_since", DateTime(timezone=True)),
)

# The orders that need a person, newest first, as `GET /v1/orders?attention=true` lists them: few among many.
Index(
    "ix_orders_needing_attention",
    orders.c.placed_at,
    postgresql_where=orders.c.attention_reason.is_not(None),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(64), ForeignKey("orders.order_id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("unit_price", MONEY, nullable=False),
    Column("ordered", Integer, nullable=False),
    Column("allocated", Integer, nullable=False),
    Column("shipped", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("canceled", Integer, nullable=False),
    Column("returned", Integer, nullable=False),
    Column("tax_class", String(16), nullable=False, server_default="standard"),
    CheckConstraint("tax_class in (" + ",".join(f"'{c}'" for c in TAX_CLASSES) + ")", name="tax_class"),
)

# Lines with units waiting for stock (ordered - canceled - allocated > 0): what a receipt of a SKU wakes up.
Index(
    "ix_order_lines_unallocated_sku",
    order_lines.c.sku,
    postgresql_where=(order_lines.c.ordered - order_lines.c.canceled - order_lines.c.allocated) > 0,
)

order_events = Table(
    "order_events",
    metadata,
    Column("order_id", String(64), ForeignKey("orders.order_id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("summary", Text, nullable=False),
    # the event's fields; an OrderPlaced keeps its payment's method, never the token (the gateway's alone)
    Column("data", Json, nullable=False),
)

fulfillment_orders = Table(
    "fulfillment_orders",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("order_id", String(64), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("location_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lines", Json, nullable=False),
    Column("carrier", String(64)),
    # one parcel may carry several fulfillment orders (of one order or several): indexed, not unique
    Column("tracking_number", String(64), index=True),
    Column("captured", MONEY, nullable=False),
    Column("invoice_id", String(80)),
    _now(),
    Column("promised_date", Date),
    Column("refunded", MONEY, nullable=False, server_default="0"),
)

returns = Table(
    "returns",
    metadata,
    Column("return_id", String(80), primary_key=True),
    Column("order_id", String(64), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("rma", String(80), nullable=False),
    Column("status", String(16), nullable=False),
    Column("method", String(16), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("label", Text),
    Column("lines", Json, nullable=False),
    Column("received", Json, nullable=False),
    Column("refund_amount", MONEY, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _now(),
    CheckConstraint("status in ('requested','received','refunded','refund_failed')", name="status"),
)

PAYMENT_KINDS = ("authorize", "capture", "void", "refund", "appeasement")

# One row per money movement the order recorded; a refund or appeasement has one row per capture it went back to,
# keyed `<refund id>:<capture transaction id>`.
payments = Table(
    "payments",
    metadata,
    Column("transaction_id", String(200), primary_key=True),
    Column("order_id", String(64), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fulfillment_order_id", String(80)),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind in (" + ",".join(f"'{k}'" for k in PAYMENT_KINDS) + ")", name="kind"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(80), primary_key=True),
    Column("order_id", String(64), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("fulfillment_order_id", String(80), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

# -- the payment gateway simulator's card vault (its ledger: store/ledger_tables.py) ---------
# Card tokens the gateway keeps for the orders that paid with them; the order knows only the `pm_` reference.
gateway_payment_methods = Table(
    "gateway_payment_methods",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("customer_reference", String(64), nullable=False),
    Column("token", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# -- the partner simulators' own state (warehouse, store and carrier) --------------------------
# What the simulated locations received, so a restarted simulator resumes every fulfillment order in flight.
simulator_fulfillment_orders = Table(
    "simulator_fulfillment_orders",
    metadata,
    Column("fulfillment_order_id", String(80), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("delivery_method", String(32), nullable=False),
    # the units still to fulfil (amends take units off); `request` is the release as it was received
    Column("lines", Json, nullable=False),
    Column("request", Json, nullable=False),
    # the steps this location reports, in order, and the first one not scheduled yet
    Column("flow", Json, nullable=False),
    Column("next_step", Integer, nullable=False, server_default="0"),
    Column("status", String(24), nullable=False),
    Column("tracking_number", String(40), unique=True),
    Column("carrier", String(32)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _now(),
)

# Cancels of fulfillment orders the location had not received: a late release of one never runs.
simulator_early_cancels = Table(
    "simulator_early_cancels",
    metadata,
    Column("fulfillment_order_id", String(80), primary_key=True),
    Column("canceled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

SIMULATOR_WEBHOOK_STATES = ("pending", "sent", "failed", "canceled")

# Webhooks to send: a pending row is claimed by moving its due time past a lease, so one sender has it at a time.
# `chain` rows are the fulfillment order's own steps; the others repeat one (a duplicate, or a resend on request).
simulator_webhooks = Table(
    "simulator_webhooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("fulfillment_order_id", String(80), nullable=False, index=True),
    Column("stage", String(24), nullable=False),
    Column("step", Integer, nullable=False),
    Column("chain", Boolean, nullable=False),
    Column("path", String(40), nullable=False),
    Column("body", Json, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("last_answer", Text),
    Column("sent_at", DateTime(timezone=True)),
    CheckConstraint("state in (" + ",".join(f"'{s}'" for s in SIMULATOR_WEBHOOK_STATES) + ")", name="state"),
)

Index(
    "ix_simulator_webhooks_due",
    simulator_webhooks.c.due_at,
    postgresql_where=simulator_webhooks.c.state == "pending",
)

# Amends applied, by idempotency key: a retried amend answers what the first one left.
simulator_amendments = Table(
    "simulator_amendments",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("fulfillment_order_id", String(80), nullable=False),
    Column("remove", Json, nullable=False),
    Column("lines", Json, nullable=False),
    Column("status", String(24), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
