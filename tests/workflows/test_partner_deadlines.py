"""Every wait on a partner has a deadline: past it the partner is asked again, silent once more the order needs a
person. Asking again is how a lost webhook arrives; news ends the wait, and the attention, on its own."""

from datetime import timedelta

from activities import contracts as act
from domain import events as ev
from tests.workflows.conftest import (
    DAY,
    Harness,
    deliver,
    lines,
    recorded,
    ship,
    start,
    tracking_for,
    wait_until,
)
from tests.workflows.test_compensation import retry
from workflows.order import OrderWorkflow

SLAS = {"fulfillment_sla_seconds": 3 * DAY, "delivery_sla_seconds": 14 * DAY}


async def test_a_location_silent_past_its_deadline_is_asked_again_then_the_order_needs_a_person(
    harness: Harness,
) -> None:
    # given an accepted order whose location never ships
    handle, answer = await start(harness, lines=lines(lego=1), workflow_options=SLAS)
    (fo_id,) = answer.fulfillment_order_ids
    # when three days pass
    await harness.env.sleep(timedelta(days=3, hours=1))
    # then the location is asked again (the release is sent again, so a lost webhook comes again)
    order = await wait_until(handle, lambda o: bool(harness.partners.of("hand_off", act.HandOffRequest)), "asked")
    [asked] = harness.partners.of("hand_off", act.HandOffRequest)
    assert [fo.fulfillment_order_id for fo in asked.fulfillment_orders] == [fo_id]
    assert order.attention is None
    # and when three more days pass in silence, the order needs a person, saying who is silent since when
    await harness.env.sleep(timedelta(days=3, hours=1))
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and "DC-TOKYO" in order.attention.reason and fo_id in order.attention.reason
    # and when the parcel finally ships, the attention clears by itself and the order goes on
    await ship(handle, fo_id)
    order = await wait_until(handle, lambda o: o.status == "shipped" and o.attention is None, "shipped, no attention")
    assert [e.type for e in recorded(harness, "AttentionCleared")] == ["AttentionCleared"]


async def test_a_parcel_the_carrier_went_quiet_on_is_found_delivered_by_asking(harness: Harness) -> None:
    # given a shipped order whose delivery webhook is lost, and a carrier that knows it was delivered
    handle, answer = await start(harness, lines=lines(lego=1), workflow_options=SLAS)
    (fo_id,) = answer.fulfillment_order_ids
    await ship(handle, fo_id)
    await wait_until(handle, lambda o: o.status == "shipped", "shipped")
    harness.partners.parcels[tracking_for(fo_id)] = "delivered"
    # when the delivery deadline passes
    await harness.env.sleep(timedelta(days=14, hours=1))
    # then the carrier was asked and the order is delivered without the webhook
    order = await wait_until(handle, lambda o: o.status == "delivered", "delivered by asking")
    assert ("track", tracking_for(fo_id)) in harness.partners.calls
    assert order.attention is None
    [asked] = recorded(harness, "PartnerAskedAgain")
    assert isinstance(asked, ev.PartnerAskedAgain) and asked.waiting_for == "delivery"


async def test_an_operator_retry_asks_a_silent_partner_again(harness: Harness) -> None:
    # given an order flagged because its location stayed silent after being asked again
    handle, answer = await start(harness, lines=lines(lego=1), workflow_options=SLAS)
    await harness.env.sleep(timedelta(days=6, hours=3))
    await wait_until(handle, lambda o: o.attention is not None, "attention")
    asked_before = len(harness.partners.of("hand_off", act.HandOffRequest))
    # when an operator, having called the location, retries
    result = await retry(handle)
    # then the location is asked again at once and the attention is cleared until the next deadline
    assert result.retried == [f"shipment of {answer.fulfillment_order_ids[0]}"] and result.attention is None
    await wait_until(
        handle, lambda o: len(harness.partners.of("hand_off", act.HandOffRequest)) > asked_before, "asked again"
    )
    assert (await handle.query(OrderWorkflow.summary)).attention is None


async def test_an_order_delivered_in_time_never_asks_anybody(harness: Harness) -> None:
    # given an order shipped and delivered within its deadlines
    handle, answer = await start(harness, lines=lines(lego=1), workflow_options=SLAS)
    (fo_id,) = answer.fulfillment_order_ids
    await harness.env.sleep(timedelta(days=2))
    await ship(handle, fo_id)
    await harness.env.sleep(timedelta(days=10))
    await deliver(handle, fo_id)
    # when its window closes
    outcome = await handle.result()
    # then nobody was asked again and nobody was needed
    assert outcome.status == "completed"
    assert not recorded(harness, "PartnerAskedAgain") and not recorded(harness, "AttentionNeeded")
    assert "hand_off" not in harness.partners.names() and "track" not in harness.partners.names()
