"""Who placed an order: the customer, or the agent who placed it for them, as the order's timeline records it."""

from tests.workflows.conftest import Harness, recorded, start


async def test_an_order_an_agent_placed_for_the_customer_names_the_agent(harness: Harness) -> None:
    # given an order agent A-7 placed for customer C-1 on the agent channel
    _, answer = await start(harness, channel="agent", placed_by="agent:A-7")
    # when it is placed, then its first event names the agent
    assert answer.status == "accepted"
    [placed] = recorded(harness, "OrderPlaced")
    assert placed.actor == "agent:A-7"


async def test_an_order_the_customer_placed_names_the_customer(harness: Harness) -> None:
    _, answer = await start(harness)
    assert answer.status == "accepted"
    [placed] = recorded(harness, "OrderPlaced")
    assert placed.actor == "customer:C-1"
