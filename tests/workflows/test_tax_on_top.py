"""Where prices are quoted without tax (Canada), checkout authorizes the prices and the tax on top, each shipment
captures its units with their tax (rounded once per rate for the shipment, as its invoice says), a return refunds
the tax with the price, and what no capture takes is voided."""

from decimal import Decimal

from activities import contracts as act
from tests.workflows.conftest import (
    LEGO,
    TEA,
    Harness,
    deliver,
    final_order,
    recorded,
    ship,
    ship_and_deliver,
    start,
    wait_for_status,
)
from workflows.messages import RETURN_UPDATE, ReturnRequest, ReturnResult

TORONTO = {
    "name": "Alex Martin",
    "line1": "290 Bremner Blvd",
    "city": "Toronto",
    "postal_code": "M5V 3L9",
    "country": "CA",
    "latitude": 43.64,
    "longitude": -79.39,
}
# 13 % HST in Ontario, quoted at checkout by the tax adapter (the API sets tax_rate from it)
HST = "0.13"


def canadian_order(lego: int, tea: int) -> dict[str, object]:
    return {
        "currency": "CAD",
        "shipping_address": TORONTO,
        "lines": [
            {"sku": LEGO, "quantity": lego, "unit_price": "10.01", "tax_rate": HST},
            {"sku": TEA, "quantity": tea, "unit_price": "0.10", "tax_rate": "0.05"},
        ],
    }


async def test_a_split_order_captures_each_shipment_with_its_own_tax_and_voids_the_rounding_left(
    harness: Harness,
) -> None:
    # given two locations, each holding one of the skus
    harness.partners.stock = {"DC-TOKYO": {LEGO: 5}, "DC-OSAKA": {TEA: 5}}
    # when a Canadian customer checks out 2 x 10.01 at 13 % and 1 x 0.10 at 5 %
    handle, answer = await start(harness, **canadian_order(2, 1))
    f1, f2 = answer.fulfillment_order_ids
    # then the authorization is the prices, the tax on top (2.60 + 0.01) and a cent per taxed line for rounding
    authorized = recorded(harness, "PaymentAuthorized")[0].amount
    assert authorized == Decimal("20.12") + Decimal("2.61") + Decimal("0.02")
    # when both ship and are delivered
    await ship_and_deliver(handle, f1)
    await ship(handle, f2)
    await wait_for_status(handle, "shipped")
    await deliver(handle, f2)
    outcome = await handle.result()
    # then each shipment captured its prices and its tax, rounded once for it
    assert outcome.status == "completed"
    settled = harness.partners.of("settle", act.SettleRequest)
    assert [(s.fulfillment_order_id, s.capture.amount) for s in settled] == [
        (f1, Decimal("20.02") + Decimal("2.60")),
        (f2, Decimal("0.10") + Decimal("0.01")),
    ]
    # and what no capture took (the rounding allowance) was voided, so nothing stays held on the card
    final = final_order(harness)
    assert final.payment.captured == Decimal("22.73")
    assert final.payment.voided == authorized - Decimal("22.73")


async def test_a_return_refunds_the_tax_with_the_price(harness: Harness) -> None:
    # given a delivered Canadian order of 3 sets
    handle, answer = await start(harness, **canadian_order(3, 1))
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    # when one set is returned
    result = await handle.execute_update(
        RETURN_UPDATE,
        ReturnRequest(lines=[{"sku": LEGO, "quantity": 1}], reason="too small", method="mail", actor="customer:C-1"),
        result_type=ReturnResult,
    )
    # then the refund it promises is its price and its tax: 10.01 + 1.30
    assert result.refund_estimate == Decimal("11.31")
    await handle.terminate("test over")
