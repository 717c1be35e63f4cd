"""A step that fails for good is compensated: holds released, what has not shipped stopped, the rest of the
authorization voided, each once. Every step that can fail so is failed in turn.

Local activities run at least once: a workflow task that fails before its markers are recorded runs
them again. "Once" therefore means once in effect: each compensation carries the same key every
time (or is a full release, which changes nothing the second time), and the partner applies it once.
"""

from decimal import Decimal

from activities import contracts as act
from domain import events as ev
from tests.workflows.conftest import (
    LEGO,
    LEGO_PRICE,
    TEA,
    Harness,
    final_order,
    lines,
    recorded,
    ship,
    start,
    wait_until,
)
from tests.workflows.test_fraud_review import SUSPICIOUS
from tests.workflows.test_service_actions import (
    delivered_and_captured,
    receive,
    refused,
    request_return,
    units,
)
from workflows.messages import (
    APPEASEMENT_UPDATE,
    CANCEL_UPDATE,
    REVIEW_UPDATE,
    AppeasementRequest,
    CancelRequest,
    ReviewDecision,
)
from workflows.order import OrderWorkflow


def appeasement(amount: int) -> AppeasementRequest:
    return AppeasementRequest(amount=Decimal(amount), reason="late delivery", actor="agent:A-7")


async def test_a_failed_authorization_leaves_nothing_to_undo_and_the_checkout_hears_why(harness: Harness) -> None:
    # given a gateway that refuses for good (not a decline)
    harness.partners.fail_step = "authorize"
    # when the order checks out
    handle, answer = await start(harness)
    # then it ends canceled with the reason, nothing was reserved and nothing voided
    assert answer.status == "canceled" and answer.reason and "authorize refused for good" in answer.reason
    assert (await handle.result()).status == "canceled"
    names = harness.partners.names()
    assert "allocate" not in names and "void" not in names
    assert "release" in names  # the full release is harmless when nothing is held


async def test_a_failed_allocation_voids_the_authorization_once(harness: Harness) -> None:
    # given an allocation step that fails for good after authorizing
    harness.partners.fail_step = "allocate"
    # when the order checks out
    handle, answer = await start(harness)
    # then whatever it may have reserved is released and the authorization voided, once
    assert answer.status == "canceled"
    assert (await handle.result()).status == "canceled"
    releases = [req for name, req in harness.partners.calls if name == "release"]
    assert releases and all(isinstance(r, act.ReleaseRequest) and r.lines is None for r in releases)
    voids = {req.idempotency_key for name, req in harness.partners.calls if isinstance(req, act.VoidRequest)}
    assert len(voids) == 1 and voids.pop().endswith(":void:1")


async def test_a_failed_settlement_stops_the_rest_and_voids_what_was_not_captured(harness: Harness) -> None:
    # given an order in two fulfillment orders whose first settlement fails for good
    harness.partners.stock = {"DC-TOKYO": {"LEGO-76419": 1}, "DC-OSAKA": {"TEA-MATCHA-100": 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    assert len(answer.fulfillment_order_ids) == 2
    harness.partners.fail_step = "settle"
    # when the first one ships
    await ship(handle, answer.fulfillment_order_ids[0])
    outcome = await handle.result()
    # then the unshipped one is stopped and canceled, holds released, and the whole authorization voided once
    calls = harness.partners.calls
    assert ("cancel_fulfillment", answer.fulfillment_order_ids[1]) in calls
    assert harness.partners.names().count("void") == 1
    order = final_order(harness)
    assert order.line("TEA-MATCHA-100").canceled == 1
    assert order.payment.captured == 0 and order.payment.voided == Decimal(24980 + 2400)
    assert outcome.status == "shipped"  # the first parcel did leave; nothing was charged for it


# -- service steps after delivery, and compensations that fail themselves -----------------------------------
async def test_a_refund_the_gateway_refuses_for_good_is_marked_for_an_agent_and_the_order_goes_on(
    harness: Harness,
) -> None:
    # given a delivered order whose return arrives while the gateway refuses refunds for good
    handle, answer = await start(harness, lines=lines(lego=1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    returned = await request_return(handle, *units(lego=1))
    harness.partners.fail_step = "refund"
    # when the unit arrives back resellable
    await receive(handle, returned.return_id, (LEGO, 1, "resellable"))
    # then it is restocked, the return waits on an agent with the reason, and nothing was refunded
    order = await wait_until(handle, lambda o: o.returns[0].status == "refund_failed", "the refund marked failed")
    assert order.payment.refunded == 0 and harness.partners.refunded == 0
    assert len(harness.partners.of("restock", act.RestockRequest)) == 1
    [failed] = recorded(harness, "RefundFailed")
    assert isinstance(failed, ev.RefundFailed) and failed.amount == LEGO_PRICE and "refund refused" in failed.reason
    # and the order still closes its window as usual
    assert (await handle.result()).status == "completed"


async def test_a_restock_failing_for_good_is_put_on_the_timeline_and_the_customer_is_refunded(
    harness: Harness,
) -> None:
    # given a delivered order whose returned unit cannot be restocked
    handle, answer = await start(harness, lines=lines(lego=1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    returned = await request_return(handle, *units(lego=1))
    harness.partners.fail_step = "restock"
    # when it arrives back
    await receive(handle, returned.return_id, (LEGO, 1, "resellable"))
    # then the refund still goes out once, and the timeline tells an operator what to see to
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the return refunded")
    assert order.payment.refunded == LEGO_PRICE and harness.partners.refunded == LEGO_PRICE
    [failed] = recorded(harness, "StepFailed")
    assert isinstance(failed, ev.StepFailed) and failed.step.startswith("restock 1 unit(s)")


async def test_an_appeasement_the_gateway_refuses_is_refused_and_not_recorded(harness: Harness) -> None:
    # given a delivered order and a gateway refusing refunds for good
    handle, answer = await start(harness, lines=lines(lego=1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    harness.partners.fail_step = "refund"
    # when an agent grants a goodwill refund
    reason = await refused(handle, APPEASEMENT_UPDATE, appeasement(500))
    # then the agent hears why and nothing is recorded as refunded
    assert "the gateway refused the refund" in reason
    assert not recorded(harness, "AppeasementGranted")
    assert (await handle.query(OrderWorkflow.summary)).payment.refunded == 0


async def test_a_hand_off_failing_for_good_on_approval_releases_stops_and_voids(harness: Harness) -> None:
    # given an order held for review whose locations refuse the hand-off for good
    handle, _ = await start(harness, **SUSPICIOUS)
    harness.partners.fail_step = "hand_off"
    # when an agent approves it
    await handle.execute_update(
        REVIEW_UPDATE, ReviewDecision(approve=True, reason="called the customer", actor="agent:A-7")
    )
    outcome = await handle.result()
    # then everything is given back and the authorization voided once
    assert outcome.status == "canceled"
    assert [r.lines for r in harness.partners.of("release", act.ReleaseRequest)] == [None]
    assert harness.partners.names().count("void") == 1
    assert final_order(harness).payment.voided == final_order(harness).payment.authorized


async def test_a_compensation_that_fails_itself_is_on_the_timeline_and_the_others_still_run(
    harness: Harness,
) -> None:
    # given an order in two fulfillment orders whose settlement fails for good, and whose release fails too
    harness.partners.stock = {"DC-TOKYO": {LEGO: 1}, "DC-OSAKA": {TEA: 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    harness.partners.fail_step = "settle"
    harness.partners.also_failing = {"release"}
    # when the first ships
    await ship(handle, answer.fulfillment_order_ids[0])
    await handle.result()
    # then the failed release is recorded for an operator, and the other fulfillment order is still
    # stopped and the authorization still voided, once
    [failed] = recorded(harness, "StepFailed")
    assert isinstance(failed, ev.StepFailed) and failed.step == "compensate: release every hold"
    assert ("cancel_fulfillment", answer.fulfillment_order_ids[1]) in harness.partners.calls
    assert harness.partners.names().count("void") == 1


async def test_a_cancel_whose_release_fails_for_good_stays_canceled_and_still_voids(harness: Harness) -> None:
    # given an accepted order and an inventory that refuses releases for good
    handle, _ = await start(harness, lines=lines(lego=1))
    harness.partners.fail_step = "release"
    # when the customer cancels everything
    await handle.execute_update(CANCEL_UPDATE, CancelRequest(reason="changed my mind", actor="customer:C-1"))
    outcome = await handle.result()
    # then the cancel holds, the failed release is on the timeline, and the authorization is voided
    assert outcome.status == "canceled"
    assert next(e.step for e in recorded(harness, "StepFailed")).startswith("release 1 unit(s)")
    assert harness.partners.names().count("void") == 1
