"""POST /v1/subscriptions takes only what the relay can deliver: an http(s) URL of bounded length, event names the
orders really record, a secret of bounded length; the routes answer what their OpenAPI document says."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from starter.api import subscriptions
from starter.api.app import create_app
from starter.settings import Settings

OPERATOR = {"Authorization": "Bearer t-operator"}
VALID = {"url": "https://hooks.example/oms?k=1", "events": ["ShipmentShipped", "OrderPlaced"], "secret": "x" * 16}


class Store:
    def __init__(self) -> None:
        self.created: list[tuple[str, list[str], str]] = []
        self.replays: list[tuple[str, int | None]] = []

    def create(self, url: str, events: list[str], secret: str) -> str:
        self.created.append((url, events, secret))
        return "sub_1"

    def failures(self, subscription_id: str, limit: int = 1000) -> list[Any] | None:
        return [] if subscription_id == "sub_1" else None

    def replay(self, subscription_id: str, from_event_id: int | None) -> int | None:
        self.replays.append((subscription_id, from_event_id))
        return 3 if subscription_id == "sub_1" else None


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def http(store: Store) -> Iterator[TestClient]:
    app = create_app(Settings(env="test", tokens="t-operator:operator"))
    app.dependency_overrides[subscriptions.subscription_store] = lambda: store
    yield TestClient(app)


def test_a_valid_subscription_is_created_as_given(http: TestClient, store: Store) -> None:
    # given a valid body, when an operator posts it, then it is created and its id answered
    answer = http.post("/v1/subscriptions", json=VALID, headers=OPERATOR)
    assert answer.status_code == 201 and answer.json() == {"id": "sub_1"}
    assert store.created == [(VALID["url"], VALID["events"], VALID["secret"])]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"url": "ftp://hooks.example/oms"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://hooks.example/" + "a" * 2048}, "url"),
        ({"url": "https://hooks.example/a b"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["OrderShipped"]}, "events"),
        ({"events": ["OrderPlaced", "OrderPlaced"]}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"secret": "sixteen chars ok but spaced"}, "secret"),
    ],
)
def test_an_invalid_subscription_is_refused_and_nothing_is_created(
    http: TestClient, store: Store, change: dict[str, Any], why: str
) -> None:
    # given a body with one field out of bounds, when it is posted
    answer = http.post("/v1/subscriptions", json={**VALID, **change}, headers=OPERATOR)
    # then it is a 422 naming that field, and nothing is created
    assert answer.status_code == 422, answer.text
    assert why in str(answer.json()["detail"])
    assert store.created == []


def test_replay_takes_an_optional_start_and_an_unknown_subscription_is_404(http: TestClient, store: Store) -> None:
    # when the failures are replayed (no body), then from a given event, then for a subscription that is not there
    bare = http.post("/v1/subscriptions/sub_1/replay", headers=OPERATOR)
    from_one = http.post("/v1/subscriptions/sub_1/replay", json={"from_event_id": 7}, headers=OPERATOR)
    unknown = http.post("/v1/subscriptions/sub_9/replay", headers=OPERATOR)
    # then the first two are taken as asked and the last is a 404 with the reason
    assert (bare.status_code, bare.json()) == (202, {"id": "sub_1", "replayed": 3})
    assert from_one.status_code == 202
    assert store.replays == [("sub_1", None), ("sub_1", 7), ("sub_9", None)]
    assert unknown.status_code == 404 and "sub_9" in unknown.json()["detail"]
    assert http.get("/v1/subscriptions/sub_9/failures", headers=OPERATOR).status_code == 404


def test_the_openapi_document_declares_every_answer_of_the_routes(http: TestClient) -> None:
    # when the document is read, then each route names its success and its refusals
    paths = http.get("/openapi.json").json()["paths"]
    assert {"201", "400", "401", "403", "413", "422", "503"} <= set(paths["/v1/subscriptions"]["post"]["responses"])
    assert {"200", "404"} <= set(paths["/v1/subscriptions/{subscription_id}/failures"]["get"]["responses"])
    assert {"202", "404"} <= set(paths["/v1/subscriptions/{subscription_id}/replay"]["post"]["responses"])
