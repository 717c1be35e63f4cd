"""Routing paths of the order workflow: split orders, rejected fulfillment orders, backorders, pickups.

The time-skipping server lets backorder limits and pickup deadlines pass in a moment; between client
calls time stands still, so a test sends partner events in the order it wants and then awaits the end.
"""

import asyncio
from datetime import timedelta

from activities import contracts as act
from domain.models import SkuQuantity
from tests.workflows.conftest import (
    DAY,
    LEGO,
    LEGO_PRICE,
    TEA,
    TEA_PRICE,
    Harness,
    deliver,
    final_order,
    lines,
    recorded,
    recorded_types,
    ship,
    ship_and_deliver,
    start,
    wait_for_status,
    wait_until,
    wait_until_projected,
    warehouse,
)
from workflows.messages import STOCK_RECEIVED_SIGNAL, StockReceived


def statuses(h: Harness) -> list[str]:
    """The order's statuses as the read model saw them change, without repeats."""
    seen: list[str] = []
    for batch in h.partners.batches:
        if not seen or seen[-1] != batch.order.status:
            seen.append(batch.order.status)
    return seen


async def wait_for_calls(h: Harness, name: str, n: int) -> None:
    for _ in range(200):
        if h.partners.names().count(name) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} was called {h.partners.names().count(name)} time(s), not {n}")


# -- split ---------------------------------------------------------------------------------------
async def test_a_split_order_ships_and_captures_each_fulfillment_order_on_its_own(harness: Harness) -> None:
    # given no single location holds both skus: Tokyo has the LEGO sets, Osaka the tea
    harness.partners.stock = {"DC-TOKYO": {LEGO: 2}, "DC-OSAKA": {TEA: 5}}

    # when the customer checks out two sets and one tea
    handle, answer = await start(harness, lines=lines(2, 1))

    # then the order is accepted with two fulfillment orders, one per location
    assert answer.status == "accepted"
    f1, f2 = answer.fulfillment_order_ids
    created = recorded(harness, "FulfillmentOrderCreated")
    assert [(c.fulfillment_order_id, c.location_id, c.lines) for c in created] == [
        (f1, "DC-TOKYO", [SkuQuantity(sku=LEGO, quantity=2)]),
        (f2, "DC-OSAKA", [SkuQuantity(sku=TEA, quantity=1)]),
    ]

    # when Tokyo ships and its parcel is delivered
    await ship_and_deliver(handle, f1)
    order = await wait_until(handle, lambda o: o.payment.captured > 0, "the first capture")

    # then only Tokyo's part is captured, and the order is partially shipped
    assert order.status == "partially_shipped"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount) for s in settled] == [("DC-TOKYO", 2 * LEGO_PRICE)]

    # when Osaka ships and delivers too, and the return window passes
    await ship(handle, f2)
    await wait_for_status(handle, "shipped")
    await deliver(handle, f2)
    outcome = await handle.result()

    # then each shipment was captured on its own, with its own key, amount and invoice
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount, s.capture.idempotency_key) for s in settled] == [
        ("DC-TOKYO", 2 * LEGO_PRICE, f"{handle.id}:capture:{f1}"),
        ("DC-OSAKA", TEA_PRICE, f"{handle.id}:capture:{f2}"),
    ]
    invoices = recorded(harness, "InvoiceIssued")
    assert [(i.invoice_id, i.fulfillment_order_id, i.amount) for i in invoices] == [
        (f"INV-{f1}", f1, 2 * LEGO_PRICE),
        (f"INV-{f2}", f2, TEA_PRICE),
    ]
    # and everything authorized was captured, so nothing was voided
    assert "void" not in harness.partners.names()
    final = final_order(harness)
    assert final.payment.captured == final.payment.authorized == 2 * LEGO_PRICE + TEA_PRICE
    assert [fo.captured for fo in final.fulfillment_orders] == [2 * LEGO_PRICE, TEA_PRICE]
    assert statuses(harness) == ["accepted", "partially_shipped", "shipped", "delivered", "completed"]


# -- reroute -------------------------------------------------------------------------------------
async def test_a_rejected_fulfillment_order_is_released_and_rerouted_to_another_location(harness: Harness) -> None:
    # given Tokyo and Osaka both hold the set, Tokyo first
    harness.partners.stock = {"DC-TOKYO": {LEGO: 5}, "DC-OSAKA": {LEGO: 5}}
    handle, answer = await start(harness)
    (f1,) = answer.fulfillment_order_ids

    # when Tokyo rejects its fulfillment order
    await warehouse(handle, f1, "rejected", reason="damaged in the racking")
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 2, "a second fulfillment order")

    # then Tokyo's reservation is released under a key of its own
    releases = harness.partners.of("release", act.ReleaseRequest)
    assert [(r.location_id, r.lines, r.key) for r in releases] == [
        ("DC-TOKYO", [SkuQuantity(sku=LEGO, quantity=1)], f"{handle.id}:rejected:{f1}")
    ]
    # and the units are routed again, away from Tokyo, as the order's second fulfillment order
    again = harness.partners.of("allocate", act.AllocateRequest)[1]
    assert again.excluded == ["DC-TOKYO"]
    assert again.first_number == 2
    assert again.lines == [SkuQuantity(sku=LEGO, quantity=1)]
    f2 = order.fulfillment_orders[1]
    assert (f2.id, f2.location_id, f2.status) == (f"{order.order_id}-F2", "DC-OSAKA", "released")
    assert order.fulfillment_orders[0].status == "rejected"
    assert order.status == "accepted"
    assert recorded(harness, "FulfillmentOrderRejected")[0].reason == "damaged in the racking"

    # when Osaka ships and delivers, and the window passes
    await ship_and_deliver(handle, f2.id)
    outcome = await handle.result()

    # then the order completed, captured once from Osaka, and never voided
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount) for s in settled] == [("DC-OSAKA", LEGO_PRICE)]
    assert "void" not in harness.partners.names()
    assert final_order(harness).line(LEGO).delivered == 1


async def test_a_location_that_rejected_is_never_used_again_and_without_backorders_the_units_are_canceled(
    harness: Harness,
) -> None:
    # given Tokyo and Osaka both hold the set, and the channel does not backorder
    harness.partners.stock = {"DC-TOKYO": {LEGO: 5}, "DC-OSAKA": {LEGO: 5}}
    handle, answer = await start(harness, backorder_seconds=None)
    (f1,) = answer.fulfillment_order_ids

    # when Tokyo rejects, and then Osaka rejects the rerouted fulfillment order too
    await warehouse(handle, f1, "rejected")
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 2, "a second fulfillment order")
    await warehouse(handle, order.fulfillment_orders[1].id, "rejected")
    outcome = await handle.result()

    # then the third routing excluded both locations though Tokyo still has stock, and found nowhere
    allocations = harness.partners.of("allocate", act.AllocateRequest)
    assert [(a.excluded, a.first_number) for a in allocations] == [
        ([], 1),
        (["DC-TOKYO"], 2),
        (["DC-OSAKA", "DC-TOKYO"], 3),
    ]
    assert harness.partners.available("DC-TOKYO", LEGO) == 5
    # so the units were canceled by the system at once, both reservations released, and the payment voided
    assert outcome.status == "canceled"
    canceled = recorded(harness, "ItemsCanceled")
    assert [(c.actor, c.lines) for c in canceled] == [("system", [SkuQuantity(sku=LEGO, quantity=1)])]
    releases = harness.partners.of("release", act.ReleaseRequest)
    assert [r.location_id for r in releases] == ["DC-TOKYO", "DC-OSAKA"]
    assert len({r.key for r in releases}) == 2
    assert harness.partners.names().count("void") == 1
    assert "settle" not in harness.partners.names()
    assert "LinesBackordered" not in recorded_types(harness)


async def test_a_location_that_rejected_is_never_used_again_while_backordered_units_wait(harness: Harness) -> None:
    # given Tokyo and Osaka both hold the set, and the channel backorders for three days
    harness.partners.stock = {"DC-TOKYO": {LEGO: 5}, "DC-OSAKA": {LEGO: 1}}
    handle, answer = await start(harness, backorder_seconds=3 * DAY)
    (f1,) = answer.fulfillment_order_ids

    # when both locations reject in turn
    await warehouse(handle, f1, "rejected")
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 2, "a second fulfillment order")
    await warehouse(handle, order.fulfillment_orders[1].id, "rejected")

    # then the unit waits as a backorder
    order = await wait_for_status(handle, "backordered")
    assert order.backordered_until is not None

    # when stock is received (at Tokyo, which rejected the order)
    harness.partners.stock["DC-TOKYO"][LEGO] += 10
    await handle.signal(STOCK_RECEIVED_SIGNAL, StockReceived(location_id="DC-TOKYO", sku=LEGO, quantity=10))
    await wait_for_calls(harness, "allocate", 4)

    # then the new routing still excludes both, so no fulfillment order goes back to Tokyo
    assert harness.partners.of("allocate", act.AllocateRequest)[3].excluded == ["DC-OSAKA", "DC-TOKYO"]
    assert len((await wait_for_status(handle, "backordered")).fulfillment_orders) == 2

    # when the backorder limit passes
    outcome = await handle.result()

    # then the system canceled the unit at the limit and voided the authorization
    assert outcome.status == "canceled"
    backordered = recorded(harness, "LinesBackordered")
    canceled = recorded(harness, "ItemsCanceled")
    assert len(backordered) == 1 and len(canceled) == 1
    assert canceled[0].actor == "system" and canceled[0].at >= backordered[0].until
    assert harness.partners.names().count("void") == 1
    created = recorded(harness, "FulfillmentOrderCreated")
    assert [c.location_id for c in created] == ["DC-TOKYO", "DC-OSAKA"]


async def test_units_rejected_while_others_wait_on_a_backorder_are_rerouted_at_once(harness: Harness) -> None:
    # given a split order with one set backordered: Tokyo has one set, Nagoya (the nearer) and Osaka have tea
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}, "DC-NAGOYA": {TEA: 1}}
    handle, answer = await start(harness, backorder_seconds=14 * DAY, lines=lines(2, 1))
    assert answer.status == "backordered"
    f1, f2 = answer.fulfillment_order_ids

    # when Nagoya rejects the tea
    await warehouse(handle, f2, "rejected")

    # then the tea goes to Osaka at once, without waiting for stock or for the backorder limit
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 3, "the tea rerouted")
    assert (order.fulfillment_orders[2].location_id, order.fulfillment_orders[2].lines) == (
        "DC-OSAKA",
        [SkuQuantity(sku=TEA, quantity=1)],
    )
    assert order.status == "backordered"  # the second set still waits

    # when the rest ships and the limit passes without stock for the second set
    await ship_and_deliver(handle, f1)
    await ship_and_deliver(handle, order.fulfillment_orders[2].id)
    outcome = await handle.result()

    # then what shipped was captured, the missing set canceled, and the rest of the authorization voided
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount) for s in settled] == [("DC-TOKYO", LEGO_PRICE), ("DC-OSAKA", TEA_PRICE)]
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [LEGO_PRICE]


# -- backorders ----------------------------------------------------------------------------------
async def test_backordered_units_are_allocated_when_stock_is_received(harness: Harness) -> None:
    # given two of three sets in stock and a channel that backorders for two weeks
    harness.partners.stock = {"DC-TOKYO": {LEGO: 2}}

    # when the customer checks out three
    handle, answer = await start(harness, backorder_seconds=14 * DAY, lines=lines(3))

    # then the order is accepted as backordered: two allocated, one waiting until the limit
    assert answer.status == "backordered"
    assert len(answer.fulfillment_order_ids) == 1
    (backordered,) = recorded(harness, "LinesBackordered")
    assert backordered.lines == [SkuQuantity(sku=LEGO, quantity=1)]
    assert backordered.until - backordered.at == timedelta(days=14)

    # when stock arrives in Osaka and the inventory tells the order
    harness.partners.stock["DC-OSAKA"] = {LEGO: 4}
    await handle.signal(STOCK_RECEIVED_SIGNAL, StockReceived(location_id="DC-OSAKA", sku=LEGO, quantity=4))
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 2, "the backorder allocated")

    # then only the missing set was routed, as the second fulfillment order, and the backorder is over
    again = harness.partners.of("allocate", act.AllocateRequest)[1]
    assert (again.lines, again.first_number) == ([SkuQuantity(sku=LEGO, quantity=1)], 2)
    assert order.status == "accepted" and order.backordered_until is None
    assert order.line(LEGO).allocated == 3

    # when both ship and are delivered, and the window passes
    for fo in order.fulfillment_orders:
        await ship_and_deliver(handle, fo.id)
    outcome = await handle.result()

    # then everything was captured, per shipment, and nothing canceled or voided
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount) for s in settled] == [
        ("DC-TOKYO", 2 * LEGO_PRICE),
        ("DC-OSAKA", LEGO_PRICE),
    ]
    assert "ItemsCanceled" not in recorded_types(harness)
    assert "void" not in harness.partners.names()


async def test_backordered_units_are_canceled_at_the_limit_and_the_rest_of_the_authorization_voided(
    harness: Harness,
) -> None:
    # given three sets ordered, two in stock, and a two-week backorder limit
    harness.partners.stock = {"DC-TOKYO": {LEGO: 2}}
    handle, answer = await start(harness, backorder_seconds=14 * DAY, lines=lines(3))
    assert answer.status == "backordered"

    # when the two ship and are delivered, then two weeks pass without stock (and the window after them)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    await wait_until(handle, lambda o: o.payment.captured > 0, "the capture")
    assert (await wait_for_status(handle, "partially_shipped")).backordered_until is not None
    outcome = await handle.result()

    # then the system canceled the missing set at the limit, and voided what was left uncaptured
    assert outcome.status == "completed"
    (backordered,) = recorded(harness, "LinesBackordered")
    (canceled,) = recorded(harness, "ItemsCanceled")
    assert canceled.actor == "system"
    assert canceled.lines == [SkuQuantity(sku=LEGO, quantity=1)]
    assert backordered.until <= canceled.at < backordered.until + timedelta(minutes=1)
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [LEGO_PRICE]
    names = harness.partners.names()
    assert names.count("void") == 1 and names.index("void") > names.index("settle")
    # and canceling an unallocated unit released nothing
    assert "release" not in names
    final = final_order(harness)
    assert (final.line(LEGO).canceled, final.line(LEGO).delivered) == (1, 2)


async def test_without_a_backorder_policy_unfillable_units_are_canceled_at_once(harness: Harness) -> None:
    # given three sets ordered, two in stock, and a channel that does not backorder
    harness.partners.stock = {"DC-TOKYO": {LEGO: 2}}

    # when the customer checks out
    handle, answer = await start(harness, backorder_seconds=None, lines=lines(3))

    # then the order is accepted for two, and the third was canceled by the system before the answer
    assert answer.status == "accepted"
    (canceled,) = recorded(harness, "ItemsCanceled")
    assert (canceled.actor, canceled.lines) == ("system", [SkuQuantity(sku=LEGO, quantity=1)])
    assert "LinesBackordered" not in recorded_types(harness)
    assert "release" not in harness.partners.names()

    # when the two ship and are delivered
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"

    # then the two were captured and the third's share of the authorization voided afterwards
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [s.capture.amount for s in settled] == [2 * LEGO_PRICE]
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [LEGO_PRICE]


# -- pickup --------------------------------------------------------------------------------------
PICKUP = {"delivery_method": "pickup", "pickup_location_id": "STORE-GINZA"}


async def test_a_pickup_order_is_captured_when_the_customer_collects_it(harness: Harness) -> None:
    # given the nearest DC has the set but the customer picks up at the Ginza store, which has it too
    harness.partners.stock = {"DC-TOKYO": {LEGO: 5}, "STORE-GINZA": {LEGO: 1}}
    handle, answer = await start(harness, **PICKUP)

    # then the order is routed to the store
    (fo_id,) = answer.fulfillment_order_ids
    assert harness.partners.of("allocate", act.AllocateRequest)[0].pickup_location_id == "STORE-GINZA"
    assert recorded(harness, "FulfillmentOrderCreated")[0].location_id == "STORE-GINZA"

    # when the store has it ready
    await warehouse(handle, fo_id, "ready_for_pickup")
    order = await wait_for_status(handle, "ready_for_pickup")

    # then nothing is captured yet, and agents and the customer see it waiting at the store
    assert order.payment.captured == 0 and "settle" not in harness.partners.names()
    assert (await wait_until_projected(harness, handle)).status == "ready_for_pickup"

    # when the customer collects it, and the window passes
    await warehouse(handle, fo_id, "picked_up")
    order = await wait_until(handle, lambda o: o.payment.captured > 0, "the capture at pickup")
    assert order.status == "delivered"
    outcome = await handle.result()

    # then it was captured at the store at pickup, and delivered without a carrier
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.location_id, s.capture.amount) for s in settled] == [("STORE-GINZA", LEGO_PRICE)]
    types = recorded_types(harness)
    assert types.index("ReadyForPickup") < types.index("PickedUp") < types.index("PaymentCaptured")
    assert "ShipmentShipped" not in types and "ShipmentDelivered" not in types
    line = final_order(harness).line(LEGO)
    assert (line.shipped, line.delivered) == (1, 1)


async def test_a_pickup_reported_without_a_ready_event_still_counts(harness: Harness) -> None:
    # given a pickup order at the Ginza store
    harness.partners.stock = {"STORE-GINZA": {LEGO: 1}}
    handle, answer = await start(harness, **PICKUP)

    # when the store reports it collected without having reported it ready
    await warehouse(handle, answer.fulfillment_order_ids[0], "picked_up")

    # then it is picked up, captured, and the order runs to completion
    assert (await handle.result()).status == "completed"
    assert recorded_types(harness).count("PickedUp") == 1
    assert [s.capture.amount for s in harness.partners.of("settle", act.SettleRequest)] == [LEGO_PRICE]


async def test_a_pickup_order_not_collected_in_time_is_canceled_released_and_voided(harness: Harness) -> None:
    # given a pickup order held three days at the store, ready for the customer
    harness.partners.stock = {"STORE-GINZA": {LEGO: 1}}
    handle, answer = await start(harness, pickup_hold_seconds=3 * DAY, **PICKUP)
    (fo_id,) = answer.fulfillment_order_ids
    await warehouse(handle, fo_id, "ready_for_pickup")
    await wait_for_status(handle, "ready_for_pickup")

    # when three days pass without the customer
    outcome = await handle.result()

    # then the system canceled the lines at the deadline
    assert outcome.status == "canceled"
    (ready,) = recorded(harness, "ReadyForPickup")
    (canceled,) = recorded(harness, "ItemsCanceled")
    assert ready.collect_by - ready.at == timedelta(days=3)
    assert ready.collect_by <= canceled.at < ready.collect_by + timedelta(minutes=1)
    assert (canceled.actor, canceled.lines) == ("system", [SkuQuantity(sku=LEGO, quantity=1)])
    # and released the store's reservation, stopped the fulfillment order and voided the whole authorization
    (release,) = harness.partners.of("release", act.ReleaseRequest)
    assert (release.location_id, release.lines) == ("STORE-GINZA", [SkuQuantity(sku=LEGO, quantity=1)])
    assert release.key == f"{handle.id}:cancel:1:{fo_id}"
    assert harness.partners.of("cancel_fulfillment", str) == [fo_id]
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [LEGO_PRICE]
    assert "settle" not in harness.partners.names()
    assert final_order(harness).fulfillment_orders[0].status == "canceled"
