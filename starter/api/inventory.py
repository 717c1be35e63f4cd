"""Inventory: where stock is, how much a product page may promise, and stock counts and receipts."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, Self

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine
from sqlalchemy.exc import DataError

from domain.ids import adjustment_key
from domain.models import Channel
from starter.api.auth import ROLES, Principal, require, require_speaks_for
from starter.settings import Settings
from store.inventory import (
    AdjustedLevel,
    Availability,
    InventoryRepository,
    LocationInfo,
    StockWouldGoNegative,
    UnknownLocation,
)

router = APIRouter(prefix="/v1", tags=["inventory"])
log = structlog.get_logger()

# The hook point for "a receipt of stock lets waiting (backordered) orders proceed": when the API's
# services carry an `on_stock_received` coroutine function, it is awaited after every adjustment that
# added stock (never for a repeated adjustment_id). Whoever wires it decides which orders to signal.
StockReceivedHook = Callable[[AdjustedLevel], Awaitable[None]]


class InventoryServices(Protocol):
    """What these routes need of `starter.api.deps.Services`."""

    @property
    def engine(self) -> Engine: ...

    @property
    def settings(self) -> Settings: ...


def inventory_services(request: Request) -> InventoryServices:
    svc: InventoryServices = request.app.state.services
    return svc


Svc = Annotated[InventoryServices, Depends(inventory_services)]
ANY_ROLE = tuple(sorted(ROLES))
# What a level's integer columns hold (on hand, reserved, and each ledger movement)
MAX_UNITS = 2**31 - 1


# The body gives exactly one of delta and on_hand (the other absent or null), as its JSON schema says too.
EXACTLY_ONE_OF_DELTA_AND_ON_HAND: dict[str, Any] = {
    "oneOf": [
        {"properties": {"delta": {"type": "integer"}}, "required": ["delta"]},
        {"properties": {"on_hand": {"type": "integer"}}, "required": ["on_hand"]},
    ]
}


class AdjustmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=EXACTLY_ONE_OF_DELTA_AND_ON_HAND)

    location_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=64)
    delta: int | None = Field(
        default=None,
        ge=-MAX_UNITS,
        le=MAX_UNITS,
        description="units to add (a receipt) or, when negative, remove",
    )
    on_hand: int | None = Field(default=None, ge=0, le=MAX_UNITS, description="the counted units on hand")
    reason: str | None = Field(default=None, max_length=500)
    adjustment_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="idempotency key: a repeat changes nothing"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.delta is None) == (self.on_hand is None):
            raise ValueError("give exactly one of delta and on_hand")
        return self


class LevelOut(BaseModel):
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int


@router.get("/locations")
def list_locations(svc: Svc, who: Principal = require(*ANY_ROLE)) -> list[LocationInfo]:
    """Fulfillment locations: kind, position, capabilities, daily capacity, cutoff and location groups."""
    return InventoryRepository(svc.engine).locations()


@router.get("/availability")
def availability(
    svc: Svc,
    sku: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]],
        Query(min_length=1, max_length=100),
    ],
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
    channel: Channel | None = None,
    who: Principal = require(*ANY_ROLE),
) -> Availability:
    """Per SKU: available to sell at each location and in total, with a level (in_stock, low_stock,
    out_of_stock). With latitude and longitude each location has its distance_km, nearest first."""
    if (latitude is None) != (longitude is None):
        raise HTTPException(422, "give both latitude and longitude, or neither")
    return InventoryRepository(svc.engine).availability(
        sku, latitude, longitude, channel=channel, low_stock_threshold=svc.settings.low_stock_threshold
    )


@router.post(
    "/inventory/adjustments",
    responses={
        404: {"description": "unknown location"},
        409: {"description": "stock would go negative"},
        422: {"description": "an invalid adjustment, or a level above what a count holds"},
    },
)
async def adjust_inventory(body: AdjustmentBody, svc: Svc, who: Principal = require("operator", "partner")) -> LevelOut:
    """Count (`on_hand`) or move (`delta`) a location's stock of a SKU; answers the new level. A partner token
    scoped to a location adjusts that location's stock only (403 otherwise)."""
    if who.role == "partner":
        require_speaks_for(who, body.location_id, f"location {body.location_id}")
    repo = InventoryRepository(svc.engine)
    reason = body.reason or ("stock received" if (body.delta or 0) > 0 else "stock adjusted")
    try:
        level = await asyncio.to_thread(
            repo.adjust,
            body.location_id,
            body.sku,
            delta=body.delta,
            on_hand=body.on_hand,
            reason=f"{reason} (by {who.actor})",
            reference=body.adjustment_id,
            key=None if body.adjustment_id is None else adjustment_key(body.adjustment_id),
        )
    except UnknownLocation as err:
        raise HTTPException(404, str(err)) from err
    except StockWouldGoNegative as err:
        raise HTTPException(409, str(err)) from err
    except DataError as err:  # the level would leave what its column holds; the transaction wrote nothing
        raise HTTPException(
            422, f"{body.sku} at {body.location_id}: the level would be above the {MAX_UNITS} units a count holds"
        ) from err
    log.info(
        "inventory adjusted",
        location_id=level.location_id,
        sku=level.sku,
        on_hand_delta=level.on_hand_delta,
        repeated=level.repeated,
        actor=who.actor,
    )
    if level.received and not level.repeated:
        await _stock_received(svc, level)
    return LevelOut(
        location_id=level.location_id,
        sku=level.sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
        available=level.available,
    )


async def _stock_received(svc: InventoryServices, level: AdjustedLevel) -> None:
    hook: StockReceivedHook | None = getattr(svc, "on_stock_received", None)
    if hook is None:
        return
    try:
        await hook(level)
    except Exception:  # the stock is counted already; waiting orders are retried by whoever owns the hook
        log.exception("on_stock_received failed", location_id=level.location_id, sku=level.sku)
