"""Reference workloads for the benchmark, beside the order workflow on the same server and worker settings.

- floor: the order lifecycle's waits only (start, shipped, delivered, the window timer, complete):
  what Temporal itself costs per order on this machine.
- naive: the same waits plus the order worker's own activities (the gateway's authorize, routing and
  reservation against PostgreSQL, settle, the read-model projection), each a regular activity, one
  per business step, projecting after each: the order workflow as a Temporal user would write it first.
  It keeps the same event-sourced Order aggregate and writes the same read model as the OMS.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.fraud import screen
    from domain.ids import idempotency_key
    from domain.models import PlaceOrder, SkuQuantity
    from domain.order import Order
    from workflows.messages import CARRIER_SIGNAL, WAREHOUSE_SIGNAL, CarrierEvent, WarehouseEvent

R = TypeVar("R")
NAIVE_TIMEOUT = timedelta(seconds=30)
NAIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
    non_retryable_error_types=act.NON_RETRYABLE_ERRORS,
)


class NaiveInput(BaseModel):
    order: PlaceOrder
    window_seconds: float


class _Lifecycle:
    """The waits every order goes through; subclasses add work at each phase."""

    def __init__(self) -> None:
        self.shipment: WarehouseEvent | None = None
        self.delivery: CarrierEvent | None = None

    @property
    def shipped(self) -> bool:
        return self.shipment is not None

    @property
    def delivered(self) -> bool:
        return self.delivery is not None

    @workflow.signal(name=WAREHOUSE_SIGNAL)
    def warehouse_event(self, event: WarehouseEvent) -> None:
        if self.shipment is None and event.event == "shipped":
            self.shipment = event

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: CarrierEvent) -> None:
        if self.delivery is None and event.event == "delivered":
            self.delivery = event

    async def lifecycle(self, window_seconds: float) -> str:
        await self.phase("checkout")
        await workflow.wait_condition(lambda: self.shipped)
        await self.phase("shipped")
        await workflow.wait_condition(lambda: self.delivered)
        await self.phase("delivered")
        await workflow.sleep(timedelta(seconds=window_seconds))
        await self.phase("completed")
        return "completed"

    async def phase(self, name: str) -> None:
        return None


@workflow.defn(name="BenchFloor")
class FloorWorkflow(_Lifecycle):
    @workflow.run
    async def run(self, window_seconds: float) -> str:
        return await self.lifecycle(window_seconds)


@workflow.defn(name="BenchNaive")
class NaiveWorkflow(_Lifecycle):
    @workflow.init
    def __init__(self, input: NaiveInput) -> None:
        super().__init__()
        self._placed = input.order
        self._order = Order(order_id=input.order.order_id)
        self._unprojected: list[ev.RecordedEvent] = []

    @workflow.run
    async def run(self, input: NaiveInput) -> str:
        return await self.lifecycle(input.window_seconds)

    async def phase(self, name: str) -> None:
        if name == "checkout":
            await self._checkout()
        elif name == "shipped":
            await self._ship()
        elif name == "delivered":
            assert self.delivery is not None
            for event in delivered_events(self._order, self.delivery, workflow.now()):
                self._record(event)
            await self._project()
        else:
            self._record(ev.OrderCompleted(at=workflow.now()))
            await self._project()

    async def _checkout(self) -> None:
        placed, now = self._placed, workflow.now()
        for event in placed_events(placed, now):
            self._record(event)
        authorize = act.AuthorizeRequest(
            idempotency_key=self._key("authorize"),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=placed.total,
            currency=placed.currency,
        )
        auth = await self._activity(act.AUTHORIZE_PAYMENT, authorize, act.PaymentResult)
        self._record(
            ev.PaymentAuthorized(
                at=workflow.now(),
                actor="gateway",
                authorization_id=auth.transaction_id,
                amount=auth.amount,
                expires_at=auth.expires_at,
            )
        )
        await self._project()
        address = placed.shipping_address
        allocate = act.AllocateRequest(
            order_id=placed.order_id,
            channel=placed.channel,
            lines=[SkuQuantity(sku=ln.sku, quantity=ln.quantity) for ln in placed.lines],
            latitude=address.latitude,
            longitude=address.longitude,
            ship_to=address.model_dump(mode="json"),
            delivery_method=placed.delivery_method,
        )
        allocation = await self._activity(act.ALLOCATE_ORDER, allocate, act.AllocateResult)
        if not allocation.fulfillment_orders or allocation.unfilled:
            raise ApplicationError(f"the bench's stock cannot fill {placed.order_id}", non_retryable=True)
        for event in allocated_events(allocation, workflow.now()):
            self._record(event)
        await self._project()

    async def _ship(self) -> None:
        assert self.shipment is not None
        for event in shipped_events(self._order, self.shipment, workflow.now()):
            self._record(event)
        for fo in [f for f in self._order.fulfillment_orders if f.status == "shipped"]:
            amount, auth_id = self._order.charge_for(fo)
            assert auth_id is not None, "an accepted order is authorized"
            capture = act.CaptureRequest(
                idempotency_key=self._key("capture", fo.id), authorization_id=auth_id, amount=amount
            )
            settle = act.SettleRequest(
                order_id=self._order.order_id, location_id=fo.location_id, capture=capture, fulfillment_order_id=fo.id
            )
            result = await self._activity(act.SETTLE_SHIPMENT, settle, act.PaymentResult)
            for event in settled_events(fo.id, auth_id, amount, result, workflow.now()):
                self._record(event)
            await self._project()

    async def _project(self) -> None:
        batch, self._unprojected = self._unprojected, []
        projection = act.ProjectionBatch(workflow_id=workflow.info().workflow_id, order=self._order, events=batch)
        await self._activity(act.PROJECT_ORDER, projection, type(None))

    async def _activity(self, name: str, arg: object, result_type: type[R]) -> R:
        result: R = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=NAIVE_TIMEOUT,
            retry_policy=NAIVE_RETRY,
            summary=name,
        )
        return result

    def _record(self, event: ev.OrderEvent) -> None:
        self._order.apply(event)
        self._unprojected.append(ev.RecordedEvent(seq=self._order.version, event=event))

    def _key(self, step: str, n: object = 1) -> str:
        return idempotency_key(workflow.info().workflow_id, step, n)


# The naive workflow's events, step by step: those the order workflow records on its happy path.
def placed_events(placed: PlaceOrder, now: datetime) -> list[ev.OrderEvent]:
    fraud = screen(placed)
    return [
        ev.OrderPlaced(at=now, actor=f"customer:{placed.customer.id}", order=placed),
        ev.FraudScreened(at=now, score=fraud.score, reasons=fraud.reasons),
    ]


def allocated_events(allocation: act.AllocateResult, now: datetime) -> list[ev.OrderEvent]:
    events: list[ev.OrderEvent] = []
    for fo in allocation.fulfillment_orders:
        events.append(ev.InventoryReserved(at=now, location_id=fo.location_id, lines=fo.lines))
        events.append(
            ev.FulfillmentOrderCreated(
                at=now,
                fulfillment_order_id=fo.fulfillment_order_id,
                location_id=fo.location_id,
                lines=fo.lines,
                promised_date=fo.promised_date,
            )
        )
    return events


def shipped_events(order: Order, shipment: WarehouseEvent, now: datetime) -> list[ev.OrderEvent]:
    """The bench ships every fulfillment order of its order under the one tracking number it signals."""
    return [
        ev.ShipmentShipped(
            at=now,
            actor="partner:warehouse",
            fulfillment_order_id=fo.id,
            carrier=shipment.carrier or "unknown",
            tracking_number=shipment.tracking_number or f"{fo.id}-NT",
        )
        for fo in order.fulfillment_orders
        if fo.status == "released"
    ]


def settled_events(
    fo_id: str, auth_id: str, amount: Decimal, capture: act.PaymentResult, now: datetime
) -> list[ev.OrderEvent]:
    return [
        ev.PaymentCaptured(
            at=now,
            actor="gateway",
            transaction_id=capture.transaction_id,
            fulfillment_order_id=fo_id,
            amount=amount,
            authorization_id=auth_id,
        ),
        ev.InvoiceIssued(at=now, invoice_id=f"INV-{fo_id}", fulfillment_order_id=fo_id, amount=amount),
    ]


def delivered_events(order: Order, delivery: CarrierEvent, now: datetime) -> list[ev.OrderEvent]:
    return [
        ev.ShipmentDelivered(
            at=now, actor="partner:carrier", fulfillment_order_id=fo.id, tracking_number=fo.tracking_number or ""
        )
        for fo in order.fulfillment_orders
        if fo.status == "shipped" and fo.tracking_number == delivery.tracking_number
    ]
