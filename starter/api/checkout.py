"""Checkout: a storefront's order becomes the order's workflow, started and asked for its answer in one call.

The route maps what this module answers and raises to HTTP; nothing here knows of status codes.
"""

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.ids import payment_method_key, workflow_id_for
from domain.models import PlaceOrder
from domain.tax import TaxableAmount, TaxClass
from integrations.payments import PaymentGateway
from integrations.tax import TaxCalculator, TaxPlace
from starter.api.catalog import Catalog
from starter.api.deps import Services
from starter.settings import Settings
from store.read_model import OrderSummary
from workflows import search_attributes as sa
from workflows.messages import (
    CHECKOUT_UPDATE,
    ORDER_PROCESS_VERSION,
    ORDER_WORKFLOW,
    ApprovalPolicy,
    CheckoutResult,
    OrderInput,
    OrderOutcome,
)

log = structlog.get_logger()

StartOperation = WithStartWorkflowOperation[Any, OrderOutcome]


class NotPlaced(Exception):
    """The order's workflow could not be asked now, and the read model has no answer: nothing was placed."""


@dataclass(frozen=True)
class Placed:
    """The order's answer to its checkout: its status (accepted, or a refusal such as payment_declined), why it
    refused, if it said, and the body the storefront is sent."""

    status: str
    reason: str | None
    body: dict[str, Any]
    repeated: bool = False  # the order was placed by an earlier checkout


async def unknown_skus(catalog: Catalog, order: PlaceOrder) -> list[str]:
    """The order's skus the catalog does not sell: such a line would wait for stock of a product nobody sells."""
    return await asyncio.to_thread(catalog.unknown, [line.sku for line in order.lines])


async def with_tax(catalog: Catalog, calculator: TaxCalculator, order: PlaceOrder) -> PlaceOrder:
    """Each line with its product's tax class as the catalog has it now, and, where prices are quoted without tax
    (Canada), the rate the tax adapter adds on top for the ship-to: the order keeps both, so its tax stays what it
    was at checkout whatever the catalog or the rates say later. A class or rate a body sent is never kept."""
    known = await asyncio.to_thread(catalog.products, [line.sku for line in order.lines])
    classes: list[TaxClass | None] = [known[ln.sku].tax_class if ln.sku in known else None for ln in order.lines]
    amounts = [
        TaxableAmount(ln.unit_price * ln.quantity, c or "standard") for ln, c in zip(order.lines, classes, strict=True)
    ]
    address = order.shipping_address
    quote = calculator.document_tax(
        amounts, ship_to=TaxPlace(country=address.country, postal_code=address.postal_code), currency=order.currency
    )
    rates: list[Decimal | None] = [None] * len(order.lines)
    if not quote.prices_include_tax:
        rates = list(quote.line_rates)
    lines = [
        line.model_copy(update={"tax_class": tax_class, "tax_rate": rate})
        for line, tax_class, rate in zip(order.lines, classes, rates, strict=True)
    ]
    return order.model_copy(update={"lines": lines})


async def with_saved_payment_method(gateway: PaymentGateway, order: PlaceOrder) -> PlaceOrder:
    """The card's token goes to the gateway and stays there: the order, its workflow input and its history carry
    only the gateway's `pm_` reference. Keyed by order, so a repeated checkout saves it once. The gateway's
    GatewayUnavailable and GatewayRefused come through."""
    key = payment_method_key(order.order_id)
    method = await asyncio.to_thread(gateway.save_payment_method, key, order.customer.id, order.payment.token)
    return order.model_copy(update={"payment": order.payment.model_copy(update={"token": method})})


def start_operation(order: PlaceOrder, settings: Settings, approval: ApprovalPolicy | None = None) -> StartOperation:
    """The order's workflow, started unless it runs already, with the input the settings give a new order."""
    return WithStartWorkflowOperation(
        ORDER_WORKFLOW,
        OrderInput(
            order=order,
            process_version=ORDER_PROCESS_VERSION,
            fraud_rules=settings.fraud_rules,
            return_window_seconds=settings.return_window_delta.total_seconds(),
            backorder_seconds=settings.backorder_seconds(order.channel),
            pickup_hold_seconds=settings.pickup_hold_seconds,
            review_seconds=settings.review_seconds,
            fulfillment_sla_seconds=settings.fulfillment_sla_seconds,
            delivery_sla_seconds=settings.delivery_sla_seconds,
            max_history_events=settings.max_history_events,
            approval=approval,
        ),
        id=workflow_id_for(order.order_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=OrderOutcome,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.ORDER_STATUS, "pending"),
                SearchAttributePair(sa.CUSTOMER_ID, order.customer.id),
                SearchAttributePair(sa.CHANNEL, order.channel),
                SearchAttributePair(sa.ORDER_TOTAL, float(order.total)),
            ]
        ),
        static_summary=(
            f"Order {order.order_id} · {order.customer.id} · {order.channel} · {order.currency} {order.total} · "
            f"{sum(ln.quantity for ln in order.lines)} unit(s) · {order.delivery_method}"
        ),
    )


async def place(svc: Services, order: PlaceOrder, approval: ApprovalPolicy | None = None) -> Placed:
    """Start the order's workflow and wait for its checkout answer. A repeated checkout of an order whose workflow
    has closed (declined, unavailable or completed) is answered from the read model."""
    wid = workflow_id_for(order.order_id)
    bound = log.bind(order_id=order.order_id, workflow_id=wid)
    try:
        result = await svc.client.execute_update_with_start_workflow(
            CHECKOUT_UPDATE,
            start_workflow_operation=start_operation(order, svc.settings, approval),
            result_type=CheckoutResult,
        )
    except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError, RPCError) as err:
        existing = svc.queries.get(order.order_id)
        if existing is None:
            bound.error("checkout failed", error=str(err))
            raise NotPlaced(str(err)) from err
        bound.info("checkout repeated on a closed order", status=existing.status)
        return Placed(existing.status, None, answer_of(existing), repeated=True)
    bound.info("checkout answered", status=result.status, repeated=result.repeated)
    body = {**result.model_dump(mode="json", exclude={"repeated"}), "workflow_id": wid}
    return Placed(result.status, result.reason, body, repeated=result.repeated)


def answer_of(summary: OrderSummary) -> dict[str, Any]:
    """The order as a checkout answers it, from the read model."""
    return {
        "order_id": summary.order_id,
        "status": summary.status,
        "currency": summary.currency,
        "total": str(summary.total),
        "fulfillment_order_ids": [fo.id for fo in summary.fulfillment_orders],
        "workflow_id": summary.workflow_id,
    }
