"""The legacy order workflow's allocation: route and reserve, place fulfillment orders, backorder or cancel."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.models import SkuQuantity
    from workflows.legacy.order_core import OrderCore, holdings
    from workflows.messages import (
        ReshipRequest,
    )


class Allocation(OrderCore):
    async def _allocate(
        self, lines: list[SkuQuantity], hold_until: datetime | None = None, *, must: bool = False
    ) -> act.AllocateResult:
        placed = self._input.order
        address = self._order.delivery_address or placed.shipping_address
        fos = self._order.fulfillment_orders
        request = act.AllocateRequest(
            order_id=placed.order_id,
            channel=placed.channel,
            lines=lines,
            latitude=address.latitude,
            longitude=address.longitude,
            pickup_location_id=placed.pickup_location_id if placed.delivery_method == "pickup" else None,
            ship_to=address.model_dump(mode="json"),
            delivery_method=placed.delivery_method,
            first_number=len(fos) + 1 + self._numbers_skipped,
            excluded=sorted({fo.location_id for fo in fos if fo.status == "rejected"}),
            hold_until=hold_until,
        )
        summary = f"route and reserve {sum(q.quantity for q in lines)} unit(s), release to locations"
        if must:
            return await self._must(act.ALLOCATE_ORDER, request, act.AllocateResult, summary)
        return await self._step(act.ALLOCATE_ORDER, request, act.AllocateResult, summary)

    def _ship_to(self) -> dict[str, Any]:
        """Where the order goes now: an agent may have changed the checkout's address."""
        return (self._order.delivery_address or self._input.order.shipping_address).model_dump(mode="json")

    def _place(
        self,
        allocation: act.AllocateResult,
        *,
        actor: str = "system",
        reship: ReshipRequest | None = None,
        exchange_id: str | None = None,
    ) -> None:
        now = workflow.now()
        for fo in allocation.fulfillment_orders:
            self._record(
                ev.InventoryReserved(
                    at=now, actor=actor, location_id=fo.location_id, lines=fo.lines, reship=reship is not None
                )
            )
            self._record(
                ev.FulfillmentOrderCreated(
                    at=now,
                    actor=actor,
                    fulfillment_order_id=fo.fulfillment_order_id,
                    location_id=fo.location_id,
                    lines=fo.lines,
                    promised_date=fo.promised_date,
                    reship=reship is not None,
                    reason=reship.reason if reship else None,
                    exchange_id=exchange_id,
                )
            )

    async def _handle_unfilled(self, unfilled: list[SkuQuantity]) -> None:
        """The channel's policy: wait for stock up to a limit, or cancel the units at once."""
        if not unfilled:
            return
        wait = self._input.backorder_seconds
        if wait is None:
            await self._cancel_by_system(
                unfilled, "no location can fill these units and the channel does not backorder"
            )
        elif self._order.backordered_until is None:
            until = workflow.now() + timedelta(seconds=wait)
            self._record(ev.LinesBackordered(at=workflow.now(), lines=unfilled, until=until))

    async def _cancel_by_system(self, lines: list[SkuQuantity], reason: str) -> None:
        before = holdings(self._order)
        self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=reason))
        self._cancels += 1
        await self._release_canceled(before, f"cancel:{self._cancels}")

    async def _release_canceled(
        self, before: dict[str, tuple[str, Counter[str]]], step: str, *, stopped_already: bool = False
    ) -> None:
        """Give back the reservations the cancel took off fulfillment orders, stop emptied ones (unless the
        locations were told before the cancel was recorded), void if all gone."""
        after = holdings(self._order)
        for fo_id, (location_id, held) in sorted(before.items()):
            kept = after.get(fo_id, (location_id, Counter()))[1]
            freed = [SkuQuantity(sku=sku, quantity=n - kept[sku]) for sku, n in sorted(held.items()) if n > kept[sku]]
            if not freed:
                continue
            release = act.ReleaseRequest(
                order_id=self._order.order_id,
                lines=freed,
                location_id=location_id,
                key=self._key(step, fo_id),
                fulfillment_order_id=fo_id,
            )
            # the cancel is recorded: what fails for good now is for an operator, not a reason to stop
            steps: list[tuple[str, Any, type[Any], str]] = [
                (
                    act.RELEASE_INVENTORY,
                    release,
                    int,
                    f"release {sum(q.quantity for q in freed)} unit(s) at {location_id}",
                )
            ]
            if self._order.fulfillment_order(fo_id).status == "canceled" and not stopped_already:
                steps.append((act.CANCEL_FULFILLMENT, fo_id, bool, f"stop {fo_id} at {location_id}"))
            await self._run_compensations(steps)
        if self._nothing_left_to_capture():
            try:
                await self._void_authorization()
            except (ActivityError, ApplicationError) as err:
                self._step_failed("void what the cancel left authorized", err, self._void_authorization)
