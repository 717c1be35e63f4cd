"""The order workflow on the time-skipping server: the 30-day return window passes in a moment."""

from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import contracts as act
from domain import events as ev
from domain.models import SkuQuantity
from tests.workflows.conftest import (
    Harness,
    recorded,
    ship,
    ship_and_deliver,
    start,
    start_only,
    tracking_for,
    update_names_in,
    wait_for_status,
)
from workflows.messages import (
    CANCEL_UPDATE,
    CARRIER_SIGNAL,
    CHECKOUT_UPDATE,
    WAREHOUSE_SIGNAL,
    CancelRequest,
    CancelResult,
    CarrierEvent,
    CheckoutResult,
    WarehouseEvent,
)
from workflows.order import OrderWorkflow
from workflows.search_attributes import ORDER_STATUS


async def test_happy_path_runs_from_checkout_through_the_return_window(harness: Harness) -> None:
    # given an order for one in-stock item paid with a good card
    handle, answer = await start(harness)

    # then checkout answers accepted with one fulfillment order
    assert answer.status == "accepted"
    assert answer.total == Decimal(24980)
    assert len(answer.fulfillment_order_ids) == 1

    # when the warehouse ships it and the carrier delivers it, and 30 days pass
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    outcome = await handle.result()

    # then the order completed, having captured exactly what shipped, once
    assert outcome.status == "completed"
    settled = [call for name, call in harness.partners.calls if name == "settle"]
    assert len(settled) == 1
    assert isinstance(settled[0], act.SettleRequest)
    assert settled[0].location_id == "DC-TOKYO"
    assert settled[0].capture.amount == Decimal(24980)
    assert settled[0].capture.idempotency_key == f"{handle.id}:capture:{answer.fulfillment_order_ids[0]}"
    # and the read model saw every event once, in order, ending completed
    seqs = [e.seq for b in harness.partners.batches for e in b.events]
    assert seqs == list(range(1, len(seqs) + 1))
    types = [e.event.type for b in harness.partners.batches for e in b.events]
    assert types[0] == "OrderPlaced" and types[-1] == "OrderCompleted"
    assert "InvoiceIssued" in types and "ShipmentDelivered" in types
    assert harness.partners.batches[-1].order.status == "completed"
    # and operators find it by status
    described = await handle.describe()
    assert described.typed_search_attributes.get(ORDER_STATUS) == "completed"


async def test_declined_payment_ends_the_order_with_nothing_reserved(harness: Harness) -> None:
    # given a card the gateway declines
    harness.partners.decline = True

    # when the order starts (a refused order closes at once, so its outcome is read from the result)
    handle = await start_only(harness)

    # then it ends declined with the gateway's reason recorded, and nothing was reserved
    assert (await handle.result()).status == "payment_declined"
    declined = recorded(harness, "PaymentDeclined")
    assert len(declined) == 1 and isinstance(declined[0], ev.PaymentDeclined)
    assert declined[0].reason == "card declined"
    assert "allocate" not in harness.partners.names()


async def test_missing_stock_voids_the_authorization(harness: Harness) -> None:
    # given no location holds the item
    harness.partners.in_stock = False

    # when the order starts
    handle = await start_only(harness)

    # then the order is unavailable and the authorization was voided with a derived key
    assert (await handle.result()).status == "unavailable"
    unavailable = recorded(harness, "OrderUnavailable")
    assert len(unavailable) == 1 and isinstance(unavailable[0], ev.OrderUnavailable)
    assert "LEGO-76419" in unavailable[0].reason
    assert len(recorded(harness, "AuthorizationVoided")) == 1
    voids = [call for name, call in harness.partners.calls if name == "void"]
    assert len(voids) == 1 and isinstance(voids[0], act.VoidRequest)
    assert voids[0].idempotency_key == f"{handle.id}:void:1"


async def test_transient_gateway_failures_are_retried_into_one_authorization(harness: Harness) -> None:
    # given a gateway that fails twice before answering
    harness.partners.flaky_authorizations = 2

    # when the storefront checks out
    handle, answer = await start(harness)

    # then the order is accepted after three attempts that all carried the same idempotency key
    assert answer.status == "accepted"
    keys = {call.idempotency_key for name, call in harness.partners.calls if isinstance(call, act.AuthorizeRequest)}
    assert len(keys) == 1
    assert harness.partners.names().count("authorize") == 3
    # (the order is run to its end so no half-finished workflow outlives this test's worker)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"


async def test_repeated_checkout_and_partner_events_change_nothing_twice(harness: Harness) -> None:
    # given an accepted order
    handle, first = await start(harness)
    fo_id = first.fulfillment_order_ids[0]

    # when the storefront checks out again and the warehouse and carrier repeat themselves
    again = await handle.execute_update(CHECKOUT_UPDATE, result_type=CheckoutResult)
    await ship_and_deliver(handle, fo_id)
    await ship_and_deliver(handle, fo_id)
    outcome = await handle.result()

    # then the second checkout got the same answer, told it is a repeat, and money moved once
    assert not first.repeated and again.repeated
    assert again.model_copy(update={"repeated": False}) == first
    assert outcome.status == "completed"
    assert harness.partners.names().count("authorize") == 1
    assert harness.partners.names().count("settle") == 1
    shipped = [e for b in harness.partners.batches for e in b.events if e.event.type == "ShipmentShipped"]
    assert len(shipped) == 1


async def test_the_summary_query_shows_the_live_order(harness: Harness) -> None:
    # given an accepted order that has shipped but not been delivered
    handle, answer = await start(harness)
    shipped = WarehouseEvent(
        fulfillment_order_id=answer.fulfillment_order_ids[0], event="shipped", tracking_number="YMT9", carrier="sagawa"
    )
    await handle.signal(WAREHOUSE_SIGNAL, shipped)

    # when an agent's screen queries it
    order = await handle.query(OrderWorkflow.summary)

    # then it is shipped, with the carrier's tracking number, and nothing is delivered yet
    assert order.status == "shipped"
    assert order.fulfillment_orders[0].tracking_number == "YMT9"
    assert order.lines[0].delivered == 0
    # (the order is run to its end so no half-finished workflow task outlives this test's worker)
    await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number="YMT9", event="delivered"))
    assert (await handle.result()).status == "completed"


async def test_a_full_cancel_before_shipment_releases_voids_and_closes_the_order(harness: Harness) -> None:
    # given an accepted order
    handle, _ = await start(harness)

    # when an agent cancels everything
    result = await handle.execute_update(
        CANCEL_UPDATE, CancelRequest(reason="customer changed mind", actor="agent"), result_type=CancelResult
    )

    # then the stock is released, the authorization voided, and the order ends canceled without a window
    assert result.status == "canceled"
    assert result.canceled == [SkuQuantity(sku="LEGO-76419", quantity=1)]
    releases = [call for name, call in harness.partners.calls if name == "release"]
    assert len(releases) == 1 and isinstance(releases[0], act.ReleaseRequest)
    assert releases[0].lines == [SkuQuantity(sku="LEGO-76419", quantity=1)]
    assert harness.partners.names().count("void") == 1
    assert (await handle.result()).status == "canceled"
    canceled = recorded(harness, "ItemsCanceled")
    assert len(canceled) == 1 and isinstance(canceled[0], ev.ItemsCanceled)
    assert canceled[0].actor == "agent" and canceled[0].reason == "customer changed mind"


async def test_a_partial_cancel_captures_only_what_ships_and_voids_the_rest(harness: Harness) -> None:
    # given an accepted order for three units of one sku and one of another
    lines = [
        {"sku": "LEGO-76419", "quantity": 3, "unit_price": "24980"},
        {"sku": "TEA-MATCHA-100", "quantity": 1, "unit_price": "2400"},
    ]
    handle, answer = await start(harness, lines=lines)

    # when two of the three are canceled, and the rest ships and is delivered
    partial = CancelRequest(lines=[SkuQuantity(sku="LEGO-76419", quantity=2)], reason="too many", actor="customer:C-1")
    result = await handle.execute_update(CANCEL_UPDATE, partial, result_type=CancelResult)
    assert result.status == "accepted"
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    outcome = await handle.result()

    # then only the remaining units were captured, and the unused authorization was voided afterwards
    assert outcome.status == "completed"
    settled = [call for name, call in harness.partners.calls if isinstance(call, act.SettleRequest)]
    assert [s.capture.amount for s in settled] == [Decimal(24980 + 2400)]
    assert harness.partners.names().index("void") > harness.partners.names().index("settle")
    voided = recorded(harness, "AuthorizationVoided")
    assert [v.amount for v in voided] == [Decimal(2 * 24980)]
    final = harness.partners.batches[-1].order
    assert final.line("LEGO-76419").canceled == 2 and final.line("LEGO-76419").delivered == 1


async def test_cancel_after_shipment_is_refused_with_a_reason_and_not_recorded(harness: Harness) -> None:
    # given an order that has shipped
    handle, answer = await start(harness)
    fo_id = answer.fulfillment_order_ids[0]
    await ship(handle, fo_id)
    await wait_for_status(handle, "shipped")

    # when an agent tries to cancel it
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CANCEL_UPDATE, CancelRequest(reason="late", actor="agent"))

    # then the refusal says to use a return, and the history holds no trace of the attempt
    assert "use a return" in str(refused.value.cause)
    assert CANCEL_UPDATE not in update_names_in(list((await handle.fetch_history()).events))
    await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number=tracking_for(fo_id), event="delivered"))
    assert (await handle.result()).status == "completed"
