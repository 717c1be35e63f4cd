"""Every path an order can take, as a scenario that drives the order workflow from checkout to its end.

Each scenario checks out through update-with-start, as the API does, against the workflow tier's fake
partners, then plays the customer, the agents and the partners until the workflow closes in the outcome it
names. `record_histories` runs them on a dev server and saves each history as `<name>@<HISTORY_VERSION>.json`;
`test_replay` replays every saved history and checks that each path here has at least one.

Windows are a few seconds, so expiries (review, pickup, return window) happen quickly in real time.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from domain.ids import workflow_id_for
from domain.models import Address, SkuQuantity
from domain.order import Order
from tests.orders import place_order
from tests.workflows.conftest import LEGO, TEA, FakePartners, lines, ship_and_deliver, warehouse
from workflows import search_attributes as sa
from workflows.messages import (
    ADDRESS_UPDATE,
    APPROVAL_UPDATE,
    CANCEL_UPDATE,
    CHECKOUT_UPDATE,
    EXCHANGE_UPDATE,
    ORDER_PROCESS_VERSION,
    RESHIP_UPDATE,
    RETRY_UPDATE,
    RETURN_SIGNAL,
    RETURN_UPDATE,
    REVIEW_UPDATE,
    STOCK_RECEIVED_SIGNAL,
    WAREHOUSE_SIGNAL,
    ActionResult,
    AddressChange,
    ApprovalDecision,
    ApprovalPolicy,
    CancelRequest,
    CancelResult,
    CheckoutResult,
    ExchangeRequest,
    ExchangeResult,
    OrderInput,
    OrderOutcome,
    ReplacementLine,
    ReshipRequest,
    RetryRequest,
    RetryResult,
    ReturnedUnits,
    ReturnEvent,
    ReturnRequest,
    ReturnResult,
    ReviewDecision,
    StockReceived,
    WarehouseEvent,
)
from workflows.order import OrderWorkflow

# The version the next recording writes. Histories of earlier versions stay and keep replaying; raise this
# when the workflow changes, so its new histories sit next to the old ones instead of replacing them.
HISTORY_VERSION = "v4"

WINDOW = 4.0  # seconds: the return window, and as long again for returns already on their way
EXPIRY = 2.0  # seconds: a review or a pickup nobody acts on
LONG = 120.0  # seconds: a deadline the scenario acts before
# a location asked again after a second of silence, and flagged for a person after another
SHORT_DEADLINES: dict[str, Any] = {"fulfillment_sla_seconds": 1.0, "delivery_sla_seconds": LONG}
TEA_LARGE = "TEA-MATCHA-200"
# 25 sets shipped to someone else's name: large (+40), bulk (+25), name differs (+10) = 75, held for review
SUSPICIOUS: dict[str, Any] = {
    "lines": [{"sku": LEGO, "quantity": 25, "unit_price": "24980"}],
    "shipping_address": {
        "name": "Someone Else",
        "line1": "1-1 Marunouchi",
        "city": "Chiyoda",
        "postal_code": "100-0005",
        "country": "JP",
        "latitude": 35.681,
        "longitude": 139.767,
    },
}
PICKUP: dict[str, Any] = {"delivery_method": "pickup", "pickup_location_id": "STORE-GINZA"}
OSAKA = Address(
    name="Aiko Sato",
    line1="2-2 Umeda",
    city="Osaka",
    postal_code="530-0001",
    country="JP",
    latitude=34.702,
    longitude=135.496,
)

Handle = WorkflowHandle[Any, OrderOutcome]


@dataclass
class Run:
    """One scenario's order: the client, its fake partners and its task queue, and the order once checked out."""

    client: Client
    partners: FakePartners
    task_queue: str
    order_id: str
    handle: Handle | None = None

    async def checkout(
        self,
        *,
        backorder_seconds: float | None = None,
        pickup_hold_seconds: float = LONG,
        review_seconds: float = LONG,
        options: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> CheckoutResult:
        """Start the order and check out in one update-with-start, as the API does."""
        order = place_order(self.order_id, **overrides)
        given = OrderInput(
            order=order,
            process_version=ORDER_PROCESS_VERSION,
            return_window_seconds=WINDOW,
            backorder_seconds=backorder_seconds,
            pickup_hold_seconds=pickup_hold_seconds,
            review_seconds=review_seconds,
            **(options or {}),
        )
        start: WithStartWorkflowOperation[Any, OrderOutcome] = WithStartWorkflowOperation(
            OrderWorkflow.run,
            given,
            id=workflow_id_for(order.order_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.ORDER_STATUS, "pending"),
                    SearchAttributePair(sa.CUSTOMER_ID, order.customer.id),
                    SearchAttributePair(sa.CHANNEL, order.channel),
                    SearchAttributePair(sa.ORDER_TOTAL, float(order.total)),
                ]
            ),
        )
        answer: CheckoutResult = await self.client.execute_update_with_start_workflow(
            CHECKOUT_UPDATE, start_workflow_operation=start, result_type=CheckoutResult
        )
        self.handle = await start.workflow_handle()
        return answer

    @property
    def order(self) -> Handle:
        assert self.handle is not None, "check out first"
        return self.handle

    async def until(self, check: Callable[[Order], bool], what: str, within: float = 30.0) -> Order:
        """Query the live order until `check` holds: partner events are handled asynchronously."""
        deadline = time.monotonic() + within
        while True:
            order: Order = await self.order.query(OrderWorkflow.summary)
            if check(order):
                return order
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.order_id} never reached {what}: it is {order.status}")
            await asyncio.sleep(0.05)

    async def update(self, name: str, request: object, result_type: type[Any]) -> Any:
        return await self.order.execute_update(name, request, result_type=result_type)

    async def delivered(self, *fo_ids: str) -> Order:
        """Ship and deliver these fulfillment orders, and wait until the order has captured them all."""
        for fo_id in fo_ids:
            await ship_and_deliver(self.order, fo_id)
        return await self.until(
            lambda o: (
                all(o.fulfillment_order(f).invoice_id is not None for f in fo_ids)
                and all(o.fulfillment_order(f).status == "delivered" for f in fo_ids)
            ),
            "delivered and captured",
        )

    async def receive(self, return_id: str, *arrived: tuple[str, int, str]) -> Order:
        """The returned units arrive at the location, and the return is settled."""
        got = [ReturnedUnits(sku=sku, quantity=n, condition=condition) for sku, n, condition in arrived]
        await self.order.signal(RETURN_SIGNAL, ReturnEvent(return_id=return_id, event="received", lines=got))
        return await self.until(lambda o: o.return_(return_id).status == "refunded", f"{return_id} refunded")


@dataclass(frozen=True)
class Path:
    name: str
    story: str
    drive: Callable[[Run], Awaitable[None]]
    outcome: str  # the status the workflow ends in: a recording that ends otherwise is not saved
    stock: dict[str, dict[str, int]] | None = None  # the fake locations' stock, if not the default
    partners: dict[str, Any] = field(default_factory=dict)  # more settings of the fake partners

    def fake_partners(self) -> FakePartners:
        partners = FakePartners(**self.partners)
        if self.stock is not None:
            partners.stock = {loc: dict(units) for loc, units in self.stock.items()}
        return partners


def units(sku: str, n: int = 1) -> list[SkuQuantity]:
    return [SkuQuantity(sku=sku, quantity=n)]


def expect(answer: CheckoutResult, status: str) -> list[str]:
    assert answer.status == status, f"checkout answered {answer.status} ({answer.reason}), not {status}"
    return answer.fulfillment_order_ids


# -- the scenarios -----------------------------------------------------------------------------------------------
async def happy_path(run: Run) -> None:
    (fo,) = expect(await run.checkout(), "accepted")
    await run.delivered(fo)


async def payment_declined(run: Run) -> None:
    expect(await run.checkout(), "payment_declined")


async def unavailable(run: Run) -> None:
    expect(await run.checkout(), "unavailable")


async def split(run: Run) -> None:
    tokyo, osaka = expect(await run.checkout(lines=lines(2, 1)), "accepted")
    await run.delivered(tokyo)
    await run.delivered(osaka)


async def reroute(run: Run) -> None:
    (first,) = expect(await run.checkout(), "accepted")
    await warehouse(run.order, first, "rejected", "damaged in the racking")
    order = await run.until(lambda o: len(o.fulfillment_orders) == 2, "a second fulfillment order")
    await run.delivered(order.fulfillment_orders[1].id)


async def canceled(run: Run) -> None:
    expect(await run.checkout(lines=lines(1, 1)), "accepted")
    await run.update(CANCEL_UPDATE, CancelRequest(reason="changed my mind", actor="customer:C-1"), CancelResult)


async def partially_canceled(run: Run) -> None:
    (fo,) = expect(await run.checkout(lines=lines(1, 1)), "accepted")
    no_tea = CancelRequest(lines=units(TEA), reason="no tea after all", actor="customer:C-1")
    await run.update(CANCEL_UPDATE, no_tea, CancelResult)
    await run.delivered(fo)


async def returned(run: Run) -> None:
    (fo,) = expect(await run.checkout(lines=lines(2)), "accepted")
    await run.delivered(fo)
    back = ReturnRequest(lines=units(LEGO), reason="not as expected", actor="customer:C-1")
    rma: ReturnResult = await run.update(RETURN_UPDATE, back, ReturnResult)
    await run.receive(rma.return_id, (LEGO, 1, "resellable"))


def _swap(returned: list[SkuQuantity], sku: str, n: int, price: Decimal | None) -> ExchangeRequest:
    return ExchangeRequest(
        returned=returned,
        replacement=[ReplacementLine(sku=sku, quantity=n, unit_price=price)],
        reason="wrong size",
        actor="agent:A-7",
    )


async def _exchange(run: Run, request: ExchangeRequest, returned: tuple[str, int, str], **order: Any) -> None:
    fos = expect(await run.checkout(**order), "accepted")
    await run.delivered(*fos)
    swap: ExchangeResult = await run.update(EXCHANGE_UPDATE, request, ExchangeResult)
    await run.delivered(*swap.fulfillment_order_ids)
    await run.receive(swap.return_id, returned)


async def exchange_even(run: Run) -> None:
    await _exchange(run, _swap(units(LEGO), LEGO, 1, None), (LEGO, 1, "damaged"))


async def exchange_dearer(run: Run) -> None:
    tea_only = [line for line in lines(1, 1) if line["sku"] == TEA]
    request = _swap(units(TEA), TEA_LARGE, 1, Decimal(3000))
    await _exchange(run, request, (TEA, 1, "resellable"), lines=tea_only)


async def exchange_cheaper(run: Run) -> None:
    await _exchange(run, _swap(units(LEGO), TEA, 2, Decimal(2400)), (LEGO, 1, "resellable"))


async def reship(run: Run) -> None:
    (fo,) = expect(await run.checkout(), "accepted")
    await run.delivered(fo)
    lost = ReshipRequest(lines=units(LEGO), reason="lost in transit", actor="agent:A-1")
    again: ActionResult = await run.update(RESHIP_UPDATE, lost, ActionResult)
    await run.delivered(*again.fulfillment_order_ids)


async def address_change(run: Run) -> None:
    (first,) = expect(await run.checkout(), "accepted")
    moved: ActionResult = await run.update(
        ADDRESS_UPDATE, AddressChange(address=OSAKA, reason="moved", actor="customer:C-1"), ActionResult
    )
    (again,) = moved.fulfillment_order_ids
    assert again != first, "the order was routed again"
    await run.delivered(again)


async def fraud_approved(run: Run) -> None:
    fos = expect(await run.checkout(**SUSPICIOUS), "on_hold")
    approve = ReviewDecision(approve=True, reason="called the customer", actor="agent:A-7")
    await run.update(REVIEW_UPDATE, approve, ActionResult)
    await run.delivered(*fos)


async def fraud_rejected(run: Run) -> None:
    expect(await run.checkout(**SUSPICIOUS), "on_hold")
    await run.update(
        REVIEW_UPDATE, ReviewDecision(approve=False, reason="stolen card", actor="agent:A-7"), ActionResult
    )


async def fraud_expired(run: Run) -> None:
    expect(await run.checkout(review_seconds=EXPIRY, **SUSPICIOUS), "on_hold")


async def backorder_restock(run: Run) -> None:
    (first,) = expect(await run.checkout(lines=lines(2), backorder_seconds=LONG), "backordered")
    run.partners.stock["DC-TOKYO"][LEGO] += 5
    await run.order.signal(STOCK_RECEIVED_SIGNAL, StockReceived(location_id="DC-TOKYO", sku=LEGO, quantity=5))
    order = await run.until(lambda o: len(o.fulfillment_orders) == 2, "the backordered set routed")
    await run.delivered(first, order.fulfillment_orders[1].id)


async def pickup(run: Run) -> None:
    (fo,) = expect(await run.checkout(**PICKUP), "accepted")
    await warehouse(run.order, fo, "ready_for_pickup")
    await run.until(lambda o: o.status == "ready_for_pickup", "ready for pickup")
    await warehouse(run.order, fo, "picked_up")


async def pickup_expired(run: Run) -> None:
    (fo,) = expect(await run.checkout(pickup_hold_seconds=EXPIRY, **PICKUP), "accepted")
    await warehouse(run.order, fo, "ready_for_pickup")


async def retry(run: Run) -> RetryResult:
    result: RetryResult = await run.update(
        RETRY_UPDATE, RetryRequest(reason="cause fixed", actor="operator:O-1"), RetryResult
    )
    return result


async def attention_retried(run: Run) -> None:
    (fo,) = expect(await run.checkout(), "accepted")
    await ship_and_deliver(run.order, fo)
    await run.until(lambda o: o.attention is not None, "attention")
    run.partners.fail_step = None
    await retry(run)
    await run.until(lambda o: o.payment.captured > 0, "captured after the retry")


async def partner_silent(run: Run) -> None:
    (fo,) = expect(await run.checkout(options=SHORT_DEADLINES), "accepted")
    await run.until(lambda o: o.attention is not None, "attention after asking again")
    await run.delivered(fo)


async def cancel_too_late(run: Run) -> None:
    (fo,) = expect(await run.checkout(lines=lines(2)), "accepted")
    run.partners.picked.add(fo)
    one = CancelRequest(lines=units(LEGO), reason="only one", actor="customer:C-1")
    try:
        await run.update(CANCEL_UPDATE, one, CancelResult)
    except WorkflowUpdateFailedError:
        pass  # too late: the location has picked it
    else:
        raise AssertionError("a cancel the location is too late for was taken")
    await run.delivered(fo)


async def authorization_renewed(run: Run) -> None:
    run.partners.authorization_expires_at = datetime.now(UTC) + timedelta(hours=1)  # within the renewal margin
    (fo,) = expect(await run.checkout(), "accepted")
    await run.delivered(fo)


async def continued_as_new(run: Run) -> None:
    tokyo, osaka = expect(await run.checkout(lines=lines(2, 1), options={"max_history_events": 40}), "accepted")
    await run.delivered(tokyo)
    first = run.order.first_execution_run_id or run.order.run_id
    latest = run.client.get_workflow_handle(run.order.id)
    for _ in range(100):
        if (await latest.describe()).run_id != first:
            break
        await run.order.signal(WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id=tokyo, event="picked"))
    await ship_and_deliver(latest, osaka)


async def compensation(run: Run) -> None:
    answer = await run.checkout()
    expect(answer, "canceled")
    assert answer.reason and "refused for good" in answer.reason, answer.reason


def _on_account(escalate: float = LONG, expire: float = LONG) -> dict[str, Any]:
    """Three sets on ACME's account, above its 50,000 yen approval threshold."""
    policy = ApprovalPolicy(
        account_id="ACME", threshold=Decimal(50000), escalate_after_seconds=escalate, expire_after_seconds=expire
    )
    return {
        "channel": "b2b",
        "lines": lines(3),
        "payment": {"method": "invoice", "account_id": "ACME", "purchase_order": "PO-1", "terms": "net30"},
        "options": {"approval": policy},
    }


async def approval_approved(run: Run) -> None:
    fos = expect(await run.checkout(**_on_account()), "on_hold")
    approve = ApprovalDecision(approve=True, reason="budgeted", actor="customer:C-BOSS")
    await run.update(APPROVAL_UPDATE, approve, ActionResult)
    await run.delivered(*fos)


async def approval_rejected(run: Run) -> None:
    expect(await run.checkout(**_on_account()), "on_hold")
    reject = ApprovalDecision(approve=False, reason="not this quarter", actor="customer:C-BOSS")
    await run.update(APPROVAL_UPDATE, reject, ActionResult)


async def approval_escalated_then_expired(run: Run) -> None:
    expect(await run.checkout(**_on_account(escalate=EXPIRY / 2, expire=EXPIRY)), "on_hold")
    await run.until(lambda o: o.attention is not None, "the escalation")


async def tax_on_top(run: Run) -> None:
    toronto = {**OSAKA.model_dump(), "city": "Toronto", "postal_code": "M5V 3L9", "country": "CA"}
    canadian = [
        {"sku": LEGO, "quantity": 2, "unit_price": "10.01", "tax_rate": "0.13"},
        {"sku": TEA, "quantity": 1, "unit_price": "0.10", "tax_rate": "0.05"},
    ]
    tokyo, osaka = expect(await run.checkout(currency="CAD", shipping_address=toronto, lines=canadian), "accepted")
    await run.delivered(tokyo, osaka)


_ONE_SET = {"DC-TOKYO": {LEGO: 1}}
_BOTH = {"DC-TOKYO": {LEGO: 5}, "DC-OSAKA": {LEGO: 5}}
_SIZES = {"DC-TOKYO": {LEGO: 10, TEA: 10, TEA_LARGE: 10}}
PATHS: dict[str, Path] = {
    p.name: p
    for p in [
        Path("happy_path", "accepted, shipped, delivered, completed", happy_path, "completed"),
        Path(
            "payment_declined", "the card is declined", payment_declined, "payment_declined", partners={"decline": True}
        ),
        Path(
            "unavailable", "no location can fill it: voided", unavailable, "unavailable", partners={"in_stock": False}
        ),
        Path(
            "split", "two locations ship a part each", split, "completed", {"DC-TOKYO": {LEGO: 2}, "DC-OSAKA": {TEA: 5}}
        ),
        Path("reroute", "rejected at one location, routed to another", reroute, "completed", _BOTH),
        Path("canceled", "canceled in full before shipment", canceled, "canceled"),
        Path("partially_canceled", "one line canceled, the rest ships", partially_canceled, "completed"),
        Path("returned", "a delivered unit returned and refunded", returned, "completed"),
        Path("exchange_even", "exchanged for the same sku", exchange_even, "completed", _SIZES),
        Path("exchange_dearer", "exchanged for a dearer sku", exchange_dearer, "completed", _SIZES),
        Path("exchange_cheaper", "exchanged for a cheaper sku", exchange_cheaper, "completed", _SIZES),
        Path("reship", "a lost unit sent again free", reship, "completed"),
        Path("address_change", "a new address before shipment: rerouted", address_change, "completed", _BOTH),
        Path("fraud_approved", "held for review, approved", fraud_approved, "completed"),
        Path("fraud_rejected", "held for review, rejected", fraud_rejected, "canceled"),
        Path("fraud_expired", "held for review, nobody decides in time", fraud_expired, "canceled"),
        Path("backorder_restock", "a unit waits for stock, then ships", backorder_restock, "completed", _ONE_SET),
        Path("pickup", "collected at the store", pickup, "completed", {"STORE-GINZA": {LEGO: 1}}),
        Path("pickup_expired", "not collected in time", pickup_expired, "canceled", {"STORE-GINZA": {LEGO: 1}}),
        Path(
            "compensation",
            "allocation fails for good at checkout",
            compensation,
            "canceled",
            partners={"fail_step": "allocate"},
        ),
        Path(
            "attention_retried",
            "a capture fails for good, the order needs a person, a retry captures it",
            attention_retried,
            "completed",
            partners={"fail_step": "settle"},
        ),
        Path(
            "partner_silent",
            "a location silent past its deadline: asked again, then a person",
            partner_silent,
            "completed",
        ),
        Path("cancel_too_late", "a partial cancel the location is too late for", cancel_too_late, "completed"),
        Path(
            "authorization_renewed",
            "an authorization about to lapse renewed before capture",
            authorization_renewed,
            "completed",
        ),
        Path("approval_approved", "above its account's threshold, approved", approval_approved, "completed"),
        Path("approval_rejected", "above its account's threshold, rejected", approval_rejected, "canceled"),
        Path(
            "approval_escalated_then_expired",
            "nobody approves: agents asked, then canceled",
            approval_escalated_then_expired,
            "canceled",
        ),
        Path(
            "tax_on_top",
            "tax added on top of prices, captured per shipment",
            tax_on_top,
            "completed",
            {"DC-TOKYO": {LEGO: 2}, "DC-OSAKA": {TEA: 5}},
        ),
        Path(
            "continued_as_new",
            "a long history continues as new",
            continued_as_new,
            "completed",
            {"DC-TOKYO": {LEGO: 2}, "DC-OSAKA": {TEA: 5}},
        ),
    ]
}
