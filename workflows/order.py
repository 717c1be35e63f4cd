"""The order workflow: one per order, from checkout to the close of its service window.

The workflow holds the event-sourced Order aggregate. Each step records domain events; they are
projected to the read model in one batch per step by a local activity, and the search attributes
follow the status. Every step is a local activity: each costs one marker event in the history
instead of a scheduled/started/completed triple and a round trip through the server, which is what
keeps an order's history short and checkout fast. Each marker still names its step, and local
activities retry with backoff like any other.
"""

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.fraud import screen
    from domain.models import SkuQuantity
    from domain.order import FulfillmentOrderState, Order
    from store.read_model import ProjectionBatch
    from workflows import search_attributes as sa
    from workflows.messages import (
        CANCEL_UPDATE,
        CARRIER_SIGNAL,
        CHECKOUT_UPDATE,
        ORDER_WORKFLOW,
        SUMMARY_QUERY,
        WAREHOUSE_SIGNAL,
        CancelRequest,
        CancelResult,
        CarrierEvent,
        CheckoutResult,
        OrderInput,
        OrderOutcome,
        WarehouseEvent,
    )

R = TypeVar("R")
STEP_TIMEOUT = timedelta(seconds=10)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=ORDER_WORKFLOW)
class OrderWorkflow:
    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        self._order = Order(order_id=input.order.order_id)
        self._unprojected: list[ev.RecordedEvent] = []
        self._projected_status: str | None = None
        self._checkout: CheckoutResult | None = None
        self._early_deliveries: set[str] = set()
        self._refusal: str | None = None
        self._void_lock = asyncio.Lock()
        self._flush_lock = asyncio.Lock()

    # -- messages ---------------------------------------------------------------------------
    @workflow.update(name=CHECKOUT_UPDATE)
    async def checkout(self) -> CheckoutResult:
        """Answers the storefront once the order is accepted or refused; repeated checkouts get the same answer."""
        await workflow.wait_condition(lambda: self._checkout is not None)
        assert self._checkout is not None
        return self._checkout

    @workflow.signal(name=WAREHOUSE_SIGNAL)
    def warehouse_event(self, event: WarehouseEvent) -> None:
        fo = self._find_fulfillment_order(event.fulfillment_order_id)
        if fo is None or event.event in ("picked", "packed"):
            return  # progress events are acknowledged by the API; the order does not change
        if event.event == "shipped" and fo.status == "released":
            self._record(
                ev.ShipmentShipped(
                    at=workflow.now(),
                    actor="partner:warehouse",
                    fulfillment_order_id=fo.id,
                    carrier=event.carrier or "unknown",
                    tracking_number=event.tracking_number or f"{fo.id}-NT",
                )
            )
            if fo.id in self._early_deliveries:
                self._deliver(fo.id)
        elif event.event == "rejected":
            workflow.logger.warning("Rejected fulfillment orders are not rerouted yet", extra={"fo": fo.id})

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: CarrierEvent) -> None:
        if event.event != "delivered":
            return
        fo = next((f for f in self._order.fulfillment_orders if f.tracking_number == event.tracking_number), None)
        if fo is None:
            return
        if fo.status == "shipped":
            self._deliver(fo.id)

    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, request: CancelRequest) -> CancelResult:
        lines = request.lines or self._order.cancelable_lines()
        self._record(ev.ItemsCanceled(at=workflow.now(), actor=request.actor, lines=lines, reason=request.reason))
        release = act.ReleaseRequest(order_id=self._order.order_id, lines=lines)
        summary = f"release {sum(q.quantity for q in lines)} canceled unit(s)"
        await self._step(act.RELEASE_INVENTORY, release, int, summary)
        if self._order.status == "canceled":
            await self._void_authorization()
        await self._flush()
        return CancelResult(order_id=self._order.order_id, status=self._order.status, canceled=lines)

    @cancel.validator
    def _cancel_allowed(self, request: CancelRequest) -> None:
        """Refuses at once, with a reason, and the refused cancel never enters the history."""
        refusal = self._order.cancel_refusal(request.lines)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.query(name=SUMMARY_QUERY)
    def summary(self) -> Order:
        return self._order

    # -- the lifecycle ----------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OrderInput) -> OrderOutcome:
        placed = input.order
        self._record(ev.OrderPlaced(at=workflow.now(), actor=f"customer:{placed.customer.id}", order=placed))
        fraud = screen(placed)
        self._record(ev.FraudScreened(at=workflow.now(), score=fraud.score, reasons=fraud.reasons))

        if await self._authorize() and await self._allocate():
            await self._decide()
            await self._ship_and_deliver()
            if self._order.status != "canceled":
                await workflow.sleep(timedelta(seconds=input.return_window_seconds), summary="return window")
                self._record(ev.OrderCompleted(at=workflow.now()))
        await self._decide()
        await workflow.wait_condition(workflow.all_handlers_finished)  # a waiting checkout gets its answer
        return OrderOutcome(order_id=placed.order_id, status=self._order.status, events=self._order.version)

    async def _authorize(self) -> bool:
        placed = self._input.order
        request = act.AuthorizeRequest(
            idempotency_key=self._key("authorize", 1),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=placed.total,
            currency=placed.currency,
        )
        try:
            summary = f"authorize {placed.currency} {placed.total}"
            result = await self._step(act.AUTHORIZE_PAYMENT, request, act.PaymentResult, summary)
        except (ActivityError, ApplicationError) as err:
            refusal = _application_error(err)
            if refusal is None or refusal.type not in (act.PAYMENT_DECLINED, act.PAYMENT_REFUSED):
                raise
            self._refusal = refusal.message
            self._record(ev.PaymentDeclined(at=workflow.now(), actor="gateway", reason=self._refusal))
            return False
        self._record(
            ev.PaymentAuthorized(
                at=workflow.now(), actor="gateway", authorization_id=result.transaction_id, amount=result.amount
            )
        )
        return True

    async def _allocate(self) -> bool:
        placed = self._input.order
        lines = [SkuQuantity(sku=ln.sku, quantity=ln.quantity) for ln in placed.lines]
        request = act.AllocateRequest(
            order_id=placed.order_id,
            lines=lines,
            latitude=placed.shipping_address.latitude,
            longitude=placed.shipping_address.longitude,
            pickup_location_id=placed.pickup_location_id if placed.delivery_method == "pickup" else None,
            ship_to=placed.shipping_address.model_dump(mode="json"),
            delivery_method=placed.delivery_method,
        )
        summary = f"reserve {sum(q.quantity for q in lines)} unit(s) and release to the warehouse"
        allocation = await self._step(act.ALLOCATE_ORDER, request, act.AllocateResult, summary)
        if not allocation.fulfillment_orders:
            await self._void_authorization()
            self._refusal = f"not enough stock at any single location for {', '.join(allocation.short_skus)}"
            self._record(ev.OrderUnavailable(at=workflow.now(), reason=self._refusal, skus=allocation.short_skus))
            return False
        for fo in allocation.fulfillment_orders:
            self._record(ev.InventoryReserved(at=workflow.now(), location_id=fo.location_id, lines=fo.lines))
            self._record(
                ev.FulfillmentOrderCreated(
                    at=workflow.now(),
                    fulfillment_order_id=fo.fulfillment_order_id,
                    location_id=fo.location_id,
                    lines=fo.lines,
                )
            )
        return True

    async def _void_authorization(self) -> None:
        """Void what is left of the authorization, once, whoever asks first (a cancel or the last shipment)."""
        async with self._void_lock:
            auth_id = self._order.payment.authorization_id
            if auth_id is None or self._order.payment.capturable <= 0:
                return
            await self._void(auth_id)

    async def _void(self, auth_id: str) -> None:
        request = act.VoidRequest(idempotency_key=self._key("void", 1), authorization_id=auth_id)
        result = await self._step(act.VOID_AUTHORIZATION, request, act.PaymentResult, f"void {auth_id}")
        self._record(
            ev.AuthorizationVoided(at=workflow.now(), actor="gateway", authorization_id=auth_id, amount=result.amount)
        )

    async def _ship_and_deliver(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: bool(self._awaiting_capture()) or bool(self._unprojected) or self._all_delivered_and_captured()
            )
            for fo in self._awaiting_capture():
                await self._capture(fo)
            if not any(fo.status == "released" for fo in self._order.fulfillment_orders):
                await self._void_authorization()  # what canceled lines left authorized is released
            await self._flush()
            if self._all_delivered_and_captured():
                return

    async def _capture(self, fo: FulfillmentOrderState) -> None:
        amount = self._order.amount_of(fo.lines)
        auth_id = self._order.payment.authorization_id
        assert auth_id is not None, "an accepted order is authorized"
        capture = act.CaptureRequest(
            idempotency_key=self._key("capture", fo.id), authorization_id=auth_id, amount=amount
        )
        request = act.SettleRequest(order_id=self._order.order_id, location_id=fo.location_id, capture=capture)
        summary = f"ship {fo.id} from {fo.location_id}, capture {self._order.currency} {amount}"
        result = await self._step(act.SETTLE_SHIPMENT, request, act.PaymentResult, summary)
        now = workflow.now()
        self._record(
            ev.PaymentCaptured(
                at=now, actor="gateway", transaction_id=result.transaction_id, fulfillment_order_id=fo.id, amount=amount
            )
        )
        self._record(ev.InvoiceIssued(at=now, invoice_id=f"INV-{fo.id}", fulfillment_order_id=fo.id, amount=amount))

    # -- helpers ----------------------------------------------------------------------------
    def _record(self, event: ev.OrderEvent) -> None:
        self._order.apply(event)
        self._unprojected.append(ev.RecordedEvent(seq=self._order.version, event=event))

    def _deliver(self, fo_id: str) -> None:
        fo = self._order.fulfillment_order(fo_id)
        if fo.status != "shipped" or fo.tracking_number is None:
            self._early_deliveries.add(fo_id)
            return
        self._record(
            ev.ShipmentDelivered(
                at=workflow.now(),
                actor="partner:carrier",
                fulfillment_order_id=fo_id,
                tracking_number=fo.tracking_number,
            )
        )

    def _awaiting_capture(self) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status in ("shipped", "delivered") and fo.invoice_id is None
        ]

    def _all_delivered_and_captured(self) -> bool:
        return self._order.status in ("delivered", "canceled") and not self._awaiting_capture()

    def _find_fulfillment_order(self, fo_id: str) -> FulfillmentOrderState | None:
        return next((fo for fo in self._order.fulfillment_orders if fo.id == fo_id), None)

    async def _step(self, name: str, arg: Any, result_type: type[R], summary: str | None = None) -> R:
        result: R = await workflow.execute_local_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
            summary=summary,
        )
        return result

    def _key(self, step: str, n: object) -> str:
        return f"{workflow.info().workflow_id}:{step}:{n}"

    async def _decide(self) -> None:
        """Project what happened, then answer a waiting checkout."""
        await self._flush()
        if self._checkout is None:
            self._checkout = CheckoutResult(
                order_id=self._order.order_id,
                status=self._order.status,
                reason=self._refusal,
                currency=self._order.currency,
                total=self._order.total,
                fulfillment_order_ids=[fo.id for fo in self._order.fulfillment_orders],
            )

    async def _flush(self) -> None:
        # one batch at a time: the projection refuses a batch older than what it holds
        async with self._flush_lock:
            await self._project()

    async def _project(self) -> None:
        if not self._unprojected:
            return
        batch, self._unprojected = self._unprojected, []
        await self._step(
            act.PROJECT_ORDER,
            ProjectionBatch(workflow_id=workflow.info().workflow_id, order=self._order, events=batch),
            type(None),
        )
        if self._order.status != self._projected_status:
            self._projected_status = self._order.status
            workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(self._order.status)])


def _application_error(err: Exception) -> ApplicationError | None:
    """The partner's own error: local activities raise it as is, regular ones wrap it in ActivityError."""
    if isinstance(err, ActivityError):
        return err.cause if isinstance(err.cause, ApplicationError) else None
    return err if isinstance(err, ApplicationError) else None
