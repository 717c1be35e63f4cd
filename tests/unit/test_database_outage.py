"""The database away: callers are told to try again (503, Retry-After), never a bare 500, and nothing starts."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from starter.api import catalog
from starter.api.app import create_app
from starter.settings import Settings
from tests.orders import checkout_body
from tests.unit.test_input_bounds import BoundsServices, CheckoutClient
from tests.unit.test_role_matrix import TOKENS


class DatabaseAway:
    """A read model or catalog whose database does not answer."""

    def __getattr__(self, name: str) -> Any:
        def unreachable(*args: object, **kwargs: object) -> None:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

        return unreachable


@pytest.fixture
def workflows() -> CheckoutClient:
    return CheckoutClient()


@pytest.fixture
def http(workflows: CheckoutClient) -> TestClient:
    app = create_app(Settings(env="test", tokens=TOKENS))
    app.state.services = BoundsServices(client=workflows, queries=DatabaseAway())  # type: ignore[arg-type]
    app.dependency_overrides[catalog.product_catalog] = DatabaseAway
    return TestClient(app)  # no lifespan: the services above stand in for the real ones


def agent_header() -> dict[str, str]:
    token = next(t.split(":")[0] for t in TOKENS.split(",") if t.split(":")[1] == "agent")
    return {"Authorization": f"Bearer {token}"}


def test_reading_an_order_while_the_database_is_away_is_503_with_retry_after(http: TestClient) -> None:
    # given the read model's database down, when an agent reads an order
    response = http.get("/v1/orders/W-1", headers=agent_header())
    # then the answer says to try again, and when
    assert response.status_code == 503, response.text
    assert "cannot be reached" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"


def test_a_checkout_while_the_catalog_is_away_is_503_and_starts_nothing(
    http: TestClient, workflows: CheckoutClient
) -> None:
    # given the catalog's database down, when a storefront checks out
    response = http.post("/v1/orders", json=checkout_body("W-AWAY"), headers=agent_header())
    # then it is told to try again, and no workflow was started
    assert response.status_code == 503, response.text
    assert workflows.started == []
