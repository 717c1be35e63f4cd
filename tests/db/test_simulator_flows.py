"""The partner simulators against a fake OMS: shipped, pickup and rejected flows, cancels, repeats and tracking."""

import asyncio

import pytest
from sqlalchemy import Engine, func, select

from integrations.simulator_flows import PICKUP_FLOW, SHIP_FLOW
from store.tables import simulator_webhooks
from tests.db.simulator_harness import (
    FakeOms,
    cancel,
    new_fo_id,
    reaches,
    release,
    release_pickup,
    settle,
    simulator,
    status_of,
    until,
)

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("no_simulator_state")]


async def test_auto_mode_reports_each_step_to_delivery(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        # when a fulfillment order is released to the warehouse
        answer = await release(client, fo_id)
        assert answer.status_code == 202
        record = await reaches(client, fo_id, "delivered")

    # then the OMS heard picked, packed, shipped (with tracking and what left), in transit, out for delivery, delivered
    tracking = record["tracking_number"]
    assert tracking.startswith("YMT") and len(tracking) == 13 and tracking[3:].isdigit()
    lines = [{"sku": "LEGO-76419", "quantity": 1}]
    assert oms.delivered() == [
        ("/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": "picked"}),
        ("/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": "packed"}),
        (
            "/v1/webhooks/warehouse",
            {
                "fulfillment_order_id": fo_id,
                "event": "shipped",
                "tracking_number": tracking,
                "carrier": "yamato",
                "lines": lines,
            },
        ),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "in_transit"}),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "out_for_delivery"}),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "delivered"}),
    ]


async def test_webhook_is_retried_while_the_oms_does_not_know_the_shipment_yet(engine: Engine) -> None:
    # given an OMS that answers 503 ("not known yet, try again") three times to "shipped"
    oms, fo_id = FakeOms(answers={"shipped": [503, 503, 503]}), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await reaches(client, fo_id, "delivered")

    # then "shipped" was sent until it was accepted, and the carrier events still followed
    shipped = [status for _, body, status in oms.calls if body["event"] == "shipped"]
    assert shipped == [503, 503, 503, 202]
    assert [body["event"] for _, body in oms.delivered()] == [*SHIP_FLOW]


@pytest.mark.parametrize("refusal", [422, 404])
async def test_a_refused_webhook_stops_the_sequence(engine: Engine, refusal: int) -> None:
    # given an OMS that refuses "packed" for good (a 4xx that retrying cannot fix: invalid, or no such order)
    oms, fo_id = FakeOms(answers={"packed": [refusal]}), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        record = await reaches(client, fo_id, "failed")
        await settle()

    # then it is not retried, nothing after it is sent, and the operator sees why
    assert [(body["event"], status) for _, body, status in oms.calls] == [("picked", 202), ("packed", refusal)]
    assert record["error"].startswith(f"packed: {refusal}")


async def test_an_order_that_closed_is_not_retried(engine: Engine) -> None:
    # given an OMS whose order has closed before the carrier's news arrives (409: no longer accepts events)
    oms, fo_id = FakeOms(answers={"in_transit": [409]}), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        record = await reaches(client, fo_id, "failed")
        await settle()

    # then the simulator gives up at once rather than knocking on a closed order
    assert [status for _, body, status in oms.calls if body["event"] == "in_transit"] == [409]
    assert record["error"].startswith("in_transit: 409")


async def test_the_same_fulfillment_order_twice_runs_once(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, delay_s=0.2) as client:
        # when the OMS retries its release of the same fulfillment order before any step was reported
        first, second = await release(client, fo_id), await release(client, fo_id)
        await reaches(client, fo_id, "delivered")
        await settle()
        received = (await client.get("/warehouse/fulfillment-orders")).json()

    # then both are accepted with the same record, one record exists, and one sequence of six webhooks was sent
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    assert [r["fulfillment_order_id"] for r in received] == [fo_id]
    assert oms.events() == [*SHIP_FLOW]


async def test_a_repeated_release_after_its_deadline_sends_the_latest_warehouse_webhook_again(engine: Engine) -> None:
    # given a fulfillment order that has shipped and been delivered, whose "shipped" the OMS says it never got
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await reaches(client, fo_id, "delivered")

        # when the OMS asks again by releasing it once more
        again = await release(client, fo_id)
        await until(lambda: oms.events().count("shipped") == 2, "shipped sent again")
        await settle()

    # then the answer is the record, and "shipped" (the latest warehouse news) arrived again, the same as before
    assert again.status_code == 202 and again.json()["status"] == "delivered"
    shipped = [body for _, body in oms.delivered() if body["event"] == "shipped"]
    assert shipped[0] == shipped[1]
    assert oms.events() == [*SHIP_FLOW, "shipped"]


async def test_off_mode_records_the_request_and_sends_nothing(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, mode="off") as client:
        answer = await release(client, fo_id)
        await settle()
        record = await status_of(client, fo_id)
        health = await client.get("/healthz")

    assert answer.status_code == 202
    assert record["status"] == "received"
    assert record["request"]["lines"] == [{"sku": "LEGO-76419", "quantity": 1}]
    assert oms.calls == []
    assert health.json()["status"] == "ok"


async def test_shutdown_stops_the_sends_in_flight_and_hands_them_back(engine: Engine) -> None:
    # given a fulfillment order whose "picked" the OMS keeps answering with 503, so it keeps being retried
    oms, fo_id = FakeOms(answers={"picked": [503] * 1000}), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.called.wait(), 5)

    # when the app has shut down, then nothing of it is left running in the background
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("webhook-", "simulator-sender"))]
    # and "picked" is still owed, due at once for the next simulator rather than held for the stopped one's lease
    with engine.connect() as conn:
        owed = conn.execute(
            select(simulator_webhooks.c.stage, simulator_webhooks.c.due_at <= func.now()).where(
                simulator_webhooks.c.fulfillment_order_id == fo_id, simulator_webhooks.c.state == "pending"
            )
        ).all()
    assert [tuple(row) for row in owed] == [("picked", True)]


async def test_a_pickup_order_is_made_ready_at_the_store_and_collected(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        # when a pickup fulfillment order is released to a store
        answer = await release_pickup(client, fo_id)
        assert answer.status_code == 202
        record = await reaches(client, fo_id, "picked_up")
        await settle()

    # then the store reports picked, packed, ready for pickup and, once the customer came, picked up
    assert oms.events() == [*PICKUP_FLOW]
    # and no carrier is involved: no tracking number, no carrier webhook
    assert (record["tracking_number"], record["carrier"]) == (None, None)
    assert all(path == "/v1/webhooks/warehouse" for path, _, _ in oms.calls)


async def test_a_location_set_to_reject_answers_with_one_rejected_event(engine: Engine) -> None:
    # given a simulator where STORE-SHIBUYA rejects everything
    oms, rejected_fo, rerouted_fo = FakeOms(), new_fo_id(1), new_fo_id(2)
    async with simulator(oms, engine, reject={"STORE-SHIBUYA"}) as client:
        # when a fulfillment order is released there
        await release(client, rejected_fo, location_id="STORE-SHIBUYA")
        record = await reaches(client, rejected_fo, "rejected")
        await settle()
        rejections = list(oms.calls)
        # and the OMS reroutes it to another location
        await release(client, rerouted_fo, location_id="DC-TOKYO")
        await reaches(client, rerouted_fo, "delivered")
        health = (await client.get("/healthz")).json()

    # then the store sent only "rejected", with the reason, and nothing else for it
    assert rejections == [
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": rejected_fo, "event": "rejected", "reason": "no capacity at STORE-SHIBUYA"},
            202,
        )
    ]
    assert record["tracking_number"] is None
    # and the other location fulfills the rerouted order as usual
    assert oms.events(rerouted_fo) == [*SHIP_FLOW]
    assert health["reject_locations"] == ["STORE-SHIBUYA"]


async def test_a_pickup_order_at_a_rejecting_store_is_rejected_too(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, reject={"STORE-SHIBUYA"}) as client:
        await release_pickup(client, fo_id)
        await reaches(client, fo_id, "rejected")
        await settle()

    assert oms.events() == ["rejected"]


# -- cancel -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery_method", "held", "sent_before"),
    [
        ("standard", "packed", ["picked"]),
        ("pickup", "ready_for_pickup", ["picked", "packed"]),
    ],
)
async def test_cancel_before_the_goods_leave_stops_every_later_webhook(
    engine: Engine, delivery_method: str, held: str, sent_before: list[str]
) -> None:
    # given a fulfillment order at a known step (the OMS holds its answer to `held`)
    oms, fo_id = FakeOms(hold=held), new_fo_id()
    location = "STORE-SHIBUYA" if delivery_method == "pickup" else "DC-TOKYO"
    async with simulator(oms, engine) as client:
        await release(client, fo_id, location_id=location, delivery_method=delivery_method)
        await asyncio.wait_for(oms.holding.wait(), 5)

        # when the OMS cancels it, and would then answer the webhook in flight
        answer = await cancel(client, fo_id)
        oms.resume.set()
        await settle()
        record = await status_of(client, fo_id)

    # then the location stopped it in time
    assert answer.status_code == 200
    assert answer.json() == {"fulfillment_order_id": fo_id, "canceled": True, "status": "canceled"}
    assert record["status"] == "canceled"
    # and nothing was sent after the steps before it (the one in flight was abandoned): no shipped / picked up
    assert oms.events() == sent_before


async def test_cancel_after_shipping_is_refused_and_the_delivery_goes_on(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        # given a fulfillment order that has shipped
        await release(client, fo_id)
        await reaches(client, fo_id, "delivered")
        # when the OMS tries to cancel it, twice
        first, second = await cancel(client, fo_id), await cancel(client, fo_id)
        record = await status_of(client, fo_id)

    # then both answers are 409 (too late), and the record still says what happened
    assert (first.status_code, second.status_code) == (409, 409)
    assert "already left" in first.json()["detail"]
    assert record["status"] == "delivered"
    assert oms.events() == [*SHIP_FLOW]


async def test_cancel_is_refused_from_the_moment_the_parcel_ships(engine: Engine) -> None:
    # given the parcel has left: "shipped" is being sent but the OMS has not answered it yet
    oms, fo_id = FakeOms(hold="shipped"), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
        # when the OMS cancels
        answer = await cancel(client, fo_id)
        oms.resume.set()
        await reaches(client, fo_id, "delivered")

    # then it is too late, and the delivery goes on to the end
    assert answer.status_code == 409
    assert oms.events() == [*SHIP_FLOW]


async def test_cancel_after_the_customer_picked_up_is_refused(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        await release_pickup(client, fo_id)
        await reaches(client, fo_id, "picked_up")
        answer = await cancel(client, fo_id)

    assert answer.status_code == 409


async def test_a_repeated_cancel_gets_the_same_answer(engine: Engine) -> None:
    oms, fo_id = FakeOms(hold="picked"), new_fo_id()
    async with simulator(oms, engine) as client:
        # given a fulfillment order the OMS has canceled
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
        first = await cancel(client, fo_id)
        # when the cancel is repeated (an activity retry)
        second, third = await cancel(client, fo_id), await cancel(client, fo_id)
        oms.resume.set()
        await settle()

    # then every answer is the same "stopped", and nothing more was sent
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json() == third.json()
    assert first.json()["canceled"] is True
    assert oms.calls == []


async def test_a_cancel_before_the_release_arrives_means_the_release_never_runs(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        # given the OMS canceled a fulfillment order the location never received
        answer = await cancel(client, fo_id)
        # when its release arrives late (a retried activity)
        released = await release(client, fo_id)
        await settle()
        record = await status_of(client, fo_id)

    # then the cancel is acknowledged, the release is recorded as canceled and nothing is ever sent
    assert answer.status_code == 200
    assert answer.json()["canceled"] is True
    assert released.status_code == 202
    assert record["status"] == "canceled"
    assert oms.calls == []


async def test_a_rejected_fulfillment_order_cancels_without_losing_its_rejection(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, reject={"DC-TOKYO"}) as client:
        await release(client, fo_id)
        await reaches(client, fo_id, "rejected")
        answer = await cancel(client, fo_id)

    # nothing will ship for it, so the cancel stands; the record keeps the location's answer
    assert answer.status_code == 200
    assert answer.json() == {"fulfillment_order_id": fo_id, "canceled": True, "status": "rejected"}


async def test_off_mode_cancels_a_received_fulfillment_order(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine, mode="off") as client:
        await release(client, fo_id)
        answer = await cancel(client, fo_id)
        record = await status_of(client, fo_id)

    assert answer.status_code == 200
    assert record["status"] == "canceled"
    assert oms.calls == []


# -- tracking ---------------------------------------------------------------------------------------


async def test_tracking_a_parcel_answers_its_latest_event_and_sends_it_again(engine: Engine) -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, engine) as client:
        # given a delivered parcel
        await release(client, fo_id)
        tracking = (await reaches(client, fo_id, "delivered"))["tracking_number"]

        # when the OMS asks the carrier where it is
        answer = await client.get(f"/carrier/parcels/{tracking}")
        await until(lambda: oms.events().count("delivered") == 2, "delivered sent again")
        unknown = await client.get("/carrier/parcels/YMT0000000000")

    # then the carrier answers "delivered", and the delivered webhook arrived once more
    assert answer.status_code == 200
    assert answer.json() == {"tracking_number": tracking, "status": "delivered"}
    assert oms.delivered()[-1] == ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "delivered"})
    # and a parcel the carrier never had is unknown to it
    assert unknown.status_code == 404


async def test_a_parcel_with_no_carrier_event_yet_is_shipped(engine: Engine) -> None:
    # given a parcel whose first carrier event ("in_transit") is on its way but not answered yet
    oms, fo_id = FakeOms(hold="in_transit"), new_fo_id()
    async with simulator(oms, engine) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
        tracking = (await status_of(client, fo_id))["tracking_number"]

        # when the OMS tracks it
        answer = await client.get(f"/carrier/parcels/{tracking}")
        oms.resume.set()
        await reaches(client, fo_id, "delivered")
        await settle()

    # then it is "shipped", and nothing was sent twice (there was no carrier news to repeat)
    assert answer.json() == {"tracking_number": tracking, "status": "shipped"}
    assert oms.events() == [*SHIP_FLOW]
