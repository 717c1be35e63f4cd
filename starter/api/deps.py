"""What route handlers share: the Temporal client, the read model, the payment gateway and the settings."""

import asyncio
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import workflow_id_for
from integrations.payments import PaymentGateway
from integrations.tax import RulesEngine, TaxCalculator
from starter.settings import Settings
from store.accounts import AccountStore
from store.inventory import AdjustedLevel
from store.order_queries import OrderQueries
from workflows.messages import STOCK_RECEIVED_SIGNAL, StockReceived

log = structlog.get_logger()

# How many orders are signaled at once when a receipt wakes many of them.
WAKE_UP_CONCURRENCY = 16


@dataclass
class Services:
    settings: Settings
    client: Client
    engine: Engine
    queries: OrderQueries
    gateway: PaymentGateway
    accounts: AccountStore
    # the tax adapter: the built-in rules engine, or an external tax service implementing TaxCalculator
    tax: TaxCalculator = field(default_factory=RulesEngine)

    async def on_stock_received(self, level: AdjustedLevel) -> None:
        """Stock of a SKU came in: every order waiting for that SKU, oldest first, is told so and tries to
        allocate again. An order that closed in the meantime (or never had a workflow here) is skipped."""
        order_ids = await asyncio.to_thread(self.queries.backordered_orders_needing, level.sku)
        if not order_ids:
            return
        received = StockReceived(location_id=level.location_id, sku=level.sku, quantity=level.on_hand_delta)
        bound = log.bind(sku=level.sku, location_id=level.location_id, quantity=level.on_hand_delta)
        bound.info("stock received: waking backordered orders", orders=len(order_ids))
        gate = asyncio.Semaphore(WAKE_UP_CONCURRENCY)

        async def wake(order_id: str) -> None:
            workflow_id = workflow_id_for(order_id)
            async with gate:
                try:
                    await self.client.get_workflow_handle(workflow_id).signal(STOCK_RECEIVED_SIGNAL, received)
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    bound.warning(
                        "backordered order not woken: its workflow is closed or missing",
                        order_id=order_id,
                        workflow_id=workflow_id,
                        error=err.message,
                    )

        outcomes = await asyncio.gather(*(wake(order_id) for order_id in order_ids), return_exceptions=True)
        failed = [(o, e) for o, e in zip(order_ids, outcomes, strict=True) if isinstance(e, BaseException)]
        for order_id, error in failed:
            bound.error("backordered order not woken", order_id=order_id, error=repr(error))
        if failed:
            # the others were woken; the caller logs this, and the order's own backorder deadline still runs
            raise RuntimeError(f"{len(failed)} of {len(order_ids)} backordered order(s) could not be signaled")
