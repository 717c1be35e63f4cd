"""Tables of customer notifications and of the simulated SMS provider and mail server, in the one MetaData of
store/tables.py (kept apart so neither module outgrows a screenful of reading)."""

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, String, Table, Text, func

from store.tables import Json, metadata

NOTIFICATION_STATES = ("claimed", "sent", "failed")

# One row per message a customer is due for one outbox event on one channel: claimed before it is sent and
# settled after, so a redelivered event never sends it again. A row left `claimed` may or may not have gone out
# (the sender stopped in between): e-mail ones wait for an operator (events_out/notifications/ledger.py).
notifications = Table(
    "notifications",
    metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("channel", String(8), primary_key=True),
    Column("order_id", String(64), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("state", String(8), nullable=False),
    # the Message-ID of a mail, the provider's id of an SMS
    Column("reference", String(200)),
    Column("error", Text),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("settled_at", DateTime(timezone=True)),
    CheckConstraint("state in (" + ",".join(f"'{s}'" for s in NOTIFICATION_STATES) + ")", name="state"),
)

# What an operator looks at: claims never settled, oldest first. Few among many.
Index(
    "ix_notifications_unsettled",
    notifications.c.claimed_at,
    postgresql_where=notifications.c.state == "claimed",
)

# The simulated SMS provider's messages, once per idempotency key.
simulator_sms_messages = Table(
    "simulator_sms_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("to", String(32), nullable=False, index=True),
    Column("sender", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What the simulators' mail catcher received, decoded for reading, with the raw message.
simulator_mails = Table(
    "simulator_mails",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", String(254)),
    Column("mail_from", String(254), nullable=False),
    Column("rcpt_to", Json, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
