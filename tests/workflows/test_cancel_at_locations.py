"""A cancel is agreed with the locations before it is recorded: a partial one amends the fulfillment order, an
emptied one is stopped, and a location that has already picked makes the cancel of its units a refusal."""

from collections import Counter

from activities import contracts as act
from tests.workflows.conftest import (
    LEGO,
    LEGO_PRICE,
    TEA,
    Harness,
    lines,
    recorded,
    ship_and_deliver,
    start,
)
from tests.workflows.test_service_actions import refused, units
from workflows.messages import CANCEL_UPDATE, CancelRequest, CancelResult
from workflows.order import OrderWorkflow


def cancel(**by_sku: int) -> CancelRequest:
    return CancelRequest(lines=units(**by_sku), reason="changed my mind", actor="customer:C-1")


async def test_a_partial_cancel_amends_the_fulfillment_order_at_its_location_once(harness: Harness) -> None:
    # given two sets in one fulfillment order
    handle, answer = await start(harness, lines=lines(lego=2))
    (fo_id,) = answer.fulfillment_order_ids
    # when the customer cancels one of them
    result = await handle.execute_update(CANCEL_UPDATE, cancel(lego=1), result_type=CancelResult)
    # then the location was told to take one set off (keyed), nothing was stopped, and the order ships the other
    [amend] = harness.partners.of("amend", act.AmendRequest)
    assert (amend.fulfillment_order_id, amend.remove) == (fo_id, units(lego=1))
    assert amend.key == f"{handle.id}:cancel:1:amend:{fo_id}"
    assert "cancel_fulfillment" not in harness.partners.names()
    assert result.canceled == units(lego=1) and result.refused == []
    # and the shipment captures one set only
    await ship_and_deliver(handle, fo_id)
    assert (await handle.result()).status == "completed"
    assert harness.partners.captured == LEGO_PRICE


async def test_a_partial_cancel_the_location_is_too_late_for_is_refused_and_nothing_is_recorded(
    harness: Harness,
) -> None:
    # given an order whose location has already picked it
    handle, answer = await start(harness, lines=lines(lego=2))
    harness.partners.picked.add(answer.fulfillment_order_ids[0])
    # when the customer cancels one of the two sets
    reason = await refused(handle, CANCEL_UPDATE, cancel(lego=1))
    # then it is refused saying it is too late and what to do, and the order holds every unit
    assert "too late" in reason and "use a return" in reason and "DC-TOKYO" in reason
    assert not recorded(harness, "ItemsCanceled") and "release" not in harness.partners.names()
    order = await handle.query(OrderWorkflow.summary)
    assert order.line(LEGO).canceled == 0 and order.line(LEGO).allocated == 2
    # but a picked order can still be stopped whole: the location puts the goods back
    result = await handle.execute_update(
        CANCEL_UPDATE, CancelRequest(reason="all of it", actor="customer:C-1"), result_type=CancelResult
    )
    assert result.status == "canceled" and result.canceled == units(lego=2)


async def test_a_stop_the_location_is_too_late_for_is_refused_while_its_shipped_webhook_is_on_its_way(
    harness: Harness,
) -> None:
    # given an order its location has shipped, before the OMS has heard
    handle, answer = await start(harness, lines=lines(lego=1))
    (fo_id,) = answer.fulfillment_order_ids
    harness.partners.shipped[fo_id] = Counter({LEGO: 1})
    # when the customer cancels it
    reason = await refused(handle, CANCEL_UPDATE, CancelRequest(reason="too slow", actor="customer:C-1"))
    # then the cancel is refused as too late, nothing is released or voided, and the order waits for the webhook
    assert "too late" in reason and fo_id in reason
    assert "release" not in harness.partners.names() and "void" not in harness.partners.names()
    assert (await handle.query(OrderWorkflow.summary)).status == "accepted"


async def test_a_cancel_across_locations_cancels_what_can_be_and_names_what_could_not(harness: Harness) -> None:
    # given a set in Tokyo and a tea in Osaka, Tokyo has shipped already (its webhook is on its way)
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    tokyo, osaka = answer.fulfillment_order_ids
    harness.partners.shipped[tokyo] = Counter({LEGO: 1})
    # when the customer cancels both
    result = await handle.execute_update(CANCEL_UPDATE, cancel(lego=1, tea=1), result_type=CancelResult)
    # then the tea is canceled (Osaka's order stopped, its hold released), the set is not, and the answer says why
    assert result.canceled == units(tea=1) and result.refused == units(lego=1)
    assert result.refusal is not None and tokyo in result.refusal
    assert harness.partners.of("cancel_fulfillment", str) == [tokyo, osaka]
    assert [r.location_id for r in harness.partners.of("release", act.ReleaseRequest)] == ["DC-OSAKA"]
    order = await handle.query(OrderWorkflow.summary)
    assert (order.line(LEGO).canceled, order.line(TEA).canceled) == (0, 1)
