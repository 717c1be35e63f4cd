"""A new address is screened like the checkout's, by the rules the order was placed under; the rules are the
merchant's, per currency."""

from datetime import timedelta
from decimal import Decimal

from activities import contracts as act
from domain.fraud import FraudRules
from domain.models import Address
from tests.workflows.conftest import Harness, recorded, ship_and_deliver, start, wait_until
from workflows.messages import ADDRESS_UPDATE, REVIEW_UPDATE, ActionResult, AddressChange, ReviewDecision
from workflows.order import OrderWorkflow

# 21 sets of 24,980 yen: large (+40) and bulk (+25) = 65, accepted; to someone else's name, 75: held
LARGE_AND_BULK = [{"sku": "LEGO-76419", "quantity": 21, "unit_price": "24980"}]
SOMEONE_ELSE = Address(
    name="Someone Else",
    line1="2-2 Umeda",
    city="Osaka",
    postal_code="530-0001",
    country="JP",
    latitude=34.702,
    longitude=135.496,
)


async def test_an_address_change_that_scores_for_review_holds_the_rerouted_order_for_an_agent(
    harness: Harness,
) -> None:
    # given a large order accepted at checkout with a score under the threshold
    handle, answer = await start(harness, lines=LARGE_AND_BULK)
    assert answer.status == "accepted"
    hand_offs_before = len(harness.partners.of("hand_off", act.HandOffRequest))
    # when the customer changes the address to someone else's name
    change = AddressChange(address=SOMEONE_ELSE, reason="a gift", actor="customer:C-1")
    result = await handle.execute_update(ADDRESS_UPDATE, change, result_type=ActionResult)
    # then the order is screened again and held: routed and reserved until the review deadline, at no location
    assert result.status == "on_hold"
    rescreened = recorded(harness, "FraudScreened")[-1]
    assert rescreened.score == 75 and "ship-to name differs" in rescreened.reasons
    last_allocation = harness.partners.of("allocate", act.AllocateRequest)[-1]
    assert last_allocation.hold_until is not None
    assert len(harness.partners.of("hand_off", act.HandOffRequest)) == hand_offs_before
    # and once an agent approves, the location gets it and it ships
    await handle.execute_update(
        REVIEW_UPDATE, ReviewDecision(approve=True, reason="called the customer", actor="agent:A-7")
    )
    order = await wait_until(handle, lambda o: o.status == "accepted", "accepted after review")
    [handed] = harness.partners.of("hand_off", act.HandOffRequest)[hand_offs_before:]
    assert [fo.fulfillment_order_id for fo in handed.fulfillment_orders] == [
        fo.id for fo in order.fulfillment_orders if fo.open
    ]
    await ship_and_deliver(handle, handed.fulfillment_orders[0].fulfillment_order_id)
    assert (await handle.result()).status == "completed"


async def test_a_rescreened_order_nobody_reviews_in_time_is_canceled_and_voided(harness: Harness) -> None:
    # given a large order whose new address put it on hold
    handle, _ = await start(harness, lines=LARGE_AND_BULK, review_seconds=2 * 86400)
    change = AddressChange(address=SOMEONE_ELSE, reason="a gift", actor="customer:C-1")
    await handle.execute_update(ADDRESS_UPDATE, change, result_type=ActionResult)
    # when the review deadline passes
    await harness.env.sleep(timedelta(days=2, hours=1))
    # then it is canceled and the authorization voided
    assert (await handle.result()).status == "canceled"
    assert harness.partners.voided == Decimal(21 * 24980)


async def test_an_address_change_that_scores_low_goes_straight_to_a_location(harness: Harness) -> None:
    # given an ordinary order
    handle, _ = await start(harness)
    # when the customer moves it to their own new address
    moved = SOMEONE_ELSE.model_copy(update={"name": "Aiko Sato"})
    change = AddressChange(address=moved, reason="moved", actor="customer:C-1")
    result = await handle.execute_update(ADDRESS_UPDATE, change, result_type=ActionResult)
    # then it is screened again, and rerouted without a hold
    assert result.status == "accepted"
    assert recorded(harness, "FraudScreened")[-1].score == 0
    assert harness.partners.of("allocate", act.AllocateRequest)[-1].hold_until is None


async def test_the_merchants_rules_per_currency_decide_what_is_large(harness: Harness) -> None:
    # given rules where a yen order above 10,000 is large and the review threshold is 40
    rules = FraudRules(review_threshold=40, large_order={"JPY": Decimal(10_000)})
    # when a single set of 24,980 yen checks out under them
    handle, answer = await start(harness, workflow_options={"fraud_rules": rules})
    # then it is held for review, as a large order
    assert answer.status == "on_hold"
    order = await handle.query(OrderWorkflow.summary)
    assert order.fraud_score == 40
    assert recorded(harness, "FraudScreened")[0].reasons == ["large order"]
