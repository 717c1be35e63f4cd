"""B2B orders above their account's approval threshold wait on hold for an approver: approved they ship, rejected
or never decided they end with everything given back; nobody deciding in time asks agents too."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import contracts as act
from tests.workflows.conftest import Harness, recorded, ship_and_deliver, start, wait_until
from tests.workflows.test_fraud_review import SUSPICIOUS
from workflows.messages import (
    APPROVAL_UPDATE,
    REVIEW_UPDATE,
    ActionResult,
    ApprovalDecision,
    ApprovalPolicy,
    ReviewDecision,
)

HOUR = timedelta(hours=1).total_seconds()


def on_account(escalate: float = 24 * HOUR, expire: float = 72 * HOUR) -> dict[str, Any]:
    policy = ApprovalPolicy(
        account_id="ACME", threshold=Decimal(10000), escalate_after_seconds=escalate, expire_after_seconds=expire
    )
    return {
        "channel": "b2b",
        "payment": {"method": "invoice", "account_id": "ACME", "purchase_order": "PO-77", "terms": "net30"},
        "requested_delivery_date": "2026-12-24",
        "workflow_options": {"approval": policy},
    }


async def test_an_order_above_the_threshold_is_held_reserved_for_its_approver_and_handed_off_once_approved(
    harness: Harness,
) -> None:
    # when an order above its account's threshold checks out
    handle, answer = await start(harness, **on_account())
    # then it is accepted on hold: reserved until the approval's expiry, nothing released to a location
    assert answer.status == "on_hold"
    assert "hand_off" not in harness.partners.names()
    requested = recorded(harness, "ApprovalRequested")
    assert len(requested) == 1 and requested[0].account_id == "ACME" and requested[0].threshold == 10000
    # and a fraud review of it is refused: it waits for its approver
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(REVIEW_UPDATE, ReviewDecision(approve=True, reason="x", actor="agent:A-7"))
    assert "approver" in str(refused.value.cause)
    # when the account's approver approves it
    result = await handle.execute_update(
        APPROVAL_UPDATE,
        ApprovalDecision(approve=True, reason="budgeted", actor="customer:C-BOSS"),
        result_type=ActionResult,
    )
    # then its fulfillment orders go to their locations, told the day the buyer asked for, and it ships and
    # completes as any other
    assert result.status == "accepted"
    (hand_off,) = harness.partners.of("hand_off", act.HandOffRequest)
    assert hand_off.requested_delivery_date == date(2026, 12, 24)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
    decided = recorded(harness, "ApprovalDecided")
    assert len(decided) == 1 and decided[0].actor == "customer:C-BOSS" and decided[0].approved


async def test_a_rejected_order_is_canceled_with_the_approvers_reason_and_gives_everything_back(
    harness: Harness,
) -> None:
    # given an order waiting for its approver
    handle, _ = await start(harness, **on_account())
    # when the approver rejects it
    result = await handle.execute_update(
        APPROVAL_UPDATE,
        ApprovalDecision(approve=False, reason="not in this quarter's budget", actor="customer:C-BOSS"),
        result_type=ActionResult,
    )
    # then it is canceled: stock released, the authorization (the account's credit) voided, never handed off
    assert result.status == "canceled"
    assert (await handle.result()).status == "canceled"
    names = harness.partners.names()
    assert "release" in names and names.count("void") == 1 and "hand_off" not in names
    canceled = recorded(harness, "ItemsCanceled")
    assert "not in this quarter's budget" in canceled[0].reason and "C-BOSS" in canceled[0].reason


async def test_nobody_deciding_escalates_to_agents_then_cancels_at_the_expiry(harness: Harness) -> None:
    # given an order waiting for its approver, escalating after an hour and expiring after three
    handle, _ = await start(harness, **on_account(escalate=HOUR, expire=3 * HOUR))
    # when the hour passes, it needs attention (agents are asked) and stays on hold
    await harness.env.sleep(timedelta(hours=1, minutes=5))
    order = await wait_until(handle, lambda o: o.attention is not None, "the escalation")
    assert order.status == "on_hold" and "account approval" in order.attention.reason  # type: ignore[union-attr]
    assert len(recorded(harness, "ApprovalEscalated")) == 1
    # when nobody decides by the expiry either
    outcome = await handle.result()
    # then the system rejects it, gives everything back, and the attention is cleared
    assert outcome.status == "canceled"
    decided = recorded(harness, "ApprovalDecided")
    assert decided[-1].actor == "system" and not decided[-1].approved
    assert harness.partners.names().count("void") == 1
    assert [e.type for e in recorded(harness, "AttentionCleared")] == ["AttentionCleared"]


async def test_an_agent_may_approve_an_escalated_order(harness: Harness) -> None:
    # given an escalated order
    handle, answer = await start(harness, **on_account(escalate=HOUR, expire=3 * HOUR))
    await harness.env.sleep(timedelta(hours=1, minutes=5))
    await wait_until(handle, lambda o: o.attention is not None, "the escalation")
    # when an agent approves it
    result = await handle.execute_update(
        APPROVAL_UPDATE,
        ApprovalDecision(approve=True, reason="called the buyer", actor="agent:A-7"),
        result_type=ActionResult,
    )
    # then it goes on, and the attention is cleared
    assert result.status == "accepted"
    order = await wait_until(handle, lambda o: o.attention is None, "the attention cleared")
    assert not order.held
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"


async def test_an_order_needing_approval_and_a_fraud_review_waits_for_both(harness: Harness) -> None:
    # given a suspicious order above its account's threshold
    handle, _ = await start(harness, **{**SUSPICIOUS, **on_account()})
    # when its approver approves it
    await handle.execute_update(
        APPROVAL_UPDATE, ApprovalDecision(approve=True, reason="ok", actor="customer:C-BOSS"), result_type=ActionResult
    )
    # then it stays on hold for the fraud review, handed to no location
    order = await wait_until(handle, lambda o: not o.awaiting_approval, "the approval recorded")
    assert order.status == "on_hold" and order.held and "hand_off" not in harness.partners.names()
    # when an agent approves the review too, it is handed off
    result = await handle.execute_update(
        REVIEW_UPDATE, ReviewDecision(approve=True, reason="called", actor="agent:A-7"), result_type=ActionResult
    )
    assert result.status == "accepted" and "hand_off" in harness.partners.names()
    await handle.terminate("test over")


async def test_an_approval_of_an_order_waiting_for_none_is_refused(harness: Harness) -> None:
    # given an ordinary order
    handle, answer = await start(harness)
    # when someone approves it
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(APPROVAL_UPDATE, ApprovalDecision(approve=True, reason="x", actor="agent:A-7"))
    # then the refusal says why, and the order goes on
    assert "not waiting for its account's approver" in str(refused.value.cause)
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
