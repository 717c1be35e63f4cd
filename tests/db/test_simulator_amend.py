"""Amends: the OMS takes units off a released fulfillment order before the location picks it."""

import asyncio

import pytest
from sqlalchemy import Engine

from integrations.simulator_flows import SHIP_FLOW
from tests.db.simulator_harness import (
    FakeOms,
    amend,
    new_fo_id,
    reaches,
    release,
    settle,
    simulator,
    status_of,
)

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("no_simulator_state")]

TWO_LINES = (("LEGO-76419", 2), ("LEGO-10305", 1))


async def test_an_amend_takes_units_off_once_per_key(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, mode="off") as client:
        # given a released fulfillment order of two lines
        await release(client, fo_id, lines=TWO_LINES)

        # when the OMS takes one unit off, and retries that amend with the same key
        first = await amend(client, fo_id, {"LEGO-76419": 1}, key="amend-1")
        again = await amend(client, fo_id, {"LEGO-76419": 1}, key="amend-1")
        record = await status_of(client, fo_id)

    # then one unit is off, not two, and both answers show what is left
    remaining = [{"sku": "LEGO-76419", "quantity": 1}, {"sku": "LEGO-10305", "quantity": 1}]
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["lines"] == again.json()["lines"] == remaining
    assert record["lines"] == remaining
    # and the release as received is kept as it was
    assert record["request"]["lines"][0] == {"sku": "LEGO-76419", "quantity": 2}


async def test_an_amend_of_units_it_does_not_hold_or_of_an_unknown_order_is_refused(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, mode="off") as client:
        await release(client, fo_id, lines=TWO_LINES)
        too_many = await amend(client, fo_id, {"LEGO-76419": 3}, key="amend-1")
        other_sku = await amend(client, fo_id, {"LEGO-00000": 1}, key="amend-2")
        unknown = await amend(client, new_fo_id(9), {"LEGO-76419": 1}, key="amend-3")
        reused = await amend(client, fo_id, {"LEGO-10305": 1}, key="amend-4")
        reused_for_more = await amend(client, fo_id, {"LEGO-76419": 1}, key="amend-4")
        record = await status_of(client, fo_id)

    assert (too_many.status_code, other_sku.status_code, unknown.status_code) == (400, 400, 404)
    # a key belongs to one amend: used again for other units it is refused, and those units stay
    assert (reused.status_code, reused_for_more.status_code) == (200, 422)
    assert record["lines"] == [{"sku": "LEGO-76419", "quantity": 2}]


async def test_amended_to_nothing_the_fulfillment_order_is_canceled(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, delay_s=0.3) as client:
        await release(client, fo_id)
        answer = await amend(client, fo_id, {"LEGO-76419": 1}, key="amend-all")
        await asyncio.sleep(0.5)  # past the first step's due time: it would have been sent by now
        record = await status_of(client, fo_id)

    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["lines"]) == ("canceled", [])
    assert record["status"] == "canceled"
    assert oms.calls == []


async def test_the_webhooks_after_an_amend_carry_the_remaining_lines(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, delay_s=0.2) as client:
        # given a fulfillment order amended before it was picked
        await release(client, fo_id, lines=TWO_LINES)
        answer = await amend(client, fo_id, {"LEGO-10305": 1}, key="amend-1")
        await reaches(client, fo_id, "delivered")

    # then it ships, and the shipped webhook says only what is left went
    assert answer.status_code == 200
    assert oms.events() == [*SHIP_FLOW]
    [shipped] = [body for _, body in oms.delivered() if body["event"] == "shipped"]
    assert shipped["lines"] == [{"sku": "LEGO-76419", "quantity": 2}]


async def test_an_amend_once_picking_has_started_is_too_late(engine: Engine) -> None:
    # given a fulfillment order whose "picked" is being reported
    oms, fo_id = FakeOms(hold="picked"), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id, lines=TWO_LINES)
        await asyncio.wait_for(oms.holding.wait(), 5)

        # when the OMS amends it, then the location says it is too late
        during = await amend(client, fo_id, {"LEGO-10305": 1}, key="amend-1")
        oms.resume.set()
        await reaches(client, fo_id, "delivered")
        after = await amend(client, fo_id, {"LEGO-10305": 1}, key="amend-2")
        await settle()

    assert (during.status_code, after.status_code) == (409, 409)
    assert "too late" in during.json()["detail"]
    # and everything ships as released
    [shipped] = [body for _, body in oms.delivered() if body["event"] == "shipped"]
    assert shipped["lines"] == [{"sku": "LEGO-76419", "quantity": 2}, {"sku": "LEGO-10305", "quantity": 1}]
