"""The worker's sweeper gives back holds whose TTL passed, even if their order never returns for them."""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from domain.models import SkuQuantity
from tests.db.inventory_checks import CheckedInventory
from tests.db.test_inventory import add_location
from worker import sweep_expired_holds

pytestmark = pytest.mark.db


async def test_expired_holds_are_released_and_live_ones_kept(engine: Engine) -> None:
    # given one hold that expired a minute ago and one that runs another hour
    loc, sku = f"SWP-{uuid.uuid4().hex[:6]}", f"SKU-{uuid.uuid4().hex[:8]}"
    add_location(engine, loc)
    repo = CheckedInventory(engine)
    repo.set_on_hand(loc, sku, 5)
    now = datetime.now(UTC)
    repo.reserve("HOLD-OLD", loc, [SkuQuantity(sku=sku, quantity=2)], expires_at=now - timedelta(minutes=1))
    repo.reserve("HOLD-NEW", loc, [SkuQuantity(sku=sku, quantity=1)], expires_at=now + timedelta(hours=1))

    # when the sweeper runs for a moment
    sweeper = asyncio.create_task(sweep_expired_holds(repo, every_s=0.05))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if repo.level(loc, sku).reserved == 1:
            break
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper

    # then only the expired hold went back to stock
    assert repo.level(loc, sku).reserved == 1
    assert [status for *_, status in repo.reservations_of("HOLD-OLD")] == ["expired"]
    assert [status for *_, status in repo.reservations_of("HOLD-NEW")] == ["reserved"]
