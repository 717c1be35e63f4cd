"""Exchanges: a return whose value pays for replacement units sent at once; an uneven one charges or refunds
the difference. Payment, stock and hand-off happen before anything is recorded, and a failure undoes each."""

from decimal import Decimal

from activities import contracts as act
from domain import events as ev
from domain.models import SkuQuantity
from tests.workflows.conftest import (
    LEGO,
    LEGO_PRICE,
    TEA,
    TEA_PRICE,
    Handle,
    Harness,
    final_order,
    lines,
    recorded,
    ship_and_deliver,
    start,
    wait_until,
)
from tests.workflows.test_service_actions import delivered_and_captured, receive, refused, units
from workflows.messages import (
    CANCEL_UPDATE,
    EXCHANGE_UPDATE,
    CancelRequest,
    ExchangeRequest,
    ExchangeResult,
    ReplacementLine,
)
from workflows.order import OrderWorkflow

TEA_LARGE = "TEA-MATCHA-200"


def swap(returned: list[SkuQuantity], *replacement: tuple[str, int, Decimal | None]) -> ExchangeRequest:
    return ExchangeRequest.model_validate(
        {
            "returned": returned,
            "replacement": [ReplacementLine(sku=s, quantity=n, unit_price=p) for s, n, p in replacement],
            "reason": "wrong size",
            "actor": "agent:A-7",
        }
    )


async def exchange(handle: Handle, request: ExchangeRequest) -> ExchangeResult:
    result: ExchangeResult = await handle.execute_update(EXCHANGE_UPDATE, request, result_type=ExchangeResult)
    return result


async def delivered_order(harness: Harness, lego: int = 0, tea: int = 0) -> tuple[Handle, str]:
    """An order delivered and paid for in full; its order id."""
    harness.partners.stock = {"DC-TOKYO": {LEGO: 10, TEA: 10, TEA_LARGE: 10}}
    wanted = [line for line in lines(lego=max(lego, 1), tea=tea) if lego or line["sku"] != LEGO]
    handle, answer = await start(harness, lines=wanted)
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    return handle, answer.order_id


async def test_an_even_exchange_sends_the_replacement_free_and_refunds_nothing_on_receipt(harness: Harness) -> None:
    # given a delivered order of one LEGO set
    handle, _ = await delivered_order(harness, lego=1)
    # when the customer exchanges it for another of the same (defective box)
    result = await exchange(handle, swap(units(lego=1), (LEGO, 1, None)))
    # then nothing is authorized, a replacement fulfillment order is handed to its location at once
    assert result.difference == 0 and len(result.fulfillment_order_ids) == 1
    assert len(harness.partners.of("authorize", act.AuthorizeRequest)) == 1
    hand_off = harness.partners.of("hand_off", act.HandOffRequest)[-1]
    assert [fo.fulfillment_order_id for fo in hand_off.fulfillment_orders] == result.fulfillment_order_ids
    # when the replacement ships and the old set arrives back
    await ship_and_deliver(handle, result.fulfillment_order_ids[0])
    await receive(handle, result.return_id, (LEGO, 1, "damaged"))
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the exchange's return settled")
    # then the replacement shipped uncharged, the return refunded nothing, and the line counts both units
    assert harness.partners.names().count("settle") == 1
    assert [s.fulfillment_order_id for s in harness.partners.of("ship_reship", act.ShipRequest)] == [
        result.fulfillment_order_ids[0]
    ]
    assert order.payment.captured == LEGO_PRICE and order.payment.refunded == 0
    line = order.line(LEGO)
    assert (line.ordered, line.delivered, line.returned) == (2, 2, 1)
    assert harness.partners.refunded == 0


async def test_a_dearer_replacement_authorizes_the_difference_and_captures_it_when_it_ships(harness: Harness) -> None:
    # given a delivered order of one small tea tin
    handle, _ = await delivered_order(harness, lego=1, tea=1)
    # when it is exchanged for a large tin at 3000
    result = await exchange(handle, swap(units(tea=1), (TEA_LARGE, 1, Decimal(3000))))
    # then the 600 difference is authorized on its own, keyed by the exchange
    assert result.difference == Decimal(600)
    second = harness.partners.of("authorize", act.AuthorizeRequest)[-1]
    assert second.amount == Decimal(600) and second.idempotency_key.endswith(f":authorize:{result.exchange_id}")
    # when the replacement ships and the small tin comes back resellable
    await ship_and_deliver(handle, result.fulfillment_order_ids[0])
    await receive(handle, result.return_id, (TEA, 1, "resellable"))
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the exchange's return settled")
    # then 600 was captured against the exchange's authorization, and nothing refunded
    capture = harness.partners.of("settle", act.SettleRequest)[-1].capture
    assert (capture.amount, capture.authorization_id) == (Decimal(600), "auth_2")
    assert order.payment.captured == LEGO_PRICE + TEA_PRICE + 600 and order.payment.refunded == 0
    assert order.payment.authorizations["auth_2"].capturable == 0
    assert order.line(TEA_LARGE).delivered == 1 and order.line(TEA).returned == 1
    assert [r.lines for r in harness.partners.of("restock", act.RestockRequest)] == [units(tea=1)]


async def test_a_cheaper_replacement_ships_free_and_the_return_refunds_the_difference(harness: Harness) -> None:
    # given a delivered order of one LEGO set (24980)
    handle, _ = await delivered_order(harness, lego=1)
    # when it is exchanged for two tea tins (4800)
    result = await exchange(handle, swap(units(lego=1), (TEA, 2, TEA_PRICE)))
    assert result.difference == Decimal(4800) - LEGO_PRICE
    # then the return announces the difference as its refund
    requested = recorded(harness, "ReturnRequested")[-1]
    assert isinstance(requested, ev.ReturnRequested) and requested.refund_amount == LEGO_PRICE - 4800
    # when the tins ship and the set arrives back, twice
    await ship_and_deliver(handle, result.fulfillment_order_ids[0])
    await receive(handle, result.return_id, (LEGO, 1, "resellable"))
    await receive(handle, result.return_id, (LEGO, 1, "resellable"))
    order = await wait_until(handle, lambda o: o.returns[0].status == "refunded", "the exchange's return settled")
    # then the difference is refunded once, and the tins were not charged
    assert harness.partners.refunded == LEGO_PRICE - 4800
    assert order.payment.refunded == LEGO_PRICE - 4800 and order.payment.captured == LEGO_PRICE


async def test_a_replacement_out_of_stock_is_refused_and_the_difference_voided(harness: Harness) -> None:
    # given a delivered order, and no large tin anywhere
    handle, order_id = await delivered_order(harness, tea=1)
    harness.partners.stock = {"DC-TOKYO": {TEA: 10}}
    # when the customer asks for a large tin in exchange
    reason = await refused(handle, EXCHANGE_UPDATE, swap(units(tea=1), (TEA_LARGE, 1, Decimal(3000))))
    # then the exchange is refused with why, the authorized difference is voided, and nothing is recorded
    assert "no location can send 1 x TEA-MATCHA-200" in reason
    voids = harness.partners.of("void", act.VoidRequest)
    assert [(v.authorization_id, v.idempotency_key.rsplit(":", 1)[-1]) for v in voids] == [("auth_2", f"{order_id}-X1")]
    order = await handle.query(OrderWorkflow.summary)
    assert not order.returns and not order.exchanges and order.payment.authorized == TEA_PRICE
    assert not recorded(harness, "ReturnRequested")


async def test_a_hand_off_failing_for_good_releases_stops_and_voids_each_once(harness: Harness) -> None:
    # given a delivered order and a location that refuses the replacement for good
    handle, order_id = await delivered_order(harness, tea=1)
    harness.partners.fail_step = "hand_off"
    # when a dearer exchange is asked for
    reason = await refused(handle, EXCHANGE_UPDATE, swap(units(tea=1), (TEA_LARGE, 1, Decimal(3000))))
    # then what was reserved is released, the location told to stop, the difference voided
    assert "hand_off refused for good" in reason
    replacement = f"{order_id}-F2"
    assert [r.fulfillment_order_id for r in harness.partners.of("release", act.ReleaseRequest)] == [replacement]
    assert ("cancel_fulfillment", replacement) in harness.partners.calls
    assert len(harness.partners.of("void", act.VoidRequest)) == 1
    # and a later exchange gets a fresh fulfillment order number, never the undone one
    harness.partners.fail_step = None
    again = await exchange(handle, swap(units(tea=1), (TEA_LARGE, 1, Decimal(3000))))
    assert again.fulfillment_order_ids == [f"{order_id}-F3"]
    # and a fresh exchange id, so its difference is authorized anew rather than the voided one replayed
    assert again.exchange_id == f"{order_id}-X2"
    keys = [a.idempotency_key for a in harness.partners.of("authorize", act.AuthorizeRequest)]
    assert len(set(keys)) == len(keys) == 3


async def test_an_exchange_is_refused_beyond_what_was_delivered_or_at_another_price(harness: Harness) -> None:
    # given a delivered order of one tea tin
    handle, _ = await delivered_order(harness, tea=1)
    # when exchanges ask for two tins back, a new sku without a price, or the same sku cheaper
    too_many = await refused(handle, EXCHANGE_UPDATE, swap(units(tea=2), (TEA, 2, None)))
    unpriced = await refused(handle, EXCHANGE_UPDATE, swap(units(tea=1), (TEA_LARGE, 1, None)))
    cheaper = await refused(handle, EXCHANGE_UPDATE, swap(units(tea=1), (TEA, 1, Decimal(1))))
    # then each is refused with a reason and nothing was asked of any partner
    assert "only 1 of 1 delivered unit(s) can be returned" in too_many
    assert "TEA-MATCHA-200 is not on the order: give the replacement's unit_price" in unpriced
    assert "TEA-MATCHA-100 is on the order at 2400" in cheaper
    assert harness.partners.names().count("allocate") == 1  # the checkout's only


async def test_the_replacement_cannot_be_canceled_the_return_pays_for_it(harness: Harness) -> None:
    # given an even exchange whose replacement has not shipped
    handle, _ = await delivered_order(harness, tea=1)
    await exchange(handle, swap(units(tea=1), (TEA, 1, None)))
    # when the customer tries to cancel everything
    reason = await refused(handle, CANCEL_UPDATE, CancelRequest(reason="changed my mind", actor="customer:C-1"))
    # then the cancel is refused: the replacement belongs to the exchange
    assert "use a return" in reason
    assert final_order(harness).line(TEA).canceled == 0


async def test_a_price_an_agent_set_is_on_the_timeline_with_its_reason(harness: Harness) -> None:
    # given a delivered order of one small tea tin
    handle, _ = await delivered_order(harness, lego=1, tea=1)
    # when an agent exchanges it for a large tin at 2400, not its list price, saying why
    request = swap(units(tea=1), (TEA_LARGE, 1, Decimal(2400)))
    request.replacement[0].price_reason = "large tin late for weeks: same price as the small one"
    result = await exchange(handle, request)
    # then nothing more is charged, and the exchange on the timeline carries the price and why it was set
    assert result.difference == 0
    [requested] = recorded(harness, "ExchangeRequested")
    assert isinstance(requested, ev.ExchangeRequested)
    assert requested.lines[0].price_reason == "large tin late for weeks: same price as the small one"
    assert "1 x TEA-MATCHA-200 at 2400 (price set: large tin late for weeks" in ev.describe(requested)
