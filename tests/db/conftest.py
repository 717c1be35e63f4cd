"""Fixtures of the database tier beyond the shared database."""

import pytest
from sqlalchemy import Engine

from tests.db.simulator_harness import forget_simulator_state


@pytest.fixture
def no_simulator_state(engine: Engine) -> None:
    """The simulator tables emptied first: pending webhooks of an earlier test would be sent to this test's OMS."""
    forget_simulator_state(engine)
