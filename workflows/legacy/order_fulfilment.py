"""The legacy order workflow's fulfilment and service window: the loop that captures, reroutes, releases and
settles returns as the partners' news comes in."""

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.ids import invoice_id_for
    from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState
    from workflows.legacy.order_core import (
        AUTHORIZATION_RENEWAL_MARGIN,
    )
    from workflows.legacy.order_returns import ReturnsAndExchanges
    from workflows.messages import (
        ReshipRequest,
        ResumeState,
    )


class FulfilmentLoop(ReturnsAndExchanges):
    async def _fulfil(self) -> None:
        while not self._fulfilled():
            await self._continue_as_new_if_long("fulfilment")
            self._arm_partner_alarm()
            # on timeout a backorder limit or a pickup deadline has come (a partner's rings its alarm): _work acts
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: (
                        self._work_pending()
                        or bool(self._unprojected)
                        or bool(self._received_returns())
                        or self._may_hand_over()
                        or self._alarm_rang
                    ),
                    timeout=self._next_deadline(),
                    timeout_summary="backorder limit or pickup deadline",
                )
            await self._work()
            await self._flush()
            if self._order.held:  # the new address scored for review: no location has the order until then
                await self._await_review()

    def _fulfilled(self) -> bool:
        """Every unit delivered, picked up or canceled, and every shipment captured."""
        return (
            all(fo.status == "delivered" or fo.status in CLOSED_FULFILLMENT for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
            and not self._awaiting_capture()
        )

    def _work_pending(self) -> bool:
        return self._fulfilled() or self._fulfilment_work_pending()

    def _fulfilment_work_pending(self) -> bool:
        """Something for `_work`: also after delivery, for a reship or an exchange's replacement."""
        now = workflow.now()
        return (
            bool(self._awaiting_capture())
            or bool(self._unreleased_rejections())
            or bool(self._expired_pickups(now))
            or self._reroute_requested
            or (bool(self._order.unallocated_lines()) and self._may_allocate(now))
            or bool(self._due_deadlines())
        )

    def _may_allocate(self, now: datetime) -> bool:
        until = self._order.backordered_until
        return until is None or self._stock_arrived or now >= until

    def _next_deadline(self) -> timedelta | None:
        deadlines = [
            self._collect_by[fo.id] for fo in self._order.fulfillment_orders if fo.status == "ready_for_pickup"
        ]
        if self._order.backordered_until is not None:
            deadlines.append(self._order.backordered_until)
        if not deadlines:
            return None
        return max(min(deadlines) - workflow.now(), timedelta(seconds=1))

    async def _work(self) -> None:
        for fo in self._awaiting_capture():
            await self._capture(fo)
        rerouting = False
        for fo in self._unreleased_rejections():
            self._released_rejections.add(fo.id)
            await self._release_fulfillment_order(fo, "rejected", f"release {fo.id}, rejected at {fo.location_id}")
            if fo.reship or fo.exchange_id is not None:
                await self._send_again(fo)
            else:
                rerouting = True
        now = workflow.now()
        for fo in self._expired_pickups(now):
            await self._cancel_by_system(
                fo.lines, f"not collected at {fo.location_id} by {self._collect_by[fo.id]:%Y-%m-%d}"
            )
        # rejected units are routed again at once, even while others of the order wait for stock
        if self._order.unallocated_lines() and (rerouting or self._reroute_requested or self._may_allocate(now)):
            await self._route_unallocated(now)
        self._reroute_requested = False
        if self._nothing_left_to_capture():
            await self._void_authorization(must=True)  # what canceled lines left authorized is released
        for rma_id in self._received_returns():  # also a unit delivered early, back before the rest shipped
            await self._settle_return(rma_id)
        await self._chase_partners()

    async def _send_again(self, fo: FulfillmentOrderState) -> None:
        """A reship or an exchange's replacement the location rejected goes out again from elsewhere, still at
        no charge or still paid by its return; what nobody can send is canceled (an exchange's) or left to an agent."""
        async with self._allocation_lock:
            allocation = await self._allocate(fo.lines, must=True)
            reason = f"sent again: {fo.id} was rejected at {fo.location_id}"
            reship = ReshipRequest(lines=fo.lines, reason=reason, actor="system") if fo.reship else None
            self._place(allocation, reship=reship, exchange_id=fo.exchange_id)
            if not allocation.unfilled:
                return
            what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
            if fo.reship:
                self._record(
                    ev.StepFailed(at=workflow.now(), step=f"send {what} again", reason=f"{reason}; no location can")
                )
            else:
                await self._cancel_by_system(allocation.unfilled, f"no location can send {what} again")

    async def _route_unallocated(self, now: datetime) -> None:
        """Route what no fulfillment order holds, or cancel it once the backorder limit has come."""
        async with self._allocation_lock:
            unallocated = self._order.unallocated_lines()  # a cancel may have taken them while we waited
            if not unallocated:
                return
            until = self._order.backordered_until
            if until is not None and now >= until:
                await self._cancel_by_system(unallocated, "backorder limit reached without stock")
                return
            self._stock_arrived = False
            score, self._hold_rerouted = self._hold_rerouted, None
            hold_until = now + timedelta(seconds=self._input.review_seconds) if score is not None else None
            allocation = await self._allocate(unallocated, hold_until, must=True)
            self._place(allocation)
            if hold_until is not None and score is not None and allocation.fulfillment_orders:
                self._review_done = False
                self._record(ev.OrderHeld(at=now, actor="fraud-screen", score=score, until=hold_until))
            await self._handle_unfilled(allocation.unfilled)

    async def _capture(self, fo: FulfillmentOrderState) -> None:
        amount, auth_id = self._order.charge_for(fo)
        if amount <= 0:  # a reship, or a replacement the return pays for: stock leaves, a zero invoice closes it
            ship = act.ShipRequest(
                order_id=self._order.order_id, location_id=fo.location_id, fulfillment_order_id=fo.id
            )
            why = "reship" if fo.reship else f"exchange {fo.exchange_id}, paid by its return"
            await self._must(act.SHIP_RESHIP, ship, int, f"ship {fo.id} ({why}, no charge)")
            self._record(
                ev.InvoiceIssued(
                    at=workflow.now(), invoice_id=invoice_id_for(fo.id), fulfillment_order_id=fo.id, amount=Decimal(0)
                )
            )
            return
        assert auth_id is not None, "an accepted order is authorized"
        if self._reliable:
            auth_id = await self._renewed_if_expiring(auth_id)
        capture = act.CaptureRequest(
            idempotency_key=self._key("capture", fo.id), authorization_id=auth_id, amount=amount
        )
        request = act.SettleRequest(
            order_id=self._order.order_id, location_id=fo.location_id, capture=capture, fulfillment_order_id=fo.id
        )
        summary = f"ship {fo.id} from {fo.location_id}, capture {self._order.currency} {amount}"
        result = await self._must(act.SETTLE_SHIPMENT, request, act.PaymentResult, summary)
        now = workflow.now()
        self._record(
            ev.PaymentCaptured(
                at=now,
                actor="gateway",
                transaction_id=result.transaction_id,
                fulfillment_order_id=fo.id,
                amount=amount,
                authorization_id=auth_id,
            )
        )
        self._record(
            ev.InvoiceIssued(at=now, invoice_id=invoice_id_for(fo.id), fulfillment_order_id=fo.id, amount=amount)
        )

    async def _renewed_if_expiring(self, auth_id: str) -> str:
        """An authorization that would lapse before this capture is authorized again for what it still holds,
        and the old one voided, each keyed, before anything is captured on it."""
        held = self._order.payment.authorizations[auth_id]
        if held.expires_at is None or workflow.now() < held.expires_at - AUTHORIZATION_RENEWAL_MARGIN:
            return auth_id
        placed = self._input.order
        request = act.AuthorizeRequest(
            idempotency_key=self._key("authorize", f"renew:{auth_id}"),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=held.capturable,
            currency=placed.currency,
        )
        summary = f"renew {auth_id}, expiring {held.expires_at:%Y-%m-%d}: authorize {placed.currency} {held.capturable}"
        renewed = await self._must(act.AUTHORIZE_PAYMENT, request, act.PaymentResult, summary)
        void = act.VoidRequest(idempotency_key=self._key("void", f"renewed:{auth_id}"), authorization_id=auth_id)
        await self._try(
            act.VOID_AUTHORIZATION, void, act.PaymentResult, f"void {auth_id}, renewed as {renewed.transaction_id}"
        )
        self._record(
            ev.AuthorizationRenewed(
                at=workflow.now(),
                actor="gateway",
                expiring_id=auth_id,
                authorization_id=renewed.transaction_id,
                amount=held.capturable,
                expires_at=renewed.expires_at,
            )
        )
        return renewed.transaction_id

    def _unreleased_rejections(self) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status == "rejected" and fo.id not in self._released_rejections
        ]

    def _expired_pickups(self, now: datetime) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status == "ready_for_pickup" and now >= self._collect_by[fo.id]
        ]

    async def _serve_return_window(self, phase: str = "fulfilment") -> None:
        """Returns may be asked for until the window closes; those on their way are awaited as long again."""
        window = timedelta(seconds=self._input.return_window_seconds)
        if phase != "grace":
            if self._window_closes is None:
                self._window_closes = workflow.now() + window
            await self._settle_returns_until(self._window_closes, lambda: False, "window")
        if not self._service_settled():
            if self._grace_ends is None:
                self._grace_ends = workflow.now() + window
            await self._settle_returns_until(self._grace_ends, self._service_settled, "grace")

    def _service_settled(self) -> bool:
        """No return waiting for its refund and no reship or replacement still on its way."""
        return (
            all(r.status in ("refunded", "refund_failed") for r in self._order.returns)
            and not any(fo.open or fo.status == "shipped" for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
        )

    async def _settle_returns_until(self, deadline: datetime, done: Callable[[], bool], phase: str) -> None:
        while not done():
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            if self._reliable:
                await self._continue_as_new_if_long(phase)
                self._arm_partner_alarm()
                await self._serve_until(min(left, self._next_deadline() or left), done)
                continue
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._received_returns())
                        or self._fulfilment_work_pending()
                        or bool(self._unprojected)
                        or done()
                    ),
                    timeout=left,
                    timeout_summary="return window",
                )
            except TimeoutError:
                return
            await self._work()  # a return arrived, or a reship or a replacement shipped or was rejected
            await self._flush()

    async def _serve_until(self, wait: timedelta, done: Callable[[], bool]) -> None:
        """One turn of the service window: wake for work, a partner's deadline or the window's end."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    bool(self._received_returns())
                    or self._fulfilment_work_pending()
                    or bool(self._unprojected)
                    or done()
                    or self._may_hand_over()
                    or self._alarm_rang
                ),
                timeout=wait,
                timeout_summary="return window or a partner's deadline",
            )
        await self._work()
        await self._flush()

    async def _continue_as_new_if_long(self, phase: str) -> None:
        """Before Temporal's limits, the run hands the order and every pending wait to a fresh one, once every
        handler has finished; a signal arriving meanwhile makes the server refuse the hand-over until the
        run has seen it, so none is lost."""
        if not self._history_long():
            return
        if self._failed_steps or self._blocked_on:
            return  # an operator's retry runs in this run
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._input.model_copy(update={"resume": self._resume_state(phase)}))

    def _may_hand_over(self) -> bool:
        """Long, and nothing waits for an operator: waking for the length alone while a retry is awaited would
        wake the loop again at once, and the workflow task would never end."""
        return self._history_long() and not self._failed_steps and not self._blocked_on

    def _history_long(self) -> bool:
        info = workflow.info()
        long = info.get_current_history_length() >= self._input.max_history_events
        return self._reliable and (long or info.is_continue_as_new_suggested())

    def _resume_state(self, phase: str) -> ResumeState:
        assert self._checkout is not None, "only an accepted order runs on"
        return ResumeState.model_validate(
            {
                "order": self._order,
                "checkout": self._checkout,
                "phase": phase,
                "window_closes": self._window_closes,
                "grace_ends": self._grace_ends,
                "collect_by": self._collect_by,
                "early_deliveries": sorted(self._early_deliveries),
                "released_rejections": sorted(self._released_rejections),
                "stock_arrived": self._stock_arrived,
                "deadlines": self._deadlines,
                "projected_status": self._projected_status,
                "projected_attention": self._projected_attention,
                "unprojected": self._unprojected,
                "approved": self._approved,
                "counters": {
                    "cancels": self._cancels,
                    "appeasements": self._appeasements,
                    "numbers_skipped": self._numbers_skipped,
                    "exchanges_tried": self._exchanges_tried,
                },
            }
        )

    async def _await_review(self) -> None:
        """An agent approves (the locations get the order) or rejects it; nobody deciding in time rejects it."""
        try:
            await workflow.wait_condition(
                lambda: not self._order.held or self._order.status == "canceled",
                timeout=timedelta(seconds=self._input.review_seconds),
                timeout_summary="fraud review deadline",
            )
        except TimeoutError:
            reason = "no review decision before the deadline"
            self._record(ev.ReviewDecided(at=workflow.now(), actor="system", approved=False, reason=reason))
        if self._order.status == "canceled":
            pass  # canceled while on hold: the cancel released and voided everything
        elif self._approved:
            placed = self._input.order
            open_fos = self._open_fulfillment_orders()
            hand_off = act.HandOffRequest(
                order_id=placed.order_id,
                ship_to=self._ship_to(),
                delivery_method=placed.delivery_method,
                fulfillment_orders=open_fos,
            )
            summary = f"approved: hand {len(open_fos)} fulfillment order(s) to their locations"
            if self._reliable:
                await self._must(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
                for fo in self._order.fulfillment_orders:  # the locations have them from now on
                    if fo.status == "released":
                        self._deadline(fo.id, "shipment", workflow.now())
            else:
                await self._step(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
        elif self._order.cancelable_lines():
            await self._cancel_by_system(self._order.cancelable_lines(), "rejected in fraud review")
        await self._flush()
        self._review_done = True
