"""A new delivery address before shipment: open fulfillment orders are withdrawn and routed again."""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import contracts as act
from domain.models import Address
from tests.workflows.conftest import Harness, final_order, recorded, ship, ship_and_deliver, start
from workflows.messages import ADDRESS_UPDATE, ActionResult, AddressChange

OSAKA = Address(
    name="Aiko Sato",
    line1="2-2 Umeda",
    city="Osaka",
    postal_code="530-0001",
    country="JP",
    latitude=34.702,
    longitude=135.496,
)


async def test_an_address_change_before_shipment_reroutes_for_the_new_address(harness: Harness) -> None:
    # given an accepted order released to its location
    handle, answer = await start(harness)
    first = answer.fulfillment_order_ids[0]

    # when the customer moves it to Osaka
    change = AddressChange(address=OSAKA, reason="moved", actor="customer:C-1")
    result = await handle.execute_update(ADDRESS_UPDATE, change, result_type=ActionResult)

    # then the old fulfillment order is stopped and released, and the units are routed for the new address
    assert first not in result.fulfillment_order_ids and len(result.fulfillment_order_ids) == 1
    calls = harness.partners.calls
    assert ("cancel_fulfillment", first) in calls
    release = next(req for name, req in calls if name == "release")
    assert isinstance(release, act.ReleaseRequest) and release.key and release.key.endswith(f"withdrawn:{first}")
    reroute = [req for name, req in calls if name == "allocate"][-1]
    assert isinstance(reroute, act.AllocateRequest)
    assert (reroute.latitude, reroute.longitude, reroute.ship_to["city"]) == (34.702, 135.496, "Osaka")
    assert final_order(harness).fulfillment_order(first).status == "withdrawn"
    assert recorded(harness, "AddressChanged")[0].actor == "customer:C-1"

    # and the new fulfillment order ships, is captured once, and the order completes
    await ship_and_deliver(handle, result.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
    assert harness.partners.names().count("settle") == 1


async def test_an_address_change_after_shipment_is_refused(harness: Harness) -> None:
    # given an order that has shipped
    handle, answer = await start(harness)
    await ship(handle, answer.fulfillment_order_ids[0])

    # when the address is to change
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(ADDRESS_UPDATE, AddressChange(address=OSAKA, reason="moved", actor="agent"))

    # then the refusal names the shipment, and nothing was withdrawn
    assert "only before shipment" in str(refused.value.cause)
    assert "cancel_fulfillment" not in harness.partners.names()
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    assert (await handle.result()).status == "completed"
