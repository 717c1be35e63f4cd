"""The books a chaos run is checked against: the gateway's ledger, the inventory ledger and levels, read straight
from the stack's database, and compared with what each order's workflow says happened.

Each check returns the problems it found, one readable line each, so a run reports every broken order at once.
"""

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from domain.ids import workflow_id_for
from domain.order import Order
from store.ledger_tables import gateway_transactions
from store.tables import inventory_levels, inventory_movements, reservations

Place = tuple[str, str]  # (location id, sku)
SHIPPED_STATUSES = frozenset({"shipped", "delivered"})


@dataclass(frozen=True)
class StockSnapshot:
    on_hand: dict[Place, int]
    reserved: dict[Place, int]
    last_movement_id: int


def stock_snapshot(engine: Engine) -> StockSnapshot:
    lv, mv = inventory_levels.c, inventory_movements.c
    with engine.connect() as conn:
        levels = conn.execute(select(lv.location_id, lv.sku, lv.on_hand, lv.reserved)).all()
        last = conn.execute(select(func.coalesce(func.max(mv.id), 0))).scalar_one()
    return StockSnapshot(
        on_hand={(loc, sku): on_hand for loc, sku, on_hand, _ in levels},
        reserved={(loc, sku): reserved for loc, sku, _, reserved in levels},
        last_movement_id=int(last),
    )


# -- the gateway's ledger ------------------------------------------------------------------------------------
def gateway_problems(engine: Engine, orders: dict[str, Order]) -> list[str]:
    """Per order: one authorization under its key, one capture per shipped fulfillment order under its key and
    for its amount, nothing captured or voided beyond what was authorized, and the order's totals the ledger's."""
    t = gateway_transactions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.merchant_reference, t.kind, t.status, t.amount, t.idempotency_key, t.parent_id).where(
                t.merchant_reference.in_(list(orders))
            )
        ).all()
    by_order: dict[str, list[Any]] = {order_id: [] for order_id in orders}
    for row in rows:
        by_order[row.merchant_reference].append(row)
    problems: list[str] = []
    for order_id, order in sorted(orders.items()):
        problems += _order_gateway_problems(order_id, order, by_order[order_id])
    return problems


def _order_gateway_problems(order_id: str, order: Order, rows: list[Any]) -> list[str]:
    prefix = workflow_id_for(order_id)
    seen = ", ".join(f"{r.kind}/{r.status} {r.amount} [{r.idempotency_key}]" for r in rows) or "nothing"
    problems: list[str] = []
    auths = [r for r in rows if r.kind == "authorize"]
    if [r.idempotency_key for r in auths] != [f"{prefix}:authorize:1"]:
        problems.append(f"{order_id}: expected one authorization keyed {prefix}:authorize:1; ledger has {seen}")
        return problems
    auth = auths[0]
    if order.status == "payment_declined":
        if auth.status != "declined" or len(rows) != 1:
            problems.append(f"{order_id}: declined order, yet the ledger has {seen}")
        return problems
    # every fulfillment order of these orders is charged as it ships (no reships or exchanges in a chaos run)
    shipped = {fo.id: fo for fo in order.fulfillment_orders if fo.status in SHIPPED_STATUSES}
    captures = [r for r in rows if r.kind == "capture"]
    keys = Counter(r.idempotency_key for r in captures)
    expected_keys = Counter(f"{prefix}:capture:{fo_id}" for fo_id in shipped)
    if keys != expected_keys:
        problems.append(
            f"{order_id}: captures {sorted(keys.elements())} but shipped fulfillment orders "
            f"{sorted(shipped)} want {sorted(expected_keys.elements())}; ledger has {seen}"
        )
    for capture in captures:
        fo_id = capture.idempotency_key.removeprefix(f"{prefix}:capture:")
        if fo_id in shipped and capture.amount != shipped[fo_id].captured:
            problems.append(f"{order_id}: {fo_id} captured {capture.amount}, the order says {shipped[fo_id].captured}")
        if capture.parent_id != order.payment.authorization_id or capture.status != "succeeded":
            problems.append(f"{order_id}: capture {capture.idempotency_key} is {capture.status} on {capture.parent_id}")
    captured = sum((r.amount for r in captures if r.status == "succeeded"), Decimal(0))
    voided = sum((r.amount for r in rows if r.kind == "void" and r.status == "succeeded"), Decimal(0))
    if captured + voided > auth.amount:
        problems.append(f"{order_id}: captured {captured} + voided {voided} exceed the {auth.amount} authorized")
    books = (auth.amount, captured, voided)
    says = (order.payment.authorized, order.payment.captured, order.payment.voided)
    if books != says:
        problems.append(f"{order_id}: ledger authorized/captured/voided {books}, the order says {says}")
    if order.status == "completed" and captured != order.total:
        problems.append(f"{order_id}: completed with {captured} captured of its {order.total} total; {seen}")
    return problems


# -- stock ---------------------------------------------------------------------------------------------------
def stock_problems(engine: Engine, before: StockSnapshot, orders: dict[str, Order]) -> list[str]:
    """On hand now = on hand before - units the ledger shipped since; the ledger shipped exactly what the orders
    shipped, from where they shipped it; every level is the sum of its movements; nothing is left reserved."""
    now = stock_snapshot(engine)
    mv, r = inventory_movements.c, reservations.c
    with engine.connect() as conn:
        since = conn.execute(
            select(mv.location_id, mv.sku, mv.kind, mv.on_hand_delta, mv.reference).where(
                mv.id > before.last_movement_id
            )
        ).all()
        totals = conn.execute(
            select(mv.location_id, mv.sku, func.sum(mv.on_hand_delta), func.sum(mv.reserved_delta)).group_by(
                mv.location_id, mv.sku
            )
        ).all()
        still_reserved = conn.execute(
            select(r.order_id, r.fulfillment_order_id, r.location_id, r.sku, r.quantity).where(
                r.status == "reserved", r.order_id.in_(list(orders))
            )
        ).all()
    problems: list[str] = []
    shipped_by_ledger: Counter[Place] = Counter()
    for loc, sku, kind, delta, reference in since:
        if kind == "shipment":
            shipped_by_ledger[(loc, sku)] -= delta
        elif delta:
            problems.append(f"{loc}/{sku}: unexpected {kind} of {delta} on hand during the run ({reference})")
    for place in sorted(set(before.on_hand) | set(now.on_hand)):
        expected = before.on_hand.get(place, 0) - shipped_by_ledger[place]
        if now.on_hand.get(place, 0) != expected:
            problems.append(
                f"{place[0]}/{place[1]}: on hand {now.on_hand.get(place, 0)}, expected {expected} "
                f"({before.on_hand.get(place, 0)} before - {shipped_by_ledger[place]} shipped)"
            )
    shipped_by_orders: Counter[Place] = Counter()
    for order in orders.values():
        for fo in order.fulfillment_orders:
            if fo.status in SHIPPED_STATUSES:
                for line in fo.lines:
                    shipped_by_orders[(fo.location_id, line.sku)] += line.quantity
    if +shipped_by_ledger != +shipped_by_orders:
        problems.append(
            f"the inventory ledger shipped {dict(sorted(shipped_by_ledger.items()))}, "
            f"the orders shipped {dict(sorted(shipped_by_orders.items()))}"
        )
    for loc, sku, on_hand_sum, reserved_sum in totals:
        level = (now.on_hand.get((loc, sku), 0), now.reserved.get((loc, sku), 0))
        if level != (on_hand_sum, reserved_sum):
            problems.append(
                f"{loc}/{sku}: level on hand/reserved {level}, its movements add up to ({on_hand_sum}, {reserved_sum})"
            )
    for order_id, fo_id, loc, sku, quantity in still_reserved:
        problems.append(
            f"{order_id}: {quantity} x {sku} still reserved at {loc} ({fo_id or 'no fulfillment order'}) "
            f"though the order is {orders[order_id].status}"
        )
    held = {place: n for place, n in now.reserved.items() if n != before.reserved.get(place, 0)}
    if held:
        problems.append(f"reserved levels changed by the run though every order is over: {held}")
    return problems
