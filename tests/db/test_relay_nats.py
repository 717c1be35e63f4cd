"""The relay publishing to NATS JetStream (the machine's server, OMS_TEST_NATS_URL or 127.0.0.1:4222): one message
per event on the order's subject, the event id as the message id, a resend dropped as a duplicate.

Each run uses a stream and subject prefix of its own, deleted at the end, so runs never see each other's messages."""

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import Engine, delete, func, select

from events_out.contracts import OutboxEvent
from events_out.nats_sink import NatsSink, order_of_token
from events_out.relay import Relay
from store.order_projection import OrderProjection
from store.outbox_tables import outbox_deliveries, outbox_destinations
from tests.db.test_projection_errors import accepted

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("no_subscriptions")]
NATS_URL = os.environ.get("OMS_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
async def sink(engine: Engine) -> AsyncIterator[NatsSink]:
    run = uuid.uuid4().hex[:10]
    sink = NatsSink(NATS_URL, stream=f"OMS_TEST_{run}", prefix=f"oms-test-{run}.orders", name=f"nats-test-{run}")
    yield sink
    await sink.close()
    client = await nats.connect(NATS_URL)
    await client.jetstream().delete_stream(sink.stream)
    await client.close()
    with engine.begin() as conn:
        conn.execute(delete(outbox_destinations).where(outbox_destinations.c.name == sink.name))


async def messages(js: JetStreamContext, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append((msg.subject or "", dict(msg.headers or {}), msg.data or b""))
    return found


async def test_each_event_is_published_once_on_its_orders_subject(engine: Engine, sink: NatsSink) -> None:
    # given an order whose id holds a dot and an underscore (a dot would split a subject token)
    order_id = f"N.{uuid.uuid4().hex[:6]}_x"
    relay = Relay(engine, [sink], poll_interval=0.01)
    await relay.destinations()  # the sink's progress starts here
    OrderProjection(engine).project(accepted(order_id)[1])
    # when the relay runs until the sink owes nothing
    for _ in range(200):
        await relay.run_once()
        if owed(engine, sink.name) == 0 and len(await published(sink)) == 4:
            break
    assert owed(engine, sink.name) == 0
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    found = await messages(js, sink.stream)
    # then the stream holds one message per event, in order, on <prefix>.<order token>.<type>
    token = found[0][0].split(".")[2]
    assert "." not in token and order_of_token(token) == order_id
    assert [subject for subject, _, _ in found] == [
        f"{sink.prefix}.{token}.{kind}"
        for kind in ("OrderPlaced", "PaymentAuthorized", "InventoryReserved", "FulfillmentOrderCreated")
    ]
    # and each carries its event id as the message id, with the subscriber's body
    bodies = [json.loads(data) for _, _, data in found]
    assert [headers["Nats-Msg-Id"] for _, headers, _ in found] == [str(b["event_id"]) for b in bodies]
    assert [(b["order_id"], b["sequence"]) for b in bodies] == [(order_id, n) for n in (1, 2, 3, 4)]
    # when an event is published again (a relay restarted before recording it), then JetStream keeps it once
    first = bodies[0]
    again = OutboxEvent(
        event_id=first["event_id"],
        order_id=order_id,
        sequence=1,
        type=first["type"],
        occurred_at=datetime.fromisoformat(first["occurred_at"]),
        data=first["data"],
    )
    await sink.deliver(again)
    assert len(await messages(js, sink.stream)) == 4
    await client.close()
    await relay.close()


def owed(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(outbox_deliveries).where(outbox_deliveries.c.destination == name)
        ).scalar_one()
    return int(count)


async def published(sink: NatsSink) -> list[tuple[str, dict[str, str], bytes]]:
    """What the sink's stream holds so far (nothing while the sink has not created it)."""
    client = await nats.connect(NATS_URL)
    try:
        return await messages(client.jetstream(), sink.stream)
    except nats.js.errors.NotFoundError:
        return []
    finally:
        await client.close()
