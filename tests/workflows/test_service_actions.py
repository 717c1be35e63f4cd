"""What agents and customers do to an order: returns, appeasements and cancels, with the refusals they get."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

from activities import contracts as act
from domain import events as ev
from domain.models import SkuQuantity
from tests.workflows.conftest import (
    DAY,
    LEGO,
    LEGO_PRICE,
    TEA,
    TEA_PRICE,
    Handle,
    Harness,
    final_order,
    lines,
    recorded,
    recorded_types,
    ship,
    ship_and_deliver,
    start,
    update_names_in,
    wait_for_status,
    wait_until,
)
from tests.workflows.test_fulfilment_paths import wait_for_calls
from workflows.messages import (
    APPEASEMENT_UPDATE,
    CANCEL_UPDATE,
    RETURN_SIGNAL,
    RETURN_UPDATE,
    STOCK_RECEIVED_SIGNAL,
    AppeasementRequest,
    AppeasementResult,
    CancelRequest,
    CancelResult,
    ReturnedUnits,
    ReturnEvent,
    ReturnRequest,
    ReturnResult,
    StockReceived,
)
from workflows.order import OrderWorkflow


def units(**by_sku: int) -> list[SkuQuantity]:
    return [SkuQuantity(sku={"lego": LEGO, "tea": TEA}[k], quantity=n) for k, n in by_sku.items()]


async def request_return(handle: Handle, *wanted: SkuQuantity, store: str | None = None) -> ReturnResult:
    """By mail, or dropped off at `store`."""
    request = ReturnRequest(
        lines=list(wanted),
        reason="not as expected",
        method="in_store" if store else "mail",
        location_id=store,
        actor="customer:C-1",
    )
    result: ReturnResult = await handle.execute_update(RETURN_UPDATE, request, result_type=ReturnResult)
    return result


async def receive(handle: Handle, return_id: str, *arrived: tuple[str, int, str]) -> None:
    got = [ReturnedUnits(sku=sku, quantity=n, condition=condition) for sku, n, condition in arrived]
    await handle.signal(RETURN_SIGNAL, ReturnEvent(return_id=return_id, event="received", lines=got))


async def appease(handle: Handle, amount: int) -> AppeasementResult:
    request = AppeasementRequest(amount=Decimal(amount), reason="late delivery", actor="agent:A-7")
    result: AppeasementResult = await handle.execute_update(APPEASEMENT_UPDATE, request, result_type=AppeasementResult)
    return result


async def delivered_and_captured(handle: Handle, *fo_ids: str) -> None:
    for fo_id in fo_ids:
        await ship_and_deliver(handle, fo_id)
    await wait_until(handle, lambda o: o.status == "delivered" and all(f.invoice_id for f in o.fulfillment_orders))


async def refused(handle: Handle, update: str, request: object) -> str:
    """The update is refused: the reason it gives."""
    with pytest.raises(WorkflowUpdateFailedError) as refusal:
        await handle.execute_update(update, request)
    return str(refusal.value.cause)


# -- returns -------------------------------------------------------------------------------------
async def test_a_return_is_restocked_and_refunded_once_however_often_it_is_reported(harness: Harness) -> None:
    # given a delivered order for two sets and a tea, captured in one shipment from Tokyo
    handle, answer = await start(harness, lines=lines(2, 1))
    (fo_id,) = answer.fulfillment_order_ids
    await delivered_and_captured(handle, fo_id)

    # when the customer asks to return both sets by mail
    result = await request_return(handle, *units(lego=2))

    # then the return gets an RMA, a label, the shipping location and the refund it will get
    order_id = answer.order_id
    assert result.return_id == f"{order_id}-R1" and result.rma == f"RMA-{order_id}-1"
    assert result.label is not None and result.label.startswith("YMT-RET-")
    assert result.location_id == "DC-TOKYO"
    assert result.refund_estimate == 2 * LEGO_PRICE

    # when the warehouse receives one resellable and one damaged set, and reports it twice
    arrived = ((LEGO, 1, "resellable"), (LEGO, 1, "damaged"))
    await receive(handle, result.return_id, *arrived)
    await receive(handle, result.return_id, *arrived)
    outcome = await handle.result()

    # then only the resellable set went back to stock, once
    assert outcome.status == "completed"
    assert harness.partners.of("restock", act.RestockRequest) == [
        act.RestockRequest(return_id=result.return_id, location_id="DC-TOKYO", lines=units(lego=1))
    ]
    # and both sets were refunded once, against the shipment's capture
    final = final_order(harness)
    (refund,) = harness.partners.of("refund", act.RefundRequest)
    assert refund.idempotency_key == f"{handle.id}:refund:{result.return_id}:1"
    capture_id = final.fulfillment_orders[0].capture_id
    assert capture_id is not None
    assert refund.parts == [ev.RefundPart(fulfillment_order_id=fo_id, transaction_id=capture_id, amount=2 * LEGO_PRICE)]
    assert recorded_types(harness).count("ReturnReceived") == 1
    assert [r.amount for r in recorded(harness, "RefundIssued")] == [2 * LEGO_PRICE]
    assert (final.line(LEGO).returned, final.line(TEA).returned) == (2, 0)
    assert final.payment.refunded == 2 * LEGO_PRICE and final.returns[0].status == "refunded"
    assert final.status == "completed"  # returns do not change the status


async def test_returns_before_delivery_or_above_what_was_delivered_are_refused_and_not_recorded(
    harness: Harness,
) -> None:
    # given an order for two sets that has shipped but not arrived
    handle, answer = await start(harness, lines=lines(2))
    (fo_id,) = answer.fulfillment_order_ids
    await ship(handle, fo_id)
    await wait_for_status(handle, "shipped")

    # when the customer asks to return one, then
    early = ReturnRequest(lines=units(lego=1), reason="changed my mind", actor="customer:C-1")
    # it is refused: nothing was delivered yet
    assert "nothing on the order has been delivered yet" in await refused(handle, RETURN_UPDATE, early)

    # when both are delivered and the customer asks to return three
    await delivered_and_captured(handle, fo_id)
    too_many = ReturnRequest(lines=units(lego=3), reason="changed my mind", actor="customer:C-1")
    # then that is refused too, with what can be returned
    assert "only 2 of 2 delivered unit(s) can be returned" in await refused(handle, RETURN_UPDATE, too_many)
    # and so is a sku the order does not have
    other = ReturnRequest(lines=[SkuQuantity(sku="OTHER", quantity=1)], reason="?", actor="customer:C-1")
    assert "no line for OTHER" in await refused(handle, RETURN_UPDATE, other)

    # and none of the refused returns entered the history or moved money
    assert RETURN_UPDATE not in update_names_in(list((await handle.fetch_history()).events))
    assert (await handle.result()).status == "completed"
    assert "ReturnRequested" not in recorded_types(harness)
    assert "refund" not in harness.partners.names()


async def test_two_returns_open_at_once_on_one_order_both_settle(harness: Harness) -> None:
    # given a delivered order for two sets and a tea
    handle, answer = await start(harness, lines=lines(2, 1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)

    # when the customer opens one return for a set, then another for the other set and the tea
    first = await request_return(handle, *units(lego=1))
    second = await request_return(handle, *units(lego=1, tea=1), store="STORE-GINZA")
    assert (first.refund_estimate, second.refund_estimate) == (LEGO_PRICE, LEGO_PRICE + TEA_PRICE)
    assert (first.location_id, second.location_id, second.label) == ("DC-TOKYO", "STORE-GINZA", None)
    # then nothing more can be returned while both are open
    third = ReturnRequest(lines=units(lego=1), reason="again", actor="customer:C-1")
    assert "only 0 of 2" in await refused(handle, RETURN_UPDATE, third)

    # when the second arrives before the first, and the window passes
    await receive(handle, second.return_id, (LEGO, 1, "resellable"), (TEA, 1, "resellable"))
    await receive(handle, first.return_id, (LEGO, 1, "resellable"))
    assert (await handle.result()).status == "completed"

    # then each was restocked and refunded once, under its own key
    refunds = harness.partners.of("refund", act.RefundRequest)
    assert [(r.idempotency_key, sum(p.amount for p in r.parts)) for r in refunds] == [
        (f"{handle.id}:refund:{second.return_id}:1", LEGO_PRICE + TEA_PRICE),
        (f"{handle.id}:refund:{first.return_id}:1", LEGO_PRICE),
    ]
    assert [(r.return_id, r.location_id) for r in harness.partners.of("restock", act.RestockRequest)] == [
        (second.return_id, "STORE-GINZA"),
        (first.return_id, "DC-TOKYO"),
    ]
    final = final_order(harness)
    assert [r.status for r in final.returns] == ["refunded", "refunded"]
    assert final.payment.refunded == 2 * LEGO_PRICE + TEA_PRICE == final.payment.captured


async def test_a_return_asked_for_in_the_window_refunds_when_it_arrives_later_but_none_is_opened_after(
    harness: Harness,
) -> None:
    # given a delivered order for two sets with a 30-day window, and a return of one asked for on day 0
    handle, answer = await start(harness, lines=lines(2))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    opened = await request_return(handle, *units(lego=1))

    # when 31 days pass
    await harness.env.sleep(timedelta(days=31))

    # then a new return of the other set is refused: the window closed
    late = ReturnRequest(lines=units(lego=1), reason="after all", actor="customer:C-1")
    assert "the return window closed" in await refused(handle, RETURN_UPDATE, late)

    # when the set asked for in time arrives after the window
    await receive(handle, opened.return_id, (LEGO, 1, "resellable"))
    assert (await handle.result()).status == "completed"

    # then it is refunded all the same
    (requested,) = recorded(harness, "ReturnRequested")
    (refund,) = recorded(harness, "RefundIssued")
    assert refund.amount == LEGO_PRICE and refund.return_id == opened.return_id
    assert refund.at - requested.at >= timedelta(days=31)
    assert len(harness.partners.of("refund", act.RefundRequest)) == 1
    assert update_names_in(list((await handle.fetch_history()).events)).count(RETURN_UPDATE) == 1


# -- appeasements --------------------------------------------------------------------------------
async def test_appeasements_refund_against_the_captures_and_never_above_what_is_left(harness: Harness) -> None:
    # given a split order: the set ships from Tokyo, the tea from Osaka
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, lines=lines(1, 1))
    f1, f2 = answer.fulfillment_order_ids

    # when an agent offers a goodwill refund before anything was captured, then it is refused
    goodwill = AppeasementRequest(amount=Decimal(100), reason="late", actor="agent:A-7")
    assert "nothing has been captured" in await refused(handle, APPEASEMENT_UPDATE, goodwill)

    # when both ship and are captured, and the agent refunds more than the set's capture
    await delivered_and_captured(handle, f1, f2)
    result = await appease(handle, 25000)

    # then the refund runs over both captures, the set's first
    assert result.refunded == Decimal(25000)
    assert result.refundable_left == LEGO_PRICE + TEA_PRICE - 25000
    final = await wait_until(handle, lambda o: o.payment.refunded > 0, "the refund")
    captures = {fo.id: fo.capture_id for fo in final.fulfillment_orders}
    (refund,) = harness.partners.of("refund", act.RefundRequest)
    assert refund.idempotency_key == f"{handle.id}:appeasement:1:1"
    assert [(p.fulfillment_order_id, p.transaction_id, p.amount) for p in refund.parts] == [
        (f1, captures[f1], LEGO_PRICE),
        (f2, captures[f2], Decimal(20)),
    ]

    # when the customer returns the tea, 2,380 is owed to that return
    returned = await request_return(handle, *units(tea=1))
    assert returned.refund_estimate == TEA_PRICE - 20
    # then even one yen more goodwill is refused, though 2,380 is still captured and unrefunded
    one_more = AppeasementRequest(amount=Decimal(1), reason="sorry", actor="agent:A-7")
    assert "open returns included" in await refused(handle, APPEASEMENT_UPDATE, one_more)
    # and so is an amount with more decimals than yen allow
    fraction = AppeasementRequest(amount=Decimal("0.5"), reason="sorry", actor="agent:A-7")
    assert "more decimals than JPY" in await refused(handle, APPEASEMENT_UPDATE, fraction)

    # when the tea arrives and the window passes
    await receive(handle, returned.return_id, (TEA, 1, "resellable"))
    assert (await handle.result()).status == "completed"

    # then the return was refunded what was left, and nothing was ever refunded above a capture
    final = final_order(harness)
    assert [(p.fulfillment_order_id, p.amount) for p in harness.partners.of("refund", act.RefundRequest)[1].parts] == [
        (f2, TEA_PRICE - 20)
    ]
    assert final.payment.refunded == final.payment.captured == LEGO_PRICE + TEA_PRICE
    assert all(fo.refunded == fo.captured for fo in final.fulfillment_orders)
    (granted,) = recorded(harness, "AppeasementGranted")
    assert (granted.actor, granted.amount) == ("agent:A-7", Decimal(25000))
    assert update_names_in(list((await handle.fetch_history()).events)).count(APPEASEMENT_UPDATE) == 1


# -- cancels -------------------------------------------------------------------------------------
async def test_cancels_release_by_location_stop_emptied_fulfillment_orders_and_void_once(harness: Harness) -> None:
    # given three sets and a tea: two sets in Tokyo, the tea in Osaka, the third set backordered
    harness.partners.stock = {"DC-TOKYO": {LEGO: 2}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, backorder_seconds=14 * DAY, lines=lines(3, 1))
    assert answer.status == "backordered"
    f1, f2 = answer.fulfillment_order_ids

    # when the customer cancels one set
    one = CancelRequest(lines=units(lego=1), reason="only need two", actor="customer:C-1")
    result = await handle.execute_update(CANCEL_UPDATE, one, result_type=CancelResult)

    # then the backordered set went, which released nothing, and the order no longer waits
    assert result.status == "accepted"
    assert "release" not in harness.partners.names()
    assert (await handle.query(OrderWorkflow.summary)).backordered_until is None

    # when the tea is canceled
    tea = CancelRequest(lines=units(tea=1), reason="no tea", actor="customer:C-1")
    assert (await handle.execute_update(CANCEL_UPDATE, tea, result_type=CancelResult)).status == "accepted"

    # then Osaka's reservation is released and its emptied fulfillment order stopped
    releases = harness.partners.of("release", act.ReleaseRequest)
    assert [(r.location_id, r.lines, r.key) for r in releases] == [
        ("DC-OSAKA", units(tea=1), f"{handle.id}:cancel:2:{f2}")
    ]
    assert harness.partners.of("cancel_fulfillment", str) == [f2]
    assert "void" not in harness.partners.names()

    # when an agent cancels everything left
    rest = CancelRequest(reason="customer called", actor="agent:A-7")
    result = await handle.execute_update(CANCEL_UPDATE, rest, result_type=CancelResult)

    # then the two sets were released at Tokyo, Tokyo's fulfillment order stopped, and the payment voided once
    assert (result.status, result.canceled) == ("canceled", units(lego=2))
    releases = harness.partners.of("release", act.ReleaseRequest)
    assert [(r.location_id, r.lines, r.key) for r in releases[1:]] == [
        ("DC-TOKYO", units(lego=2), f"{handle.id}:cancel:3:{f1}")
    ]
    assert harness.partners.of("cancel_fulfillment", str) == [f2, f1]
    assert (await handle.result()).status == "canceled"
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [3 * LEGO_PRICE + TEA_PRICE]
    assert harness.partners.names().count("void") == 1
    assert [c.actor for c in recorded(harness, "ItemsCanceled")] == ["customer:C-1", "customer:C-1", "agent:A-7"]
    # and a cancel after the end is refused
    final = final_order(harness)
    assert final.cancel_refusal(None) == "the order is canceled and can no longer be canceled"


async def test_the_authorization_is_voided_only_after_a_capture_in_flight_lands(harness: Harness) -> None:
    # given a split order whose gateway is slow to capture (a short workflow task timeout lets messages
    # reach the order while the capture is still running)
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, lines=lines(1, 1), task_timeout=timedelta(seconds=1))
    f1, _ = answer.fulfillment_order_ids
    capture_lands = harness.partners.held["settle"] = asyncio.Event()

    # when Tokyo ships, and while its capture runs the customer cancels the tea that Osaka still holds
    await ship(handle, f1)
    await wait_until(handle, lambda o: o.status == "partially_shipped", "shipped")
    tea = CancelRequest(lines=units(tea=1), reason="no tea", actor="customer:C-1")
    result = await asyncio.wait_for(handle.execute_update(CANCEL_UPDATE, tea, result_type=CancelResult), 10)
    assert result.status == "shipped"

    # then nothing is voided while the set's capture is outstanding
    assert "void" not in harness.partners.names()

    # when the capture lands, and the set is delivered
    capture_lands.set()
    await wait_until(handle, lambda o: o.payment.voided > 0, "the void")
    await ship_and_deliver(handle, f1)
    outcome = await asyncio.wait_for(handle.result(), 20)

    # then the set was captured in full and only the tea's share was voided, after the capture
    assert outcome.status == "completed"
    names = harness.partners.names()
    assert names.index("void") > names.index("settle")
    assert [v.amount for v in recorded(harness, "AuthorizationVoided")] == [TEA_PRICE]
    assert final_order(harness).payment.captured == LEGO_PRICE


async def test_a_cancel_waits_for_an_allocation_in_flight(harness: Harness) -> None:
    # given two sets ordered, one in stock and one backordered, and routing that is slow to answer
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}}
    handle, answer = await start(harness, backorder_seconds=14 * DAY, lines=lines(2), task_timeout=timedelta(seconds=1))
    (f1,) = answer.fulfillment_order_ids
    routed = harness.partners.held["allocate"] = asyncio.Event()

    # when stock arrives in Osaka and, while the order routes the backordered set there, the customer cancels one set
    harness.partners.stock["DC-OSAKA"] = {LEGO: 1}
    await handle.signal(STOCK_RECEIVED_SIGNAL, StockReceived(location_id="DC-OSAKA", sku=LEGO, quantity=1))
    await wait_for_calls(harness, "allocate", 2)
    one = CancelRequest(lines=units(lego=1), reason="only need one", actor="customer:C-1")
    # the cancel is accepted (past its validator) while the routing is still out
    cancel = await handle.start_update(
        CANCEL_UPDATE, one, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=CancelResult
    )
    routed.set()
    result = await asyncio.wait_for(cancel.result(), 10)

    # then the cancel took effect after the set was routed: one of the two reserved sets was released
    assert result.status == "accepted"
    order = await wait_until(handle, lambda o: o.line(LEGO).canceled == 1, "the cancel")
    assert (order.line(LEGO).allocated, order.line(LEGO).unallocated) == (1, 0)
    (release,) = harness.partners.of("release", act.ReleaseRequest)
    assert release.lines == units(lego=1)
    open_fos = [fo for fo in order.fulfillment_orders if fo.open]
    assert len(open_fos) == 1

    # and the order runs on to the end
    await ship_and_deliver(handle, open_fos[0].id)
    assert (await asyncio.wait_for(handle.result(), 20)).status == "completed"
    assert [s.capture.amount for s in harness.partners.of("settle", act.SettleRequest)] == [LEGO_PRICE]
    assert f1 in {fo.id for fo in order.fulfillment_orders}


async def test_a_unit_returned_before_the_rest_ships_is_refunded_when_it_arrives(harness: Harness) -> None:
    # given an order split in two, the LEGO set delivered and paid, the tea still at its location
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    lego_fo, tea_fo = answer.fulfillment_order_ids
    await ship_and_deliver(handle, lego_fo)
    await wait_until(handle, lambda o: o.fulfillment_order(lego_fo).invoice_id is not None, "the set captured")
    # when the set is returned and arrives back
    returned = await request_return(handle, *units(lego=1))
    await receive(handle, returned.return_id, (LEGO, 1, "resellable"))
    # then it is restocked and refunded at once, while the tea is still to ship
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the early return refunded")
    assert order.fulfillment_order(tea_fo).status == "released"
    assert order.payment.refunded == LEGO_PRICE and harness.partners.refunded == LEGO_PRICE
