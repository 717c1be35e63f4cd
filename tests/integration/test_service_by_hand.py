"""Inventory, routing and post-purchase service over HTTP, with the partner simulators off.

Every warehouse, store, carrier and returns event is sent by hand through the partner webhooks, so each
step happens exactly when the test says. Each test stocks SKUs of its own through the inventory API, so
no test competes with another (or with the demo seed) for units.
"""

import asyncio
import json
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    RunningStack,
    new_customer,
    run_oms,
    transactions,
    wait_for_order,
    wait_for_status,
)
from tests.orders import checkout_body

pytestmark = pytest.mark.integration

# Store is not among the channels that backorder (named here, not left to the default): units nothing can
# fill are refused at checkout. Returns stay possible for the whole module, and its workflows still end.
BACKORDER_CHANNELS = "web,app,agent,b2b"
RETURN_WINDOW = "PT30S"


@pytest.fixture(scope="module")
def by_hand_settings() -> dict[str, str]:
    return {"OMS_RETURN_WINDOW": RETURN_WINDOW, "OMS_BACKORDER_CHANNELS": BACKORDER_CHANNELS}


# -- stock -----------------------------------------------------------------------------------------------
def new_sku(tag: str) -> str:
    return f"HB-{tag}-{uuid.uuid4().hex[:8].upper()}"


def receive(operator: httpx.Client, location_id: str, sku: str, units: int) -> None:
    """Stock a sku; one the catalog does not know yet is listed first (at 1000 yen), as checkout needs."""
    if operator.get(f"/v1/products/{sku}").status_code == 404:
        listed = operator.put(f"/v1/products/{sku}", json={"name": sku, "prices": {"JPY": "1000"}})
        assert listed.status_code == 200, listed.text
    response = operator.post("/v1/inventory/adjustments", json={"location_id": location_id, "sku": sku, "delta": units})
    assert response.status_code == 200, response.text
    assert response.json()["available"] == units, response.text


def availability(http: httpx.Client, sku: str) -> dict[str, Any]:
    """The SKU's availability: total `available`, `level`, and `at` {location id: available}."""
    response = http.get("/v1/availability", params={"sku": sku})
    assert response.status_code == 200, response.text
    [found] = response.json()["skus"]
    return {
        "available": found["available"],
        "level": found["level"],
        "at": {loc["location_id"]: loc["available"] for loc in found["locations"] if loc["available"]},
    }


# -- orders ----------------------------------------------------------------------------------------------
def order_of(sku: str, quantity: int, unit_price: int, **overrides: Any) -> dict[str, Any]:
    lines = [{"sku": sku, "quantity": quantity, "unit_price": str(unit_price)}]
    return checkout_body(customer=new_customer(), lines=lines, **overrides)


def place(storefront: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = storefront.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    assert answer["status"] == "accepted", answer
    return answer


def fulfillment_order(summary: dict[str, Any], fo_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(fo for fo in summary["fulfillment_orders"] if fo["id"] == fo_id)
    return found


def fo_in(status: str, fo_id: str) -> Callable[[dict[str, Any]], bool]:
    """A condition on a summary: the fulfillment order is projected and has this status."""
    return lambda s: any(fo["id"] == fo_id and fo["status"] == status for fo in s["fulfillment_orders"])


def ship(partner: httpx.Client, agent: httpx.Client, order_id: str, fo_id: str) -> str:
    """The location ships the fulfillment order; returns its tracking number once the read model knows it."""
    tracking = f"HB{uuid.uuid4().hex[:12].upper()}"
    body = {"fulfillment_order_id": fo_id, "event": "shipped", "tracking_number": tracking, "carrier": "yamato"}
    response = partner.post("/v1/webhooks/warehouse", json=body)
    assert response.status_code == 202, response.text
    # the carrier webhook finds the order by tracking number in the read model: wait until it is there
    wait_for_order(agent, order_id, fo_in("shipped", fo_id), f"{fo_id} shipped")
    return tracking


def deliver(partner: httpx.Client, agent: httpx.Client, order_id: str, fo_id: str, tracking: str) -> None:
    response = partner.post("/v1/webhooks/carrier", json={"tracking_number": tracking, "event": "delivered"})
    assert response.status_code == 202, response.text
    wait_for_order(agent, order_id, fo_in("delivered", fo_id), f"{fo_id} delivered")


def ship_and_deliver_all(partner: httpx.Client, agent: httpx.Client, order_id: str) -> dict[str, Any]:
    summary = wait_for_order(agent, order_id, lambda s: bool(s["fulfillment_orders"]), "its fulfillment orders")
    for fo in summary["fulfillment_orders"]:
        deliver(partner, agent, order_id, fo["id"], ship(partner, agent, order_id, fo["id"]))
    return wait_for_order(
        agent, order_id, lambda s: s["status"] == "delivered" and not _awaiting_capture(s), "delivered and captured"
    )


def _awaiting_capture(summary: dict[str, Any]) -> bool:
    return any(fo["status"] == "delivered" and fo["invoice_id"] is None for fo in summary["fulfillment_orders"])


def amounts(rows: list[dict[str, Any]]) -> list[Decimal]:
    return sorted(Decimal(tx["amount"]) for tx in rows)


# -- inventory and routing ---------------------------------------------------------------------------------
async def test_concurrent_checkouts_take_exactly_the_units_there_are(
    by_hand: RunningStack, operator: httpx.Client
) -> None:
    # given 10 units of a SKU at one store and nowhere else, sold through the store channel (no backorders)
    sku = new_sku("RACE")
    receive(operator, "ST-SHIBUYA", sku, 10)
    bodies = [order_of(sku, 1, 1200, channel="store") for _ in range(30)]

    # when 30 checkouts of one unit each arrive at once
    async with httpx.AsyncClient(
        base_url=by_hand.api_url, headers={"Authorization": "Bearer dev-storefront"}, timeout=60
    ) as client:
        answers = await asyncio.gather(*(client.post("/v1/orders", json=body) for body in bodies))

    # then exactly 10 are accepted and 20 refused as unavailable, naming the SKU
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 10, 409: 20}, [(a.status_code, a.text[:200]) for a in answers]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["status"] == "unavailable"
        assert sku in refused.json()["detail"]
    for accepted in (a for a in answers if a.status_code == 201):
        assert len(accepted.json()["fulfillment_order_ids"]) == 1

    # and the product page shows it sold out
    assert availability(operator, sku) == {"available": 0, "level": "out_of_stock", "at": {}}


def test_an_order_no_location_can_fill_alone_splits_and_each_part_is_captured_as_it_ships(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given 3 units in Tokyo and 3 in Osaka, and an order of 5 shipped to Tokyo
    sku = new_sku("SPLIT")
    receive(operator, "DC-TOKYO", sku, 3)
    receive(operator, "DC-OSAKA", sku, 3)
    body = order_of(sku, 5, 1000)

    # when it is placed
    answer = place(storefront, body)
    order_id = body["order_id"]

    # then it is split in two fulfillment orders: the nearest location gives all it has, the other the rest
    assert len(answer["fulfillment_order_ids"]) == 2
    summary = wait_for_order(agent, order_id, lambda s: len(s["fulfillment_orders"]) == 2, "two fulfillment orders")
    parts = {fo["location_id"]: fo for fo in summary["fulfillment_orders"]}
    assert {loc: fo["lines"] for loc, fo in parts.items()} == {
        "DC-TOKYO": [{"sku": sku, "quantity": 3}],
        "DC-OSAKA": [{"sku": sku, "quantity": 2}],
    }
    assert availability(agent, sku)["available"] == 1

    # when Tokyo ships its part, only that part is captured
    tokyo, osaka = parts["DC-TOKYO"]["id"], parts["DC-OSAKA"]["id"]
    tokyo_tracking = ship(partner, agent, order_id, tokyo)
    shipped_one = wait_for_order(agent, order_id, lambda s: s["payment"]["captured"] == "3000", "3000 captured")
    assert shipped_one["status"] == "partially_shipped"
    assert amounts(transactions(agent, order_id, "capture")) == [Decimal(3000)]

    # when Osaka ships the rest and the carrier delivers both
    osaka_tracking = ship(partner, agent, order_id, osaka)
    deliver(partner, agent, order_id, tokyo, tokyo_tracking)
    deliver(partner, agent, order_id, osaka, osaka_tracking)

    # then the order is delivered, with two captures of their own against the one authorization
    done = wait_for_order(
        agent, order_id, lambda s: s["status"] == "delivered" and s["payment"]["captured"] == "5000", "delivered"
    )
    assert done["payment"] == {"authorized": "5000", "captured": "5000", "refunded": "0", "voided": "0"}
    assert done["lines"][0]["delivered"] == 5
    assert sorted(i["amount"] for i in done["invoices"]) == ["2000", "3000"]
    [authorization] = transactions(agent, order_id, "authorize")
    captures = transactions(agent, order_id, "capture")
    assert amounts(captures) == [Decimal(2000), Decimal(3000)]
    assert {tx["parent_id"] for tx in captures} == {authorization["transaction_id"]}
    assert transactions(agent, order_id, "void") == []


def test_a_rejected_fulfillment_order_is_rerouted_to_another_location(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given an order routed to Tokyo, with stock in Osaka too
    sku = new_sku("REJ")
    receive(operator, "DC-TOKYO", sku, 2)
    receive(operator, "DC-OSAKA", sku, 2)
    body = order_of(sku, 1, 1500)
    [first_id] = place(storefront, body)["fulfillment_order_ids"]
    order_id = body["order_id"]
    first = fulfillment_order(wait_for_order(agent, order_id, fo_in("released", first_id), "F1"), first_id)
    assert first["location_id"] == "DC-TOKYO"

    # when Tokyo rejects it
    rejected = {"fulfillment_order_id": first_id, "event": "rejected", "reason": "damaged in the racking"}
    assert partner.post("/v1/webhooks/warehouse", json=rejected).status_code == 202

    # then a new fulfillment order goes to another location, and the rejected one shows rejected
    rerouted = wait_for_order(agent, order_id, lambda s: len(s["fulfillment_orders"]) == 2, "a rerouted order")
    assert fulfillment_order(rerouted, first_id)["status"] == "rejected"
    [second] = [fo for fo in rerouted["fulfillment_orders"] if fo["id"] != first_id]
    assert second["location_id"] == "DC-OSAKA"
    assert second["status"] == "released"
    assert second["lines"] == [{"sku": sku, "quantity": 1}]
    assert rerouted["status"] == "accepted"
    assert "FulfillmentOrderRejected" in [t["type"] for t in rerouted["timeline"]]
    # and Tokyo's units are free again
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 2, "DC-OSAKA": 1}

    # and the new one runs to delivery, captured once for the order's total
    deliver(partner, agent, order_id, second["id"], ship(partner, agent, order_id, second["id"]))
    done = wait_for_order(agent, order_id, lambda s: s["payment"]["captured"] == "1500", "1500 captured")
    assert done["status"] == "delivered"
    assert amounts(transactions(agent, order_id, "capture")) == [Decimal(1500)]


def test_a_pickup_order_is_ready_then_collected_and_captured(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given stock at the Shibuya store (and more at the Tokyo DC), and an order to collect there
    sku = new_sku("BOPIS")
    receive(operator, "ST-SHIBUYA", sku, 2)
    receive(operator, "DC-TOKYO", sku, 5)
    body = order_of(sku, 1, 2200, delivery_method="pickup", pickup_location_id="ST-SHIBUYA")
    [fo_id] = place(storefront, body)["fulfillment_order_ids"]
    order_id = body["order_id"]
    placed = wait_for_order(agent, order_id, fo_in("released", fo_id), "the pickup fulfillment order")
    assert fulfillment_order(placed, fo_id)["location_id"] == "ST-SHIBUYA"

    # when the store has it ready
    ready = {"fulfillment_order_id": fo_id, "event": "ready_for_pickup"}
    assert partner.post("/v1/webhooks/warehouse", json=ready).status_code == 202
    waiting = wait_for_status(agent, order_id, "ready_for_pickup", timeout=30)
    assert waiting["payment"]["captured"] == "0"

    # and the customer collects it
    collected = {"fulfillment_order_id": fo_id, "event": "picked_up"}
    assert partner.post("/v1/webhooks/warehouse", json=collected).status_code == 202

    # then the order is delivered and captured, with no carrier involved
    done = wait_for_order(
        agent, order_id, lambda s: s["status"] == "delivered" and s["payment"]["captured"] == "2200", "collected"
    )
    assert fulfillment_order(done, fo_id)["status"] == "delivered"
    assert done["lines"][0]["delivered"] == 1
    assert done["shipments"] == []
    assert amounts(transactions(agent, order_id, "capture")) == [Decimal(2200)]
    # and the collected unit has left the store's stock
    assert availability(agent, sku)["at"] == {"ST-SHIBUYA": 1, "DC-TOKYO": 5}


# -- post-purchase service -------------------------------------------------------------------------------
def test_a_partial_then_a_full_cancel_releases_stock_and_voids_the_authorization(
    storefront: httpx.Client, agent: httpx.Client, operator: httpx.Client
) -> None:
    # given an accepted order of 3 of the 5 units in stock
    sku = new_sku("CXL")
    receive(operator, "DC-TOKYO", sku, 5)
    body = order_of(sku, 3, 1000)
    place(storefront, body)
    order_id = body["order_id"]
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 2}

    # when an agent cancels one unit
    partial = agent.post(f"/v1/orders/{order_id}/cancel", json={"lines": [{"sku": sku, "quantity": 1}], "reason": "x"})

    # then the order goes on with two, and the unit is back on sale
    assert partial.status_code == 200, partial.text
    after_partial = partial.json()
    assert after_partial["status"] == "accepted"
    line = after_partial["lines"][0]
    assert (line["ordered"], line["canceled"], line["allocated"]) == (3, 1, 2)
    [fo] = after_partial["fulfillment_orders"]
    assert (fo["status"], fo["lines"]) == ("released", [{"sku": sku, "quantity": 2}])
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 3}
    assert transactions(agent, order_id, "void") == []

    # when the rest is canceled
    full = agent.post(f"/v1/orders/{order_id}/cancel", json={"reason": "customer changed their mind"})

    # then the order is canceled, every unit is back, and the authorization is voided for the total
    assert full.status_code == 200, full.text
    canceled = full.json()
    assert canceled["status"] == "canceled"
    assert canceled["lines"][0]["canceled"] == 3
    assert canceled["fulfillment_orders"][0]["status"] == "canceled"
    assert canceled["payment"] == {"authorized": "3000", "captured": "0", "refunded": "0", "voided": "3000"}
    assert availability(agent, sku) == {"available": 5, "level": "in_stock", "at": {"DC-TOKYO": 5}}
    assert [(tx["type"], Decimal(tx["amount"])) for tx in transactions(agent, order_id)] == [
        ("authorize", Decimal(3000)),
        ("void", Decimal(3000)),
    ]


def test_cancel_after_shipment_is_refused_with_a_pointer_to_returns(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given an order whose only fulfillment order has shipped
    sku = new_sku("SHIPPED")
    receive(operator, "DC-TOKYO", sku, 1)
    body = order_of(sku, 1, 1000)
    [fo_id] = place(storefront, body)["fulfillment_order_ids"]
    order_id = body["order_id"]
    wait_for_order(agent, order_id, fo_in("released", fo_id), "F1")
    ship(partner, agent, order_id, fo_id)
    wait_for_status(agent, order_id, "shipped", timeout=30)

    # when an agent tries to cancel it, all of it or its line
    everything = agent.post(f"/v1/orders/{order_id}/cancel", json={"reason": "too late"})
    the_line = agent.post(
        f"/v1/orders/{order_id}/cancel", json={"lines": [{"sku": sku, "quantity": 1}], "reason": "too late"}
    )

    # then both are refused with a reason that says what to do instead, and nothing changed
    for refused in (everything, the_line):
        assert refused.status_code == 409, refused.text
        assert "use a return" in refused.json()["detail"]
    after = agent.get(f"/v1/orders/{order_id}").json()
    assert after["status"] == "shipped"
    assert after["lines"][0]["canceled"] == 0
    assert transactions(agent, order_id, "void") == []


def test_a_returned_unit_is_refunded_once_even_when_its_receipt_is_reported_twice(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given a delivered order of 2 units
    sku = new_sku("RET")
    receive(operator, "DC-TOKYO", sku, 3)
    body = order_of(sku, 2, 4000)
    place(storefront, body)
    order_id = body["order_id"]
    ship_and_deliver_all(partner, agent, order_id)
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 1}

    # when the customer returns one by mail
    asked = agent.post(
        f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": sku, "quantity": 1}], "reason": "too big"}
    )
    assert asked.status_code == 201, asked.text
    rma = asked.json()
    assert rma["rma"] and rma["label"] and rma["location_id"] == "DC-TOKYO"
    assert Decimal(rma["refund_estimate"]) == 4000

    # and the warehouse reports its receipt twice, back to back
    received = {
        "return_id": rma["return_id"],
        "event": "received",
        "lines": [{"sku": sku, "quantity": 1, "condition": "resellable"}],
    }
    for _ in range(2):
        assert partner.post("/v1/webhooks/returns", json=received).status_code == 202

    # then the return is refunded, once, against the capture
    refunded = wait_for_order(
        agent,
        order_id,
        lambda s: any(r["return_id"] == rma["return_id"] and r["status"] == "refunded" for r in s["returns"]),
        "the return refunded",
    )
    assert refunded["payment"]["refunded"] == "4000"
    assert refunded["lines"][0]["returned"] == 1
    assert refunded["status"] == "delivered"  # returns do not change the status
    [capture] = transactions(agent, order_id, "capture")
    [refund] = transactions(agent, order_id, "refund")
    assert (Decimal(refund["amount"]), refund["parent_id"]) == (Decimal(4000), capture["transaction_id"])
    # and the resellable unit is back on sale where it was shipped from
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 2}

    # when the receipt is reported once more, late, and then the other unit is returned (an update the
    # workflow handles after that signal, so its answer means the late receipt has been dealt with)
    assert partner.post("/v1/webhooks/returns", json=received).status_code == 202
    second = agent.post(
        f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": sku, "quantity": 1}], "reason": "too big too"}
    )
    assert second.status_code == 201, second.text

    # then still one refund for the first return, and the second waits for its own receipt
    assert len(transactions(agent, order_id, "refund")) == 1
    summary = wait_for_order(agent, order_id, lambda s: len(s["returns"]) == 2, "the second return")
    assert {r["return_id"]: r["status"] for r in summary["returns"]} == {
        rma["return_id"]: "refunded",
        second.json()["return_id"]: "requested",
    }
    assert summary["payment"]["refunded"] == "4000"


def test_an_exchange_for_a_dearer_sku_charges_the_difference_once_it_ships(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given a delivered order of one small unit, and a larger one in stock at the same warehouse
    small, large = new_sku("EXS"), new_sku("EXL")
    receive(operator, "DC-TOKYO", small, 1)
    receive(operator, "DC-TOKYO", large, 2)
    listed = operator.put(f"/v1/products/{large}", json={"name": "large", "prices": {"JPY": "5500"}})
    assert listed.status_code == 200, listed.text
    body = order_of(small, 1, 4000)
    place(storefront, body)
    order_id = body["order_id"]
    ship_and_deliver_all(partner, agent, order_id)

    # when the customer's agent exchanges it for the large one (5500 in the catalog), and one beyond it is refused
    wanted = {
        "returned": [{"sku": small, "quantity": 1}],
        "replacement": [{"sku": large, "quantity": 1}],
        "reason": "too small",
    }
    too_many = agent.post(
        f"/v1/orders/{order_id}/exchanges", json={**wanted, "returned": [{"sku": small, "quantity": 2}]}
    )
    assert too_many.status_code == 409 and "only 1 of 1 delivered" in too_many.json()["detail"]
    asked = agent.post(f"/v1/orders/{order_id}/exchanges", json=wanted)
    assert asked.status_code == 201, asked.text
    exchange = asked.json()

    # then the 1500 difference is authorized on its own, and the replacement is reserved at once
    assert Decimal(exchange["difference"]) == 1500 and exchange["label"]
    assert amounts(transactions(agent, order_id, "authorize")) == [Decimal(1500), Decimal(4000)]
    assert availability(agent, large)["at"] == {"DC-TOKYO": 1}

    # when the replacement ships and is delivered, and the small unit arrives back resellable
    [replacement_fo] = exchange["fulfillment_order_ids"]
    deliver(partner, agent, order_id, replacement_fo, ship(partner, agent, order_id, replacement_fo))
    received = {
        "return_id": exchange["return_id"],
        "event": "received",
        "lines": [{"sku": small, "quantity": 1, "condition": "resellable"}],
    }
    assert partner.post("/v1/webhooks/returns", json=received).status_code == 202

    # then the difference was captured once against its own authorization, nothing refunded,
    settled = wait_for_order(
        agent,
        order_id,
        lambda s: s["returns"] and s["returns"][0]["status"] == "refunded",
        "the exchange's return settled",
    )
    captures = transactions(agent, order_id, "capture")
    assert amounts(captures) == [Decimal(1500), Decimal(4000)]
    assert not transactions(agent, order_id, "refund")
    assert settled["payment"]["captured"] == "5500" and settled["payment"]["refunded"] == "0"
    # and the small unit is back on sale, the large one shipped
    assert availability(agent, small)["at"] == {"DC-TOKYO": 1}
    assert availability(agent, large)["at"] == {"DC-TOKYO": 1}
    lines = {line["sku"]: line for line in settled["lines"]}
    assert (lines[small]["returned"], lines[large]["delivered"]) == (1, 1)


def test_returns_and_appeasements_above_what_is_left_are_refused(
    storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given a delivered order of 2 units for 6000
    sku = new_sku("APP")
    receive(operator, "DC-TOKYO", sku, 2)
    body = order_of(sku, 2, 3000)
    place(storefront, body)
    order_id = body["order_id"]
    ship_and_deliver_all(partner, agent, order_id)

    # when a return of 3 is asked for
    too_many = agent.post(
        f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": sku, "quantity": 3}], "reason": "all of them"}
    )
    # then it is refused: only 2 were delivered
    assert too_many.status_code == 409, too_many.text
    assert "2" in too_many.json()["detail"] and sku in too_many.json()["detail"]

    # when an appeasement above the 6000 captured is asked for, it is refused
    greedy = agent.post(f"/v1/orders/{order_id}/appeasements", json={"amount": "6001", "reason": "late"})
    assert greedy.status_code == 409, greedy.text
    assert "6000" in greedy.json()["detail"]

    # when a valid one is granted
    granted = agent.post(f"/v1/orders/{order_id}/appeasements", json={"amount": "500", "reason": "late delivery"})

    # then 500 is refunded against the capture, and shows in the order and the gateway's ledger
    assert granted.status_code == 200, granted.text
    assert {k: Decimal(v) for k, v in granted.json().items() if k != "order_id"} == {
        "refunded": Decimal(500),
        "refundable_left": Decimal(5500),
    }
    [capture] = transactions(agent, order_id, "capture")
    [refund] = transactions(agent, order_id, "refund")
    assert (Decimal(refund["amount"]), refund["parent_id"]) == (Decimal(500), capture["transaction_id"])
    summary = wait_for_order(agent, order_id, lambda s: s["payment"]["refunded"] == "500", "500 refunded")
    assert [(p["kind"], p["amount"]) for p in summary["payments"] if p["kind"] == "appeasement"] == [
        ("appeasement", "500")
    ]

    # and what is left after it is the new ceiling
    over_rest = agent.post(f"/v1/orders/{order_id}/appeasements", json={"amount": "5501", "reason": "more"})
    assert over_rest.status_code == 409, over_rest.text
    assert len(transactions(agent, order_id, "refund")) == 1


# -- the command line ------------------------------------------------------------------------------------
def oms(by_hand: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return run_oms(*args, "--api-url", by_hand.api_url, "--token", "dev-agent")


def test_an_agent_cancels_and_reads_payments_with_the_oms_command(
    by_hand: RunningStack, storefront: httpx.Client, agent: httpx.Client, operator: httpx.Client
) -> None:
    # given an accepted order
    sku = new_sku("CLI")
    receive(operator, "DC-TOKYO", sku, 1)
    body = order_of(sku, 1, 1800)
    place(storefront, body)
    order_id = body["order_id"]

    # when an agent cancels it from the command line
    canceled = oms(by_hand, "order", "cancel", order_id, "--reason", "customer called")

    # then the command succeeds and prints the canceled order
    assert canceled.returncode == 0, canceled.stderr
    assert json.loads(canceled.stdout)["status"] == "canceled"
    assert availability(agent, sku)["at"] == {"DC-TOKYO": 1}

    # and `oms order payments` shows the authorization and its void
    payments = oms(by_hand, "order", "payments", order_id)
    assert payments.returncode == 0, payments.stderr
    assert [(tx["type"], Decimal(tx["amount"])) for tx in json.loads(payments.stdout)] == [
        ("authorize", Decimal(1800)),
        ("void", Decimal(1800)),
    ]

    # and canceling again fails with the API's reason and a non-zero exit code
    again = oms(by_hand, "order", "cancel", order_id, "--reason", "twice")
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith("error 409:"), again.stderr
