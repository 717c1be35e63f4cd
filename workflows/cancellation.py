"""Canceling units: the locations that hold them agree first (amend, or stop an emptied fulfillment order;
"too late" refuses those units), then the cancel is recorded, the reservations given back, and what is no
longer needed of the authorization voided."""

from collections import Counter

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.allocation import AllocationActivities
    from domain import events as ev
    from domain import refusals
    from domain.errors import CancelRefused
    from domain.models import SkuQuantity
    from workflows.messages import CancelRequest, CancelResult
    from workflows.order_facts import Holdings, holdings, nothing_left_to_capture
    from workflows.payments import Payments, step_key
    from workflows.recording import OrderRecord
    from workflows.steps import Step, StepError, Steps, failure_reason, refusal_error


class Cancellation:
    def __init__(self, record: OrderRecord, steps: Steps, payments: Payments) -> None:
        self._record = record
        self._steps = steps
        self._payments = payments
        self.count = 0  # numbers each cancel's keys: a cancel never reuses another's

    async def by_request(self, request: CancelRequest) -> CancelResult:
        """An agent's or customer's cancel; the caller holds the allocation lock."""
        order = self._record.order
        refusal = refusals.cancel_refusal(order, request.lines)
        if refusal is not None:  # what the validator saw changed while an allocation finished
            raise refusal_error(refusal)
        lines = request.lines or order.cancelable_lines()
        self.count += 1
        step = f"cancel:{self.count}"
        lines, refused, too_late = await self._take_back_at_locations(lines, step)
        if not lines:
            raise refusal_error(CancelRefused(too_late or "nothing to cancel"))
        before = holdings(order)
        self._record(ev.ItemsCanceled(at=workflow.now(), actor=request.actor, lines=lines, reason=request.reason))
        await self._release_canceled(before, step, stopped_already=True)
        return CancelResult(
            order_id=order.order_id, status=order.status, canceled=lines, refused=refused, refusal=too_late
        )

    async def by_system(self, lines: list[SkuQuantity], reason: str) -> None:
        """Units nobody can fill, not collected, past the backorder limit, or rejected in review."""
        before = holdings(self._record.order)
        self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=reason))
        self.count += 1
        await self._release_canceled(before, f"cancel:{self.count}")

    async def _take_back_at_locations(
        self, lines: list[SkuQuantity], step: str
    ) -> tuple[list[SkuQuantity], list[SkuQuantity], str | None]:
        """Each location that holds the units amends its fulfillment order (or stops an emptied one). The answer
        is what can be canceled, what cannot (picked or shipped), and why."""
        order = self._record.order
        trial = order.model_copy()  # applying copies only what the event writes: the order itself is untouched
        trial.apply(ev.ItemsCanceled(at=workflow.now(), lines=lines, reason="trial"))
        after = holdings(trial)
        refused = Counter[str]()
        reasons: list[str] = []
        for fo_id, location_id, freed in _freed(holdings(order), after):
            try:
                if fo_id not in after:
                    done = await self._steps.run(
                        AllocationActivities.cancel_fulfillment, fo_id, f"stop {fo_id} at {location_id}"
                    )
                else:
                    amend = act.AmendRequest(
                        fulfillment_order_id=fo_id, remove=freed, key=step_key(f"{step}:amend", fo_id)
                    )
                    summary = f"take {sum(q.quantity for q in freed)} unit(s) off {fo_id} at {location_id}"
                    done = await self._steps.run(AllocationActivities.amend_fulfillment, amend, summary)
                why = (
                    f"too late at {location_id}: it has already picked or shipped {fo_id} (use a return once delivered)"
                )
            except StepError as err:  # the customer may try again; nothing is half-done
                done, why = False, f"{location_id} could not be asked to take back {fo_id} now: {failure_reason(err)}"
            if not done:
                refused.update({q.sku: q.quantity for q in freed})
                reasons.append(why)
        if not refused:
            return lines, [], None
        left = Counter({q.sku: q.quantity for q in lines})
        left.subtract(refused)
        cancelable = [SkuQuantity(sku=sku, quantity=n) for sku, n in sorted(left.items()) if n > 0]
        taken = [SkuQuantity(sku=sku, quantity=n) for sku, n in sorted(refused.items())]
        return cancelable, taken, "; ".join(reasons)

    async def _release_canceled(self, before: Holdings, step: str, *, stopped_already: bool = False) -> None:
        """Give back the reservations the cancel took off fulfillment orders, stop emptied ones (unless the
        locations were told before the cancel was recorded), void if all is gone. The cancel is recorded:
        what fails for good now is for an operator, not a reason to stop."""
        order = self._record.order
        for fo_id, location_id, freed in _freed(before, holdings(order)):
            release = act.ReleaseRequest(
                order_id=order.order_id,
                lines=freed,
                location_id=location_id,
                key=step_key(step, fo_id),
                fulfillment_order_id=fo_id,
            )
            undo = [
                self._steps.step(
                    AllocationActivities.release,
                    release,
                    f"release {sum(q.quantity for q in freed)} unit(s) at {location_id}",
                )
            ]
            if order.fulfillment_order(fo_id).status == "canceled" and not stopped_already:
                undo.append(
                    self._steps.step(AllocationActivities.cancel_fulfillment, fo_id, f"stop {fo_id} at {location_id}")
                )
            await self._steps.compensate(undo)
        if nothing_left_to_capture(order):
            void = Step("void what the cancel left authorized", self._payments.void_what_is_left)
            await self._steps.attempt_with(void)


def _freed(before: Holdings, after: Holdings) -> list[tuple[str, str, list[SkuQuantity]]]:
    """Per fulfillment order, what it held before and no longer holds."""
    freed = []
    for fo_id, (location_id, held) in sorted(before.items()):
        kept = after.get(fo_id, (location_id, Counter[str]()))[1]
        lines = [SkuQuantity(sku=sku, quantity=n - kept[sku]) for sku, n in sorted(held.items()) if n > kept[sku]]
        if lines:
            freed.append((fo_id, location_id, lines))
    return freed
