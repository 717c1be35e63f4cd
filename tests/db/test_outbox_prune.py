"""Pruning the outbox: only what every destination has taken, that none still owes, past the retention; on a
database of its own, so no other test's destination holds rows back."""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from events_out.outbox import Outbox
from events_out.relay import Relay
from starter import cli
from starter.settings import Settings
from store.db import make_engine
from store.outbox_tables import outbox, outbox_deliveries
from tests.database import fresh_database

pytestmark = pytest.mark.db
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def own_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(Path(tmp_path_factory.mktemp("prune"))) as url:
        yield url


@pytest.fixture(scope="module")
def own_engine(own_url: str) -> Iterator[Engine]:
    engine = make_engine(own_url, pool_size=2)
    yield engine
    engine.dispose()


def written(engine: Engine, sequence: int, days_ago: int) -> int:
    """An outbox row of order W-1, recorded `days_ago` days ago, in a transaction of its own."""
    row = {
        "order_id": "W-1",
        "sequence": sequence,
        "type": "OrderPlaced",
        "occurred_at": datetime(2026, 11, 1, tzinfo=UTC),
        "data": {},
        "recorded_at": datetime.now(UTC) - timedelta(days=days_ago),
    }
    with engine.begin() as conn:
        event_id: int = conn.execute(insert(outbox).values(row).returning(outbox.c.event_id)).scalar_one()
    return event_id


def kept(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox.c.event_id).order_by(outbox.c.event_id)).scalars())


def test_only_what_every_destination_took_and_none_owes_is_pruned_past_the_retention(own_engine: Engine) -> None:
    box = Outbox(own_engine)
    # given two destinations, then three events of last month and one of today
    box.ensure_destination("all-read")
    box.ensure_destination("behind")
    first, second, third = (written(own_engine, n, days_ago=30) for n in (1, 2, 3))
    today = written(own_engine, 4, days_ago=0)
    # the first destination took everything; the second read two, took the first and gave up on the second
    box.fan_out("all-read", None, 100)
    box.delivered("all-read", [first, second, third, today])
    box.fan_out("behind", None, 2)
    box.delivered("behind", [first])
    with own_engine.begin() as conn:
        conn.execute(
            update(outbox_deliveries)
            .where(outbox_deliveries.c.destination == "behind", outbox_deliveries.c.event_id == second)
            .values(state="failed")
        )

    # when the outbox is pruned with a week's retention
    pruned = box.prune(WEEK)

    # then only the first event went: the second is a failure still owed, the third not read by one, today's new
    assert pruned == 1
    assert kept(own_engine) == [second, third, today]

    # when the second destination catches up and its failure is taken after a replay
    box.fan_out("behind", None, 100)
    box.delivered("behind", [second, third, today])
    # then a prune in batches of one takes both old events, and today's stays for its week
    assert box.prune(WEEK, batch=1) == 2
    assert kept(own_engine) == [today]
    assert box.prune(WEEK) == 0


def test_an_operator_prunes_now_from_the_command_line_with_the_retention_set(
    own_url: str, own_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given an event of today that every destination took
    box = Outbox(own_engine)
    event = written(own_engine, 10, days_ago=0)
    for name in ("all-read", "behind"):
        box.fan_out(name, None, 100)
        box.delivered(name, [event])

    def prune(retention: str) -> Any:
        monkeypatch.setattr(cli, "get_settings", lambda: Settings(database_url=own_url, outbox_retention=retention))
        capsys.readouterr()
        assert cli.run(["relay", "--prune"]) == 0
        return json.loads(capsys.readouterr().out)

    # when pruned with the default week, then it stays; with no retention at all, it goes with every other taken
    assert prune("P7D") == {"pruned": 0, "retention": "P7D"}
    before = kept(own_engine)
    assert event in before
    assert prune("PT0S") == {"pruned": len(before), "retention": "PT0S"}
    assert kept(own_engine) == []


async def test_a_running_relay_prunes_what_is_past_its_retention(own_engine: Engine) -> None:
    # given an event of last month that every destination took
    box = Outbox(own_engine)
    event = written(own_engine, 20, days_ago=30)
    for name in ("all-read", "behind"):
        box.fan_out(name, None, 100)
        box.delivered(name, [event])
    # when a relay with a week's retention runs for a moment
    stop = asyncio.Event()
    running = asyncio.create_task(Relay(own_engine, poll_interval=0.01, retention=WEEK).run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await running
    # then the event is gone
    assert event not in kept(own_engine)
