"""Lost or damaged units go out again at no charge; the order's own counts and money do not move."""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import contracts as act
from domain.models import SkuQuantity
from tests.workflows.conftest import (
    Harness,
    final_order,
    recorded,
    ship_and_deliver,
    start,
    wait_until,
    warehouse,
)
from workflows.messages import RESHIP_UPDATE, ActionResult, ReshipRequest


async def test_a_lost_unit_is_reshipped_free_within_the_window(harness: Harness) -> None:
    # given a delivered order
    handle, answer = await start(harness)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])

    # when an agent reships the unit the customer never found
    lost = ReshipRequest(lines=[SkuQuantity(sku="LEGO-76419", quantity=1)], reason="lost", actor="agent:A-1")
    result = await handle.execute_update(RESHIP_UPDATE, lost, result_type=ActionResult)

    # then a new fulfillment order carries it, ships without a capture, and the order still completes
    assert len(result.fulfillment_order_ids) == 1
    reship_id = result.fulfillment_order_ids[0]
    await ship_and_deliver(handle, reship_id)
    assert (await handle.result()).status == "completed"
    assert harness.partners.names().count("settle") == 1  # the original shipment only
    assert harness.partners.names().count("ship_reship") == 1
    order = final_order(harness)
    reshipped = order.fulfillment_order(reship_id)
    assert reshipped.reship and reshipped.status == "delivered" and reshipped.captured == 0
    assert order.line("LEGO-76419").delivered == 1  # the order's own count is unchanged
    assert order.payment.captured == order.total
    created = [e for e in recorded(harness, "FulfillmentOrderCreated") if e.reship]
    assert [(e.actor, e.reason) for e in created] == [("agent:A-1", "lost")]


async def test_a_reship_beyond_what_was_delivered_is_refused(harness: Harness) -> None:
    # given a delivered order of one unit that was reshipped once already
    handle, answer = await start(harness)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    one = ReshipRequest(lines=[SkuQuantity(sku="LEGO-76419", quantity=1)], reason="damaged", actor="agent:A-1")
    first = await handle.execute_update(RESHIP_UPDATE, one, result_type=ActionResult)

    # when a second reship of the same unit is asked for
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(RESHIP_UPDATE, one)

    # then it is refused with the count left
    assert "only 0 delivered unit(s) can be reshipped" in str(refused.value.cause)
    await ship_and_deliver(handle, first.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"


async def test_a_reship_its_location_rejects_goes_out_again_from_another_still_free(harness: Harness) -> None:
    # given a delivered order, and a reship released to Tokyo while Osaka has stock too
    harness.partners.stock = {"DC-TOKYO": {"LEGO-76419": 5}, "DC-OSAKA": {"LEGO-76419": 5}}
    handle, answer = await start(harness)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    lost = ReshipRequest(lines=[SkuQuantity(sku="LEGO-76419", quantity=1)], reason="lost", actor="agent:A-1")
    first = (await handle.execute_update(RESHIP_UPDATE, lost, result_type=ActionResult)).fulfillment_order_ids[0]

    # when Tokyo rejects the reship
    await warehouse(handle, first, "rejected", "damaged in the warehouse")

    # then its hold is released and a new reship goes to Osaka, with the order's own counts untouched
    order = await wait_until(handle, lambda o: len(o.fulfillment_orders) == 3, "the reship sent again")
    again = order.fulfillment_orders[-1]
    assert (again.reship, again.location_id, again.status) == (True, "DC-OSAKA", "released")
    line = order.line("LEGO-76419")
    assert (line.ordered, line.allocated, line.delivered) == (1, 1, 1)
    assert [r.fulfillment_order_id for r in harness.partners.of("release", act.ReleaseRequest)] == [first]
    # and it ships free and the order completes
    await ship_and_deliver(handle, again.id)
    assert (await handle.result()).status == "completed"
    assert harness.partners.names().count("settle") == 1
