"""Fixtures of the database tier beyond the shared database."""

import pytest
from sqlalchemy import Engine

from tests.db.simulator_harness import forget_simulator_state


@pytest.fixture
def no_simulator_state(engine: Engine) -> None:
    """The simulator tables emptied first: pending webhooks of an earlier test would be sent to this test's OMS."""
    forget_simulator_state(engine)


@pytest.fixture
def no_subscriptions(engine: Engine) -> None:
    """No webhook subscription of an earlier test: the relay would deliver to its server, gone by now."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM subscriptions"))
        conn.execute(text("DELETE FROM outbox_destinations WHERE name LIKE 'subscription:%'"))
