"""Orders the fraud screen flags wait on hold for an agent: approved they ship, rejected or ignored they end."""

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import contracts as act
from tests.workflows.conftest import Harness, final_order, recorded, ship_and_deliver, start
from workflows.messages import REVIEW_UPDATE, ActionResult, ReviewDecision

# 25 sets of 24,980 yen shipped to someone else's name: large (+40), bulk (+25), name differs (+10) = 75
SUSPICIOUS: dict[str, Any] = {
    "lines": [{"sku": "LEGO-76419", "quantity": 25, "unit_price": "24980"}],
    "shipping_address": {
        "name": "Someone Else",
        "line1": "1-1 Marunouchi",
        "city": "Chiyoda",
        "postal_code": "100-0005",
        "country": "JP",
        "latitude": 35.681,
        "longitude": 139.767,
    },
}


async def test_a_flagged_order_is_held_reserved_with_a_deadline_and_not_handed_to_any_location(
    harness: Harness,
) -> None:
    # when a suspicious order checks out
    handle, answer = await start(harness, **SUSPICIOUS)
    # then it is accepted on hold: reserved until the review deadline, nothing released to a location
    assert answer.status == "on_hold"
    allocate = next(req for name, req in harness.partners.calls if name == "allocate")
    assert isinstance(allocate, act.AllocateRequest) and allocate.hold_until is not None
    assert "hand_off" not in harness.partners.names()
    held = recorded(harness, "OrderHeld")
    assert len(held) == 1 and held[0].score >= 70
    await handle.terminate("test over")


async def test_an_approved_order_is_handed_off_and_runs_to_completion(harness: Harness) -> None:
    # given a held order
    handle, answer = await start(harness, **SUSPICIOUS)
    # when an agent approves it
    result = await handle.execute_update(
        REVIEW_UPDATE,
        ReviewDecision(approve=True, reason="called the customer", actor="agent:A-7"),
        result_type=ActionResult,
    )
    # then its fulfillment orders go to their locations, and it ships and completes as any other
    assert result.status == "accepted"
    hand_off = next(req for name, req in harness.partners.calls if name == "hand_off")
    assert isinstance(hand_off, act.HandOffRequest)
    assert [fo.fulfillment_order_id for fo in hand_off.fulfillment_orders] == answer.fulfillment_order_ids
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
    decided = recorded(harness, "ReviewDecided")
    assert decided[0].actor == "agent:A-7" and decided[0].approved


async def test_a_rejected_order_releases_its_stock_and_voids_its_authorization(harness: Harness) -> None:
    # given a held order
    handle, _ = await start(harness, **SUSPICIOUS)
    # when an agent rejects it
    result = await handle.execute_update(
        REVIEW_UPDATE, ReviewDecision(approve=False, reason="stolen card", actor="agent:A-7"), result_type=ActionResult
    )
    # then it is canceled: reservations released, authorization voided, never handed off
    assert result.status == "canceled"
    assert (await handle.result()).status == "canceled"
    names = harness.partners.names()
    assert "release" in names and names.count("void") == 1 and "hand_off" not in names


async def test_an_order_nobody_reviews_is_canceled_at_the_deadline(harness: Harness) -> None:
    # given a held order with a one-hour review window that nobody acts on
    handle, _ = await start(harness, review_seconds=timedelta(hours=1).total_seconds(), **SUSPICIOUS)
    # when the hour passes
    outcome = await handle.result()
    # then the system rejects it and gives everything back
    assert outcome.status == "canceled"
    decided = recorded(harness, "ReviewDecided")
    assert decided[0].actor == "system" and not decided[0].approved
    assert harness.partners.names().count("void") == 1
    assert final_order(harness).held is False


async def test_a_review_of_an_order_not_on_hold_is_refused(harness: Harness) -> None:
    # given an ordinary order
    handle, answer = await start(harness)
    # when an agent tries to review it
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(REVIEW_UPDATE, ReviewDecision(approve=True, reason="x", actor="agent:A-7"))
    # then the refusal says why
    assert "not on hold" in str(refused.value.cause)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
