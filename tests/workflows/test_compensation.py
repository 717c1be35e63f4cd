"""A step that fails for good is compensated: holds released, what has not shipped stopped, the rest of the
authorization voided, each once. Every step that can fail so is failed in turn.

Local activities run at least once: a workflow task that fails before its markers are recorded runs
them again. "Once" therefore means once in effect: each compensation carries the same key every
time (or is a full release, which changes nothing the second time), and the partner applies it once.
"""

from decimal import Decimal

from activities import contracts as act
from tests.workflows.conftest import Harness, final_order, lines, ship, start


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
