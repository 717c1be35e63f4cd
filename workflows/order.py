"""The order workflow: one per order, from checkout to the close of its service window.

`run` reads as the order's four phases: capture (screen, authorize, reserve, answer the storefront),
fulfillment and delivery (one coroutine per fulfillment order, in `fulfillment_orders`), and service
(returns, exchanges, appeasements until the window closes). The workflow holds the event-sourced Order
aggregate (`recording`); its parts own their steps: `payments`, `allocation`, `cancellation`, `returns`,
`exchanges`, `partner_deadlines`. The handlers below only route messages to them.
"""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.allocation import AllocationActivities
    from domain import events as ev
    from domain import ids, refusals
    from domain.fraud import screen
    from domain.order import Order
    from workflows.allocation import Allocation
    from workflows.cancellation import Cancellation
    from workflows.continuation import Continuation
    from workflows.exchanges import Exchanges
    from workflows.fulfillment_orders import FulfillmentOrders
    from workflows.messages import (
        ADDRESS_UPDATE,
        APPEASEMENT_UPDATE,
        APPROVAL_UPDATE,
        CANCEL_UPDATE,
        CARRIER_SIGNAL,
        CHECKOUT_UPDATE,
        EXCHANGE_UPDATE,
        ORDER_WORKFLOW,
        RESHIP_UPDATE,
        RETRY_UPDATE,
        RETURN_SIGNAL,
        RETURN_UPDATE,
        REVIEW_UPDATE,
        STOCK_RECEIVED_SIGNAL,
        SUMMARY_QUERY,
        WAREHOUSE_SIGNAL,
        ActionResult,
        AddressChange,
        AppeasementRequest,
        AppeasementResult,
        ApprovalDecision,
        CancelRequest,
        CancelResult,
        CarrierEvent,
        CheckoutResult,
        ExchangeRequest,
        ExchangeResult,
        OrderInput,
        OrderOutcome,
        ReshipRequest,
        RetryRequest,
        RetryResult,
        ReturnEvent,
        ReturnRequest,
        ReturnResult,
        ReviewDecision,
        StockReceived,
        WarehouseEvent,
    )
    from workflows.order_facts import fulfilled, nothing_left_to_capture
    from workflows.payments import Payments
    from workflows.recording import OrderRecord
    from workflows.returns import Returns
    from workflows.review import FraudReview
    from workflows.service_window import ServiceWindow
    from workflows.steps import StepError, Steps, failure_reason


@workflow.defn(name=ORDER_WORKFLOW)
class OrderWorkflow:
    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        self._record = OrderRecord(Order(order_id=input.order.order_id))
        self._steps = Steps(self._record, self._record.flush)
        self._payments = Payments(input, self._record, self._steps)
        self._cancellation = Cancellation(self._record, self._steps, self._payments)
        self._allocation = Allocation(input, self._record, self._steps, self._cancellation)
        self._fulfillment = FulfillmentOrders(
            input, self._record, self._steps, self._payments, self._allocation, self._cancellation
        )
        self._returns = Returns(self._record, self._steps, self._payments)
        self._exchanges = Exchanges(self._record, self._steps, self._payments, self._allocation, self._returns)
        self._continuation = Continuation(
            input,
            self._record,
            self._steps,
            self._cancellation,
            self._allocation,
            self._fulfillment,
            self._returns,
            self._exchanges,
        )
        self._window = ServiceWindow(input, self._record, self._returns, self._interrupted, self._continue_if_long)
        self._checkout: CheckoutResult | None = None
        self._checkout_asked = input.resume is not None  # a run continued from another was checked out in it
        self._refusal: str | None = None
        self._review = FraudReview(input, self._record, self._steps, self._cancellation, self._fulfillment.deadlines)
        self._alarm: asyncio.Task[None] | None = None

    @property
    def _order(self) -> Order:
        return self._record.order

    # -- the order's life ------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OrderInput) -> OrderOutcome:
        self._alarm = asyncio.create_task(self._fulfillment.deadlines.keep_alarm())
        phase = "fulfilment"
        if input.resume is not None:
            phase = self._resume(input)
        else:
            try:
                if not await self._capture():
                    return await self._close()
            except StepError as failure:
                await self._compensate(failure)
                return await self._close()
        if phase == "fulfilment":
            await self._fulfil_and_deliver()
            if self._order.status == "canceled":
                return await self._close()
        await self._window.serve(phase)
        await self._settled_by_a_person()
        self._record(ev.OrderCompleted(at=workflow.now()))
        return await self._close()

    async def _capture(self) -> bool:
        """Screen the order, authorize its total, reserve its units, and answer the storefront."""
        placed = self._input.order
        # an order an agent placed for the customer names the agent; one the customer placed, the customer
        placed_by = placed.placed_by or ids.customer_actor(placed.customer.id)
        self._record(ev.OrderPlaced(at=workflow.now(), actor=placed_by, order=placed))
        fraud = screen(placed, self._input.fraud_rules)
        self._record(ev.FraudScreened(at=workflow.now(), score=fraud.score, reasons=fraud.reasons))
        self._refusal = await self._payments.authorize_checkout()
        if self._refusal is not None:
            return False
        allocation = await self._allocation.at_checkout(
            fraud.score if fraud.needs_review else None, self._review.approval
        )
        if not allocation.fulfillment_orders:
            await self._payments.void_what_is_left()
            skus = [q.sku for q in allocation.unfilled]
            self._refusal = f"no location can fill {', '.join(skus)} for this order now"
            self._record(ev.OrderUnavailable(at=workflow.now(), reason=self._refusal, skus=skus))
            return False
        await self._answer_checkout()
        return True

    async def _fulfil_and_deliver(self) -> None:
        """Until every unit is delivered, picked up or canceled, and every shipment captured. The fulfillment
        orders follow themselves; the order routes what they do not hold (stock back, a backorder's limit)."""
        while not fulfilled(self._order):
            await self._continue_if_long("fulfilment")
            now = workflow.now()
            until = self._order.backordered_until
            with contextlib.suppress(TimeoutError):  # the backorder limit came: routing cancels what is left
                await workflow.wait_condition(
                    lambda: fulfilled(self._order) or self._routable() or self._order.held or self._interrupted(),
                    timeout=max(until - now, timedelta(seconds=1)) if until is not None else None,
                    timeout_summary="backorder limit",
                )
            self._raise_crash()
            if self._order.held:  # the new address scored for review: no location has the order until then
                await self._review.hold_until_decided()
            if self._routable():
                await self._allocation.route_unallocated()
            if nothing_left_to_capture(self._order):
                await self._payments.void_what_is_left(must=True)  # what canceled lines left authorized
            await self._record.flush()

    def _routable(self) -> bool:
        """Units to route that no fulfillment order's own coroutine is routing again (after a rejection)."""
        return self._allocation.may_route(workflow.now()) and not self._fulfillment.rejections_pending()

    def _interrupted(self) -> bool:
        """The run must act: it should continue as new, or a part's coroutine crashed (a bug)."""
        return self._continuation.wanted() or self._crashed() is not None

    def _crashed(self) -> Exception | None:
        return self._fulfillment.crashed or self._returns.crashed

    def _raise_crash(self) -> None:
        if (crash := self._crashed()) is not None:
            raise crash

    async def _continue_if_long(self, phase: str) -> None:
        self._raise_crash()
        if not await self._continuation.due():
            return
        assert self._checkout is not None, "only an accepted order runs on"
        state = self._continuation.state(phase, self._checkout, self._review.approved, self._window.grace_ends)
        workflow.continue_as_new(self._input.model_copy(update={"resume": state}))

    def _resume(self, input: OrderInput) -> str:
        assert input.resume is not None
        self._continuation.resume(input.resume)
        self._checkout = input.resume.checkout
        self._review.approved, self._review.done = input.resume.approved, True
        self._window.grace_ends = input.resume.grace_ends
        return input.resume.phase

    async def _settled_by_a_person(self) -> None:
        """What failed for good (a release, a restock, a refund) is run again by an operator before the run
        ends: an order never closes half-done."""
        await workflow.wait_condition(lambda: self._steps.settled)

    async def _close(self) -> OrderOutcome:
        await self._answer_checkout()  # a waiting checkout hears now, whatever is left for a person
        await self._settled_by_a_person()
        await self._record.flush_all()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OrderOutcome(order_id=self._order.order_id, status=self._order.status, events=self._order.version)

    async def _answer_checkout(self) -> None:
        """Project what happened, then answer a waiting checkout."""
        await self._record.flush()
        if self._checkout is None:
            self._checkout = CheckoutResult(
                order_id=self._order.order_id,
                status=self._order.status,
                reason=self._refusal,
                currency=self._order.currency,
                total=self._order.total,
                fulfillment_order_ids=[fo.id for fo in self._order.fulfillment_orders],
            )

    async def _compensate(self, failure: Exception) -> None:
        """A step failed for good at checkout: give back what the order holds, stop what the locations have
        and void the authorization, each once (keyed), going on past a compensation that fails."""
        self._review.done = True  # a waiting review answers with the outcome below
        self._refusal = f"the order could not go on: {failure_reason(failure)}"
        workflow.logger.error("Step failed; compensating", extra={"failure": self._refusal})
        release = act.ReleaseRequest(order_id=self._order.order_id, key=None)  # a full release is idempotent
        undo = [self._steps.step(AllocationActivities.release, release, "compensate: release every hold")]
        for fo in [f for f in self._order.fulfillment_orders if f.open]:
            undo.append(self._steps.step(AllocationActivities.cancel_fulfillment, fo.id, f"compensate: stop {fo.id}"))
        await self._steps.compensate(undo)
        lines = self._order.cancelable_lines(include_exchanges=True)
        if lines:
            self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=self._refusal))
        try:
            await self._payments.void_what_is_left()
        except StepError as err:
            self._steps.failed_for_good("compensate: void what is left authorized", err)

    # -- the storefront and the screens ------------------------------------------------------------
    @workflow.update(name=CHECKOUT_UPDATE)
    async def checkout(self) -> CheckoutResult:
        """Answers the storefront once the order is accepted or refused; repeated checkouts get the same answer,
        told that it is one (a platform's re-delivery answers 200 before the read model has the order)."""
        repeated, self._checkout_asked = self._checkout_asked, True
        await workflow.wait_condition(lambda: self._checkout is not None)
        assert self._checkout is not None
        return self._checkout.model_copy(update={"repeated": repeated})

    @workflow.query(name=SUMMARY_QUERY)
    def summary(self) -> Order:
        return self._order

    # -- partners ------------------------------------------------------------------------------------
    @workflow.signal(name=WAREHOUSE_SIGNAL)
    def warehouse_event(self, event: WarehouseEvent) -> None:
        self._fulfillment.on_warehouse_event(event)

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: CarrierEvent) -> None:
        self._fulfillment.on_carrier_event(event)

    @workflow.signal(name=RETURN_SIGNAL)
    def return_event(self, event: ReturnEvent) -> None:
        self._returns.on_return_event(event)

    @workflow.signal(name=STOCK_RECEIVED_SIGNAL)
    def stock_received(self, news: StockReceived) -> None:
        if self._order.backordered_until is not None:
            self._allocation.stock_arrived = True

    # -- agents, customers and operators --------------------------------------------------------------
    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, request: CancelRequest) -> CancelResult:
        async with self._allocation.lock:
            result = await self._cancellation.by_request(request)
        await self._record.flush()
        return result

    @cancel.validator
    def _cancel_allowed(self, request: CancelRequest) -> None:
        """Refuses at once, with a reason, and the refused cancel never enters the history."""
        refusals.raise_if(refusals.cancel_refusal(self._order, request.lines))

    @workflow.update(name=RETRY_UPDATE)
    async def retry(self, request: RetryRequest) -> RetryResult:
        """An operator fixed the cause: run again what failed for good, ask silent partners again."""
        self._record(ev.AttentionCleared(at=workflow.now(), actor=request.actor, reason=request.reason))
        flagged = self._fulfillment.deadlines.ask_again_now()
        blocked, failed = await self._steps.run_again()
        await self._record.flush()
        attention = self._order.attention
        return RetryResult(
            order_id=self._order.order_id,
            status=self._order.status,
            retried=[*blocked, *failed, *(f"{d.waiting_for} of {d.fulfillment_order_id}" for d in flagged)],
            attention=attention.reason if attention else None,
        )

    @retry.validator
    def _retry_allowed(self, request: RetryRequest) -> None:
        if self._order.attention is None and self._steps.settled:
            raise ValueError("nothing to retry: the order needs no attention")

    @workflow.update(name=REVIEW_UPDATE)
    async def review(self, decision: ReviewDecision) -> ActionResult:
        await self._review.decide(decision)
        return self._action_result()

    @review.validator
    def _review_allowed(self, decision: ReviewDecision) -> None:
        refusals.raise_if(refusals.review_refusal(self._order))

    @workflow.update(name=APPROVAL_UPDATE)
    async def approve(self, decision: ApprovalDecision) -> ActionResult:  # by an account approver or an agent
        await self._review.decide_approval(decision)
        return self._action_result()

    @approve.validator
    def _approval_allowed(self, decision: ApprovalDecision) -> None:
        refusals.raise_if(refusals.approval_refusal(self._order))

    @workflow.update(name=ADDRESS_UPDATE)
    async def change_address(self, change: AddressChange) -> ActionResult:
        """Take back what has not shipped yet and route it again for the new address (same-day radius,
        nearest location); a location that has already shipped keeps its part, and says so by its webhook."""
        await self._allocation.readdress(change)
        await self._record.flush()
        return self._action_result()

    @change_address.validator
    def _address_change_allowed(self, change: AddressChange) -> None:
        refusals.raise_if(refusals.address_change_refusal(self._order))

    @workflow.update(name=RESHIP_UPDATE)
    async def reship(self, request: ReshipRequest) -> ActionResult:
        """Send lost or damaged units again at no charge, from wherever routing chooses now."""
        async with self._allocation.lock:
            allocation = await self._allocation.reserve(request.lines)
            self._allocation.place(allocation, actor=request.actor, reship=request)
            if allocation.unfilled:  # nothing to wait for: an agent may reship again once stock is back
                what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
                workflow.logger.warning("Reship could not be filled in full", extra={"unfilled": what})
        await self._record.flush()
        new = [fo.fulfillment_order_id for fo in allocation.fulfillment_orders]
        return ActionResult(order_id=self._order.order_id, status=self._order.status, fulfillment_order_ids=new)

    @reship.validator
    def _reship_allowed(self, request: ReshipRequest) -> None:
        refusals.raise_if(refusals.reship_refusal(self._order, request.lines))

    @workflow.update(name=RETURN_UPDATE)
    async def request_return(self, request: ReturnRequest) -> ReturnResult:
        return await self._returns.request(request)

    @request_return.validator
    def _return_allowed(self, request: ReturnRequest) -> None:
        refusals.raise_if(self._returns.refusal(request))

    @workflow.update(name=EXCHANGE_UPDATE)
    async def exchange(self, request: ExchangeRequest) -> ExchangeResult:
        return await self._exchanges.exchange(request)

    @exchange.validator
    def _exchange_allowed(self, request: ExchangeRequest) -> None:
        refusals.raise_if(self._exchanges.refusal(request))

    @workflow.update(name=APPEASEMENT_UPDATE)
    async def grant_appeasement(self, request: AppeasementRequest) -> AppeasementResult:
        return await self._returns.appease(request)

    @grant_appeasement.validator
    def _appeasement_allowed(self, request: AppeasementRequest) -> None:
        refusals.raise_if(self._returns.appeasement_refusal(request.amount))

    def _action_result(self) -> ActionResult:
        return ActionResult(
            order_id=self._order.order_id,
            status=self._order.status,
            fulfillment_order_ids=[fo.id for fo in self._order.fulfillment_orders if fo.open],
        )
