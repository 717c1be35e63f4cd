"""The order's service rules: given an order as it stands, when a request is asked of it, then this refusal (or
none). The Order's `<x>_refusal` methods give the same reason as text."""

from decimal import Decimal
from typing import Any

import pytest

from domain import events as ev
from domain.errors import (
    AddressChangeRefused,
    AppeasementRefused,
    ApprovalRefused,
    CancelRefused,
    DomainError,
    ExchangeRefused,
    Refusal,
    ReshipRefused,
    ReturnRefused,
    ReviewRefused,
)
from domain.models import DeliveryMethod, PlaceOrder, SkuQuantity
from domain.order import (
    ExchangeState,
    FulfillmentOrderState,
    LineState,
    Order,
    OrderStatus,
    PaymentState,
    ReturnState,
)
from domain.refusals import (
    address_change_refusal,
    appeasement_refusal,
    approval_refusal,
    cancel_refusal,
    named_twice,
    replacement_refusal,
    reship_refusal,
    return_refusal,
    review_refusal,
)

PRICE = Decimal(100)


def placed(delivery_method: DeliveryMethod = "standard") -> PlaceOrder:
    return PlaceOrder.model_validate(
        {
            "order_id": "R-1",
            "channel": "web",
            "customer": {"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato"},
            "currency": "JPY",
            "lines": [{"sku": "A", "quantity": 2, "unit_price": str(PRICE)}],
            "shipping_address": {
                "name": "Aiko Sato",
                "line1": "1-1 Marunouchi",
                "city": "Chiyoda",
                "postal_code": "100-0005",
                "country": "JP",
            },
            "delivery_method": delivery_method,
            "pickup_location_id": "STORE-GINZA" if delivery_method == "pickup" else None,
            "payment": {"token": "tok_visa"},
        }
    )


def line(*, ordered: int = 2, shipped: int = 0, delivered: int = 0, returned: int = 0) -> LineState:
    """A line of sku A, all of it allocated."""
    return LineState(
        sku="A",
        unit_price=PRICE,
        ordered=ordered,
        allocated=ordered,
        shipped=shipped,
        delivered=delivered,
        returned=returned,
    )


def fo(fo_id: str, status: str, quantity: int = 1, **fields: Any) -> FulfillmentOrderState:
    return FulfillmentOrderState.model_validate(
        {"id": fo_id, "location_id": "DC", "lines": [{"sku": "A", "quantity": quantity}], "status": status, **fields}
    )


def order(
    status: OrderStatus = "accepted",
    *,
    lines: LineState | None = None,
    fos: list[FulfillmentOrderState] | None = None,
    delivery_method: DeliveryMethod = "standard",
    **fields: Any,
) -> Order:
    return Order(
        order_id="R-1",
        status=status,
        placed=placed(delivery_method),
        lines=[lines or line()],
        fulfillment_orders=fos if fos is not None else [fo("F1", "released", 2)],
        **fields,
    )


DELIVERED = order("delivered", lines=line(shipped=2, delivered=2), fos=[fo("F1", "delivered", 2)])


def units(*quantities: int, sku: str = "A") -> list[SkuQuantity]:
    return [SkuQuantity(sku=sku, quantity=n) for n in quantities]


def replacement(sku: str = "B", unit_price: Decimal | str = "500", quantity: int = 1) -> list[ev.ExchangeLine]:
    return [ev.ExchangeLine(sku=sku, quantity=quantity, unit_price=Decimal(unit_price))]


def assert_refused(refusal: Refusal | None, kind: type[Refusal], reason: str | None) -> None:
    if reason is None:
        assert refusal is None
    else:
        assert isinstance(refusal, kind)
        assert (str(refusal), refusal.reason) == (reason, reason)


TWICE = "name each sku once: A is on two lines; add up the quantities"

CANCEL = [
    pytest.param(order("pending"), None, "the order is still being placed; try again in a moment", id="pending"),
    pytest.param(order("canceled"), None, "the order is canceled and can no longer be canceled", id="final"),
    pytest.param(
        DELIVERED, None, "everything on the order has shipped or is canceled already: use a return", id="all-shipped"
    ),
    pytest.param(order(), units(1, 1), TWICE, id="sku-named-twice"),
    pytest.param(order(), units(1, sku="NOPE"), "the order has no line for NOPE", id="unknown-sku"),
    pytest.param(
        order(
            "partially_shipped",
            lines=line(ordered=3, shipped=2, delivered=2),
            fos=[fo("F1", "delivered", 2), fo("F2", "released", exchange_id="X1")],
            exchanges=[
                ExchangeState(
                    id="X1",
                    return_id="R1",
                    lines=replacement("A", PRICE),
                    credit=PRICE,
                    difference=0,
                    authorization_id=None,
                )
            ],
        ),
        units(1),
        "A: only 0 can be canceled; 1 are an exchange's replacement, paid for by its return",
        id="an-exchange-replacement",
    ),
    pytest.param(
        order("partially_shipped", lines=line(shipped=1), fos=[fo("F1", "shipped"), fo("F2", "released")]),
        units(2),
        "A: only 1 of 2 can be canceled; the rest shipped — use a return",
        id="more-than-left-to-ship",
    ),
    pytest.param(order(), units(3), "A: only 2 of 2 can still be canceled", id="more-than-ordered"),
    pytest.param(order(), units(2), None, id="what-has-not-shipped"),
    pytest.param(order(), None, None, id="everything-left"),
]


@pytest.mark.parametrize(("given", "lines", "then"), CANCEL)
def test_cancel(given: Order, lines: list[SkuQuantity] | None, then: str | None) -> None:
    # when a cancel of the lines (None: all that is left) is asked
    refusal = cancel_refusal(given, lines)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, CancelRefused, then)
    assert given.cancel_refusal(lines) == then


RETURN = [
    pytest.param(DELIVERED, [], "a return needs at least one line", id="no-lines"),
    pytest.param(DELIVERED, units(1, 1), TWICE, id="sku-named-twice"),
    pytest.param(DELIVERED, units(1, sku="NOPE"), "the order has no line for NOPE", id="unknown-sku"),
    pytest.param(
        order(
            "delivered",
            lines=line(shipped=2, delivered=2),
            fos=[fo("F1", "delivered", 2)],
            returns=[
                ReturnState(
                    id="R1", rma="RMA-1", lines=units(1), method="mail", location_id="DC", label=None, refund_amount=0
                )
            ],
        ),
        units(2),
        "A: 2 asked, but only 1 of 2 delivered unit(s) can be returned",
        id="one-on-a-return-already",
    ),
    pytest.param(order(), units(1), "A: 1 asked, but only 0 of 0 delivered unit(s) can be returned", id="undelivered"),
    pytest.param(DELIVERED, units(2), None, id="delivered"),
]


@pytest.mark.parametrize(("given", "lines", "then"), RETURN)
def test_return(given: Order, lines: list[SkuQuantity], then: str | None) -> None:
    # when a return of the lines is asked
    refusal = return_refusal(given, lines)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, ReturnRefused, then)
    assert given.return_refusal(lines) == then


RESHIP = [
    pytest.param(order("pending"), units(1), "the order is pending: nothing to reship", id="pending"),
    pytest.param(order("on_hold"), units(1), "the order is on_hold: nothing to reship", id="on-hold"),
    pytest.param(order("canceled"), units(1), "the order is canceled: nothing to reship", id="canceled"),
    pytest.param(
        order("completed", lines=line(shipped=2, delivered=2)),
        units(1),
        "the order's service window has closed",
        id="completed",
    ),
    pytest.param(DELIVERED, units(1, 1), TWICE, id="sku-named-twice"),
    pytest.param(DELIVERED, units(1, sku="NOPE"), "the order has no line for NOPE", id="unknown-sku"),
    pytest.param(
        order(
            "delivered",
            lines=line(shipped=2, delivered=2),
            fos=[fo("F1", "delivered", 2), fo("F2", "shipped", reship=True)],
        ),
        units(2),
        "A: 2 asked, but only 1 delivered unit(s) can be reshipped",
        id="one-resent-already",
    ),
    pytest.param(
        order("delivered", lines=line(shipped=2, delivered=2, returned=2)),
        units(1),
        "A: 1 asked, but only 0 delivered unit(s) can be reshipped",
        id="returned",
    ),
    pytest.param(DELIVERED, units(2), None, id="delivered"),
]


@pytest.mark.parametrize(("given", "lines", "then"), RESHIP)
def test_reship(given: Order, lines: list[SkuQuantity], then: str | None) -> None:
    # when a reship of the lines is asked
    refusal = reship_refusal(given, lines)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, ReshipRefused, then)
    assert given.reship_refusal(lines) == then


EXCHANGE = [
    pytest.param(DELIVERED, [], "an exchange needs at least one replacement line", id="no-lines"),
    pytest.param(DELIVERED, replacement("A", PRICE) * 2, TWICE, id="sku-named-twice"),
    pytest.param(
        DELIVERED,
        replacement(unit_price="100000000000000"),
        "B: 1 at 100000000000000 is more than an order may come to (99999999999999)",
        id="priced-beyond-any-order",
    ),
    pytest.param(
        DELIVERED,
        replacement(quantity=10_001),
        "B: 10001 at 500 is more than an order may come to (99999999999999)",
        id="more-units-than-a-line-holds",
    ),
    pytest.param(
        DELIVERED, replacement(unit_price="1.5"), "B: 1.5 has more decimals than JPY allows", id="too-precise"
    ),
    pytest.param(
        DELIVERED,
        replacement("A", "200"),
        "A is on the order at 100; its replacement is priced the same",
        id="a-sku-of-the-order-repriced",
    ),
    pytest.param(
        order("delivered", payment=PaymentState(authorized=Decimal("99999999999999"))),
        replacement(unit_price="1"),
        "the replacement is worth 1 JPY: with the 99999999999999 authorized already, more than an order may come to "
        "(99999999999999)",
        id="the-order-would-come-to-too-much",
    ),
    pytest.param(DELIVERED, replacement("A", PRICE), None, id="the-same-sku"),
    pytest.param(DELIVERED, replacement(), None, id="another-sku"),
]


@pytest.mark.parametrize(("given", "lines", "then"), EXCHANGE)
def test_replacement(given: Order, lines: list[ev.ExchangeLine], then: str | None) -> None:
    # when an exchange for the replacement lines is asked
    refusal = replacement_refusal(given, lines)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, ExchangeRefused, then)
    assert given.replacement_refusal(lines) == then


ADDRESS_CHANGE = [
    pytest.param(
        order(delivery_method="pickup"),
        "a pickup order is collected at its store and has no delivery address",
        id="pickup",
    ),
    pytest.param(order("completed"), "the order is completed; its address can no longer change", id="final"),
    pytest.param(order("pending"), "the order is pending; its address can no longer change", id="pending"),
    pytest.param(order("on_hold", held=True), "the order is on hold for review: decide the review first", id="held"),
    pytest.param(
        order("partially_shipped", fos=[fo("F1", "shipped"), fo("F2", "ready_for_pickup"), fo("F3", "released")]),
        "F1, F2 already left its location: the address can change only before shipment",
        id="some-left-already",
    ),
    pytest.param(order(fos=[fo("F1", "released"), fo("F2", "rejected")]), None, id="nothing-left-yet"),
]


@pytest.mark.parametrize(("given", "then"), ADDRESS_CHANGE)
def test_address_change(given: Order, then: str | None) -> None:
    # when the delivery address is to change
    refusal = address_change_refusal(given)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, AddressChangeRefused, then)
    assert given.address_change_refusal() == then


CAPTURED = order("delivered", payment=PaymentState(authorized=200, captured=100, refunded=40))

APPEASEMENT = [
    pytest.param(CAPTURED, Decimal(0), "an appeasement must be a positive amount", id="nothing"),
    pytest.param(CAPTURED, Decimal(-1), "an appeasement must be a positive amount", id="negative"),
    pytest.param(CAPTURED, Decimal("0.5"), "0.5 has more decimals than JPY allows", id="too-precise"),
    pytest.param(CAPTURED, Decimal(61), "61 is above the 60 JPY captured and not yet refunded", id="beyond-captured"),
    pytest.param(CAPTURED, Decimal(60), None, id="what-is-left"),
]


@pytest.mark.parametrize(("given", "amount", "then"), APPEASEMENT)
def test_appeasement(given: Order, amount: Decimal, then: str | None) -> None:
    # when a goodwill refund of the amount is asked
    refusal = appeasement_refusal(given, amount)
    # then it is refused for the row's reason, or not at all
    assert_refused(refusal, AppeasementRefused, then)
    assert given.appeasement_refusal(amount) == then


@pytest.mark.parametrize(
    ("lines", "then"),
    [
        pytest.param([], None, id="none"),
        pytest.param(units(1) + units(1, sku="B"), None, id="each-once"),
        pytest.param(units(1) + units(1, sku="B") + units(2), TWICE, id="twice"),
        pytest.param(replacement("A", PRICE) * 2, TWICE, id="replacement-lines"),
    ],
)
def test_a_request_names_each_sku_once(lines: list[SkuQuantity], then: str | None) -> None:
    assert named_twice(lines) == then


HOLDS = [
    pytest.param(
        order(),
        "the order is accepted, not on hold for review",
        "the order is accepted, not waiting for its account's approver",
        id="not-held",
    ),
    pytest.param(
        order("on_hold", held=True, awaiting_review=True),
        None,
        "the order is on_hold, not waiting for its account's approver",
        id="fraud-review",
    ),
    pytest.param(
        order("on_hold", held=True, awaiting_approval=True),
        "the order waits for its account's approver, not for a fraud review: use its approval",
        None,
        id="approver-only",
    ),
    pytest.param(order("on_hold", held=True, awaiting_review=True, awaiting_approval=True), None, None, id="both"),
    # held for review before approvals existed: held, neither flag
    pytest.param(
        order("on_hold", held=True),
        None,
        "the order is on_hold, not waiting for its account's approver",
        id="held-before-approvals",
    ),
    pytest.param(
        order("canceled", held=True, awaiting_approval=True),
        "the order is canceled, not on hold for review",
        "the order is canceled, not waiting for its account's approver",
        id="canceled-while-waiting",
    ),
]


@pytest.mark.parametrize(("given", "review", "approval"), HOLDS)
def test_review_and_approval(given: Order, review: str | None, approval: str | None) -> None:
    # when a fraud review, and an account's approval, of the order are asked
    # then each is refused for the row's reason, or not at all
    assert_refused(review_refusal(given), ReviewRefused, review)
    assert_refused(approval_refusal(given), ApprovalRefused, approval)


@pytest.mark.parametrize(
    "kind",
    [
        CancelRefused,
        ReturnRefused,
        ReshipRefused,
        ExchangeRefused,
        AddressChangeRefused,
        AppeasementRefused,
        ReviewRefused,
        ApprovalRefused,
    ],
)
def test_every_refusal_is_a_domain_error_carrying_its_reason(kind: type[Refusal]) -> None:
    # given a refusal of each kind, then it is caught as a Refusal, a DomainError, and reads as its reason
    with pytest.raises(Refusal) as refused:
        raise kind("because")
    assert isinstance(refused.value, DomainError)
    assert (str(refused.value), refused.value.reason) == ("because", "because")
