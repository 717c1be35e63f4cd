"""A step that fails for good at checkout is compensated: holds released, what has not shipped stopped, the rest
of the authorization voided, each once. After checkout it never stops the order: the order needs a person (its
`attention`), and an operator's retry runs the step again. Every step that can fail so is failed in turn.

Local activities run at least once: a workflow task that fails before its markers are recorded runs
them again. "Once" therefore means once in effect: each compensation carries the same key every
time (or is a full release, which changes nothing the second time), and the partner applies it once.
"""

import asyncio
from decimal import Decimal

from activities import contracts as act
from domain import events as ev
from tests.workflows.conftest import (
    LEGO,
    LEGO_PRICE,
    Handle,
    Harness,
    deliver,
    lines,
    recorded,
    ship,
    ship_and_deliver,
    start,
    update_names_in,
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
    RETRY_UPDATE,
    REVIEW_UPDATE,
    AppeasementRequest,
    CancelRequest,
    RetryRequest,
    RetryResult,
    ReviewDecision,
)
from workflows.order import OrderWorkflow


async def retry(handle: Handle) -> RetryResult:
    """An operator, the cause fixed, runs again what failed for good."""
    result: RetryResult = await handle.execute_update(
        RETRY_UPDATE, RetryRequest(reason="cause fixed", actor="operator:O-1"), result_type=RetryResult
    )
    return result


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


async def test_a_settlement_failing_for_good_needs_a_person_and_a_retry_captures_it_once(harness: Harness) -> None:
    # given an order in two fulfillment orders whose first settlement fails for good
    harness.partners.stock = {"DC-TOKYO": {"LEGO-76419": 1}, "DC-OSAKA": {"TEA-MATCHA-100": 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    first, second = answer.fulfillment_order_ids
    harness.partners.fail_step = "settle"
    # when the first one ships
    await ship(handle, first)
    # then the order waits for a person with the reason, and nothing else is stopped or voided
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and "settle refused for good" in order.attention.reason
    assert ("cancel_fulfillment", second) not in harness.partners.calls
    assert "void" not in harness.partners.names()
    # and once the cause is fixed, an operator's retry captures it, once, and the order goes on
    harness.partners.fail_step = None
    result = await retry(handle)
    assert result.attention is None and any(first in step for step in result.retried)
    order = await wait_until(handle, lambda o: o.payment.captured == LEGO_PRICE, "the capture")
    assert order.attention is None and len(harness.partners.captures) == 1
    await ship_and_deliver(handle, second)
    await deliver(handle, first)
    assert (await handle.result()).status == "completed"
    assert harness.partners.captured == LEGO_PRICE + Decimal(2400)


async def test_a_retry_of_an_order_that_needs_nothing_is_refused(harness: Harness) -> None:
    # given an order going its way
    handle, _ = await start(harness, lines=lines(lego=1))
    # when an operator asks for a retry
    reason = await refused(handle, RETRY_UPDATE, RetryRequest(reason="just in case", actor="operator:O-1"))
    # then it is refused with the reason and never enters the history
    assert "nothing to retry" in reason
    assert "retry" not in update_names_in(list((await handle.fetch_history()).events))


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
    assert order.attention is not None and "refund" in order.attention.reason
    # and once the gateway takes refunds again, a retry pays it once and the order closes its window as usual
    harness.partners.fail_step = None
    await retry(handle)
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the return refunded")
    assert order.payment.refunded == LEGO_PRICE and harness.partners.refunded == LEGO_PRICE
    assert (await handle.result()).status == "completed"


async def test_a_restock_failing_for_good_needs_a_person_and_the_customer_is_refunded_meanwhile(
    harness: Harness,
) -> None:
    # given a delivered order whose returned unit cannot be restocked
    handle, answer = await start(harness, lines=lines(lego=1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    returned = await request_return(handle, *units(lego=1))
    harness.partners.fail_step = "restock"
    # when it arrives back
    await receive(handle, returned.return_id, (LEGO, 1, "resellable"))
    # then the refund still goes out once, and the order needs a person for the restock
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the return refunded")
    assert order.payment.refunded == LEGO_PRICE and harness.partners.refunded == LEGO_PRICE
    [failed] = recorded(harness, "AttentionNeeded")
    assert isinstance(failed, ev.AttentionNeeded) and failed.step.startswith("restock 1 unit(s)")
    # and the window does not close on it: a retry restocks, then the order completes
    harness.partners.fail_step = None
    await retry(handle)
    assert (await handle.result()).status == "completed"
    assert harness.partners.restocked[LEGO] == 1


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


async def test_a_hand_off_failing_for_good_on_approval_waits_for_a_retry_and_then_goes_out(harness: Harness) -> None:
    # given an order held for review whose locations refuse the hand-off for good
    handle, _ = await start(harness, **SUSPICIOUS)
    harness.partners.fail_step = "hand_off"
    # when an agent approves it
    approval = asyncio.create_task(
        handle.execute_update(
            REVIEW_UPDATE, ReviewDecision(approve=True, reason="called the customer", actor="agent:A-7")
        )
    )
    # then the order needs a person, holds its stock and voids nothing
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and "hand" in order.attention.reason
    assert "void" not in harness.partners.names() and "release" not in harness.partners.names()
    # and a retry once the locations take orders again hands it over; the approval answers then
    harness.partners.fail_step = None
    await retry(handle)
    await approval
    assert len(harness.partners.of("hand_off", act.HandOffRequest)) == 2
    assert (await handle.query(OrderWorkflow.summary)).status == "accepted"


async def test_a_compensation_that_fails_itself_needs_a_person_and_the_others_still_run(
    harness: Harness,
) -> None:
    # given a checkout whose allocation fails for good, and whose release fails too
    harness.partners.fail_step = "allocate"
    harness.partners.also_failing = {"release"}
    # when the order checks out
    handle, answer = await start(harness, lines=lines(lego=1))
    # then the storefront hears at once, the authorization is still voided once, and the failed release
    # waits for an operator
    assert answer.status == "canceled"
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and order.attention.reason.startswith("compensate: release every hold")
    assert harness.partners.names().count("void") == 1
    # and the run ends only once a retry has released the holds
    harness.partners.also_failing = set()
    await retry(handle)
    assert (await handle.result()).status == "canceled"
    assert harness.partners.names().count("release") == 2


async def test_a_cancel_whose_release_fails_for_good_stays_canceled_and_still_voids(harness: Harness) -> None:
    # given an accepted order and an inventory that refuses releases for good
    handle, _ = await start(harness, lines=lines(lego=1))
    harness.partners.fail_step = "release"
    # when the customer cancels everything
    await handle.execute_update(CANCEL_UPDATE, CancelRequest(reason="changed my mind", actor="customer:C-1"))
    # then the cancel holds, the failed release needs a person, and the authorization is voided
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.status == "canceled" and order.attention is not None
    assert next(e.step for e in recorded(harness, "AttentionNeeded")).startswith("release 1 unit(s)")
    assert harness.partners.names().count("void") == 1
    # and a retry releases it before the run ends
    harness.partners.fail_step = None
    await retry(handle)
    outcome = await handle.result()
    assert outcome.status == "canceled" and harness.partners.available("DC-TOKYO", LEGO) == 1000
