"""The simulators' work survives a restart, and several simulator processes never send one step twice."""

import asyncio
import threading
from collections import Counter

import pytest
from sqlalchemy import Engine

from integrations.simulator_flows import SHIP_FLOW
from integrations.simulator_store import SimulatorStore, Webhook
from tests.db.simulator_harness import (
    FakeOms,
    fulfillment_request,
    new_fo_id,
    reaches,
    release,
    simulator,
    status_of,
)

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("no_simulator_state")]


async def test_a_restarted_simulator_takes_the_order_on_to_delivery(engine: Engine) -> None:
    # given a fulfillment order released to a simulator that stops while the OMS has not answered "shipped" yet
    oms, fo_id = FakeOms(hold="shipped"), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
    assert oms.events() == ["picked", "packed"]

    # when a new simulator process starts on the same database
    oms.resume.set()
    async with simulator(oms, engine) as client:
        record = await reaches(client, fo_id, "delivered")

    # then it goes on where the first stopped: every step reported once, in order, with one tracking number
    assert oms.events() == [*SHIP_FLOW]
    assert {body["tracking_number"] for _, body in oms.delivered()[2:]} == {record["tracking_number"]}


async def test_a_restarted_simulator_still_knows_what_it_received_and_canceled(engine: Engine) -> None:
    oms, fo_id, never_received = FakeOms(), new_fo_id(1), new_fo_id(2)
    async with simulator(oms, engine, mode="off") as client:
        await release(client, fo_id, lines=(("LEGO-76419", 2),))
        await client.post(f"/warehouse/fulfillment-orders/{never_received}/cancel")

    async with simulator(oms, engine, mode="off") as client:
        record = await status_of(client, fo_id)
        late = await release(client, never_received)

    assert record["lines"] == [{"sku": "LEGO-76419", "quantity": 2}]
    assert late.json()["status"] == "canceled"


async def test_two_simulators_on_one_database_send_every_step_once(engine: Engine) -> None:
    # given two simulator processes sharing the database and the OMS
    oms = FakeOms()
    fo_ids = [new_fo_id(n) for n in range(8)]
    async with simulator(oms, engine) as first, simulator(oms, engine) as second:
        # when fulfillment orders are released to one or the other
        for n, fo_id in enumerate(fo_ids):
            await release(first if n % 2 else second, fo_id)
        for fo_id in fo_ids:
            await reaches(first, fo_id, "delivered")

    # then each step of each fulfillment order reached the OMS exactly once
    for fo_id in fo_ids:
        assert oms.events(fo_id) == [*SHIP_FLOW]


def test_concurrent_claims_share_the_due_webhooks_without_overlap(engine: Engine) -> None:
    # given forty fulfillment orders whose first webhook is due now
    store = SimulatorStore(engine, delay_s=0.0)
    for n in range(40):
        store.accept(fulfillment_request(new_fo_id(n)), SHIP_FLOW)

    # when four senders claim at the same moment
    barrier, claims = threading.Barrier(4), list[list[Webhook]]()

    def claim() -> None:
        barrier.wait()
        claims.append(store.claim(limit=15, lease_s=30))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then no webhook went to two senders, and (with what a last claim picks up) each one was handed out once
    claims.append(store.claim(limit=100, lease_s=30))
    claimed = Counter(w.id for batch in claims for w in batch)
    assert len(claimed) == 40
    assert set(claimed.values()) == {1}
    # and none is due again while its lease runs
    assert store.claim(limit=100, lease_s=30) == []
