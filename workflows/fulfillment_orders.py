"""One coroutine per fulfillment order: released → shipped, rejected or ready for pickup → captured →
delivered, chasing its partner past each deadline. Fulfillment orders live inside the order's workflow rather
than as child workflows: a child would add a dozen events per fulfillment order to what an order costs, and
the operator already sees each one in the order's timeline and in its step summaries."""

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import events as ev
    from domain import ids
    from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState
    from workflows.allocation import Allocation
    from workflows.cancellation import Cancellation
    from workflows.messages import CarrierEvent, OrderInput, WarehouseEvent
    from workflows.order_facts import nothing_left_to_capture
    from workflows.partner_deadlines import PartnerDeadlines
    from workflows.payments import Payments
    from workflows.recording import OrderRecord
    from workflows.steps import Followers, Steps


class FulfillmentOrders:
    def __init__(
        self,
        input: OrderInput,
        record: OrderRecord,
        steps: Steps,
        payments: Payments,
        allocation: Allocation,
        cancellation: Cancellation,
    ) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._payments = payments
        self._allocation = allocation
        self._cancellation = cancellation
        self.deadlines = PartnerDeadlines(input, record, steps, self.deliver)
        self.early_deliveries: set[str] = set()
        self.released_rejections: set[str] = set()
        self.collect_by: dict[str, datetime] = {}
        self._followers = Followers(self._process)
        allocation.on_new_fulfillment_order(self._followers.follow)

    @property
    def crashed(self) -> Exception | None:
        return self._followers.crashed

    def _fo(self, fo_id: str) -> FulfillmentOrderState:
        return self._record.order.fulfillment_order(fo_id)

    def follow_unfinished(self) -> None:
        """After continuing as new: every fulfillment order not yet settled is followed again."""
        for fo in self._record.order.fulfillment_orders:
            settled = fo.status in ("canceled", "withdrawn") or (fo.status == "delivered" and fo.invoice_id)
            if not settled and fo.id not in (self.released_rejections if fo.status == "rejected" else ()):
                self._followers.follow(fo.id)

    async def _process(self, fo_id: str) -> None:
        fo = await self._until(fo_id, lambda f: f.status != "released")
        if fo.status == "rejected":
            await self._rejected(fo)
            return
        if fo.status == "ready_for_pickup":
            fo = await self._collected(fo)
        if fo.status in CLOSED_FULFILLMENT:
            return
        if fo.invoice_id is None:
            await self._payments.capture(fo)
            if nothing_left_to_capture(self._record.order):
                await self._payments.void_what_is_left(must=True)
            await self._record.flush()
        if self._fo(fo_id).status == "shipped":
            await self._until(fo_id, lambda f: f.status != "shipped")
            await self._record.flush()

    async def _until(self, fo_id: str, moved_on: Callable[[FulfillmentOrderState], bool]) -> FulfillmentOrderState:
        """Wait for the partner's news; past the deadline, chase the partner and keep waiting."""
        while True:
            await workflow.wait_condition(lambda: moved_on(self._fo(fo_id)) or self.deadlines.due(fo_id))
            if moved_on(self._fo(fo_id)):
                return self._fo(fo_id)
            await self.deadlines.chase(self._fo(fo_id))
            await self._record.flush()

    async def _rejected(self, fo: FulfillmentOrderState) -> None:
        """Its units go back to stock and are routed again at once, from elsewhere (never the same location),
        even while others of the order wait for stock; a reship or a replacement is sent again as it was."""
        async with self._allocation.lock:
            await self._allocation.release(fo, "rejected", f"release {fo.id}, rejected at {fo.location_id}")
            self.released_rejections.add(fo.id)
            if fo.reship or fo.exchange_id is not None:
                await self._allocation.send_again(fo)
            else:
                await self._allocation.route_unallocated_locked()
        await self._record.flush()

    def rejections_pending(self) -> bool:
        """A rejected fulfillment order whose coroutine has not yet given its units back and routed them again."""
        return any(
            fo.status == "rejected" and fo.id not in self.released_rejections
            for fo in self._record.order.fulfillment_orders
        )

    async def _collected(self, fo: FulfillmentOrderState) -> FulfillmentOrderState:
        """A pickup waits at the store until its collect-by date, then is canceled and its units restocked."""
        collect_by = self.collect_by[fo.id]
        await self._record.flush()  # agents and the customer see it waiting at the store meanwhile
        try:
            await workflow.wait_condition(
                lambda: self._fo(fo.id).status != "ready_for_pickup",
                timeout=max(collect_by - workflow.now(), timedelta(seconds=1)),
                timeout_summary="pickup deadline",
            )
        except TimeoutError:
            async with self._allocation.lock:
                if self._fo(fo.id).status == "ready_for_pickup":
                    await self._cancellation.by_system(
                        fo.lines, f"not collected at {fo.location_id} by {collect_by:%Y-%m-%d}"
                    )
        await self._record.flush()
        return self._fo(fo.id)

    # -- the partners' news --------------------------------------------------------------------------
    def on_warehouse_event(self, event: WarehouseEvent) -> None:
        """Repeated or late events find the fulfillment order past that state and change nothing."""
        fo = next((f for f in self._record.order.fulfillment_orders if f.id == event.fulfillment_order_id), None)
        if fo is None:
            return
        now = workflow.now()
        if event.event == "shipped" and fo.status == "released":
            self._record(
                ev.ShipmentShipped(
                    at=now,
                    actor="partner:warehouse",
                    fulfillment_order_id=fo.id,
                    carrier=event.carrier or "unknown",
                    tracking_number=event.tracking_number or ids.untracked_parcel(fo.id),
                )
            )
            if fo.id in self.early_deliveries:
                self.deliver(fo.id)
        elif event.event == "rejected" and fo.status == "released":
            reason = event.reason or f"rejected by {fo.location_id}"
            self._record(
                ev.FulfillmentOrderRejected(
                    at=now, actor="partner:warehouse", fulfillment_order_id=fo.id, reason=reason
                )
            )
        elif event.event in ("ready_for_pickup", "picked_up") and fo.status == "released":
            collect_by = now + timedelta(seconds=self._input.pickup_hold_seconds)
            self.collect_by[fo.id] = collect_by
            self._record(
                ev.ReadyForPickup(at=now, actor="partner:store", fulfillment_order_id=fo.id, collect_by=collect_by)
            )
        if event.event == "picked_up" and self._fo(fo.id).status == "ready_for_pickup":
            self._record(ev.PickedUp(at=now, actor="partner:store", fulfillment_order_id=fo.id))

    def on_carrier_event(self, event: CarrierEvent) -> None:
        if event.event != "delivered":
            return
        order = self._record.order
        fo = next((f for f in order.fulfillment_orders if f.tracking_number == event.tracking_number), None)
        if fo is not None and fo.status == "shipped":
            self.deliver(fo.id)

    def deliver(self, fo_id: str) -> None:
        fo = self._fo(fo_id)
        if fo.status != "shipped" or fo.tracking_number is None:
            self.early_deliveries.add(fo_id)
            return
        self._record(
            ev.ShipmentDelivered(
                at=workflow.now(),
                actor="partner:carrier",
                fulfillment_order_id=fo_id,
                tracking_number=fo.tracking_number,
            )
        )
