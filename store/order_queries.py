"""The queries screens, webhooks and the stock wake-up make of the order read model."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from domain.money import quantize
from integrations.tax import RulesEngine, TaxCalculator
from store.order_tax import OrderTaxes
from store.read_model import (
    FulfillmentOrderSummary,
    InvoiceSummary,
    LineSummary,
    OrderAttention,
    OrderListItem,
    OrderSummary,
    PaymentRecord,
    PaymentTotals,
    ProjectionError,
    ReturnSummary,
    ShipmentSummary,
    TimelineEntry,
)
from store.tables import fulfillment_orders, invoices, order_events, order_lines, orders, payments, returns


def _money(row: Mapping[Any, Any], currency: str) -> dict[str, Any]:
    """The row with its amounts in the currency's minor unit (the column keeps four decimals for any currency)."""
    return {k: quantize(v, currency) if isinstance(v, Decimal) else v for k, v in row.items()}


def _attention(row: Mapping[Any, Any]) -> OrderAttention | None:
    if row["attention_reason"] is None:
        return None
    return OrderAttention(reason=row["attention_reason"], since=row["attention_since"])


def _payment(row: Mapping[str, Any], taxes: OrderTaxes) -> PaymentRecord:
    paid_back = row["kind"] in ("refund", "appeasement")
    tax = taxes.paid_back(row["amount"], row["fulfillment_order_id"]) if paid_back else []
    return PaymentRecord.model_validate({**row, "tax": tax})


class OrderQueries:
    def __init__(self, engine: Engine, tax: TaxCalculator | None = None) -> None:
        self._engine = engine
        self._tax = tax or RulesEngine()

    def get(self, order_id: str) -> OrderSummary | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.order_id == order_id)).mappings().first()
            if row is None:
                return None
            lines = conn.execute(
                select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku)
            ).mappings()
            fos = conn.execute(
                select(fulfillment_orders)
                .where(fulfillment_orders.c.order_id == order_id)
                .order_by(fulfillment_orders.c.id)
            ).mappings()
            currency = row["currency"]
            line_list = [LineSummary.model_validate(_money(line, currency)) for line in lines]
            taxes = OrderTaxes(self._tax, line_list, row["shipping_address"], currency)
            fo_list = [
                FulfillmentOrderSummary.model_validate(
                    {**_money(fo, currency), "tax": taxes.of_fulfillment_order(fo["id"], fo["lines"])}
                )
                for fo in fos
            ]
            pays = conn.execute(
                select(payments)
                .where(payments.c.order_id == order_id)
                .order_by(payments.c.at, payments.c.transaction_id)
            ).mappings()
            invs = conn.execute(
                select(invoices).where(invoices.c.order_id == order_id).order_by(invoices.c.issued_at)
            ).mappings()
            rets = conn.execute(
                select(returns)
                .where(returns.c.order_id == order_id)
                .order_by(returns.c.created_at, returns.c.return_id)
            ).mappings()
            timeline = list(
                conn.execute(
                    select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.seq)
                ).mappings()
            )
            placed: dict[str, Any] = next((t["data"]["order"] for t in timeline if t["type"] == "OrderPlaced"), {})
            return OrderSummary(
                **{k: row[k] for k in ("order_id", "workflow_id", "status", "channel", "customer", "currency")},
                total=quantize(row["total"], currency),
                delivery_method=row["delivery_method"],
                promised_date=row["promised_date"],
                backordered_until=row["backordered_until"],
                shipping_address=row["shipping_address"],
                fraud_score=row["fraud_score"],
                lines=taxes.with_line_taxes(line_list),
                fulfillment_orders=fo_list,
                shipments=[
                    ShipmentSummary(
                        fulfillment_order_id=fo.id,
                        carrier=fo.carrier,
                        tracking_number=fo.tracking_number,
                        status="delivered" if fo.status == "delivered" else "in_transit",
                    )
                    for fo in fo_list
                    if fo.carrier and fo.tracking_number
                ],
                payment=PaymentTotals.model_validate(_money(row, currency)),
                payments=[_payment(_money(p, currency), taxes) for p in pays],
                invoices=[
                    InvoiceSummary.model_validate(
                        {**_money(i, currency), "tax": taxes.of_invoice(i["fulfillment_order_id"])}
                    )
                    for i in invs
                ],
                returns=[ReturnSummary.model_validate(_money(r, currency)) for r in rets],
                timeline=[TimelineEntry.model_validate(dict(t)) for t in timeline],
                placed_at=row["placed_at"],
                updated_at=row["updated_at"],
                projection_error=None
                if row["projection_error"] is None
                else ProjectionError(reason=row["projection_error"], at=row["projection_error_at"]),
                attention=_attention(row),
                tax=taxes.of_order(),
                prices_include_tax=taxes.prices_include_tax,
                payment_method=placed.get("payment"),
                requested_delivery_date=placed.get("requested_delivery_date"),
                pickup_location_id=placed.get("pickup_location_id"),
            )

    def search(
        self,
        customer_id: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        attention: bool | None = None,
    ) -> list[OrderListItem]:
        """Orders newest first. `attention`: True for those that need a person, False for those that do not."""
        conditions = []
        if customer_id:
            conditions.append(orders.c.customer_id == customer_id)
        if status:
            conditions.append(orders.c.status == status)
        if channel:
            conditions.append(orders.c.channel == channel)
        if attention is not None:
            needing = orders.c.attention_reason.is_not(None)
            conditions.append(needing if attention else ~needing)
        stmt = select(orders).where(and_(True, *conditions)).order_by(orders.c.placed_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [OrderListItem.model_validate({**_money(r, r["currency"]), "attention": _attention(r)}) for r in rows]

    def backordered_orders_needing(self, sku: str) -> list[str]:
        """Orders waiting for stock of `sku`, oldest first: backordered (or partially shipped with the rest
        backordered) with units of that sku neither canceled nor allocated."""
        waiting = (order_lines.c.ordered - order_lines.c.canceled - order_lines.c.allocated) > 0
        stmt = (
            select(orders.c.order_id)
            .join(order_lines, order_lines.c.order_id == orders.c.order_id)
            .where(
                order_lines.c.sku == sku,
                waiting,
                or_(
                    orders.c.status == "backordered",
                    and_(orders.c.status == "partially_shipped", orders.c.backordered_until.is_not(None)),
                ),
            )
            .order_by(orders.c.placed_at, orders.c.order_id)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def fulfillment_orders_of_tracking(self, tracking_number: str) -> list[tuple[str, str]]:
        """(order id, fulfillment order id) of every fulfillment order in the parcel: several fulfillment orders, of
        one order or of several, may share a tracking number."""
        stmt = (
            select(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
            .where(fulfillment_orders.c.tracking_number == tracking_number)
            .order_by(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
        )
        with self._engine.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(stmt)]

    def parcel_of_tracking(self, tracking_number: str) -> list[tuple[str, str, str | None]]:
        """(order id, fulfillment order id, carrier) of every fulfillment order in the parcel, as
        `fulfillment_orders_of_tracking` with the carrier each was handed to."""
        stmt = (
            select(fulfillment_orders.c.order_id, fulfillment_orders.c.id, fulfillment_orders.c.carrier)
            .where(fulfillment_orders.c.tracking_number == tracking_number)
            .order_by(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
        )
        with self._engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(stmt)]

    def location_of_fulfillment_order(self, fulfillment_order_id: str) -> str | None:
        """The location a fulfillment order was released to; None if the read model has not recorded it."""
        stmt = select(fulfillment_orders.c.location_id).where(fulfillment_orders.c.id == fulfillment_order_id)
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def location_of_return(self, return_id: str) -> str | None:
        """The location a return is sent back to; None if the read model has not recorded it."""
        stmt = select(returns.c.location_id).where(returns.c.return_id == return_id)
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()
