"""The warehouse and carrier webhooks at the HTTP edge, with the order's workflow stood in for.

Which of a location's events reach the order's workflow as signals (and exactly as what), which are only
acknowledged, how a parcel shared by several orders reaches each, and how unknown or closed orders and transient
failures are answered: 404 and 409 are final for the partner, 503 means "send it again".
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs
from temporalio.service import RPCError, RPCStatusCode

from starter.api import webhooks
from starter.api.auth import parse_tokens
from workflows.messages import CARRIER_SIGNAL, WAREHOUSE_SIGNAL, CarrierEvent, WarehouseEvent

TOKENS = "t-partner:partner,t-agent:agent,t-store:storefront"
AS_PARTNER = {"Authorization": "Bearer t-partner"}


@dataclass
class FakeWorkflows:
    """The Temporal client as the webhooks use it: signals recorded, or refused with `refuse`."""

    refuse: Exception | None = None
    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "FakeHandle":
        return FakeHandle(workflow_id, self)


@dataclass
class FakeHandle:
    workflow_id: str
    workflows: FakeWorkflows

    async def signal(self, name: str, payload: Any) -> None:
        if self.workflows.refuse is not None:
            raise self.workflows.refuse
        self.workflows.signals.append((self.workflow_id, name, payload))


@dataclass
class FakeServices:
    client: FakeWorkflows
    queries: Any = None


@pytest.fixture
def workflows() -> FakeWorkflows:
    return FakeWorkflows()


@pytest.fixture
def http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows)
    with TestClient(app) as client:
        yield client


def post(http: TestClient, body: dict[str, Any]) -> Any:
    return http.post("/v1/webhooks/warehouse", json=body, headers=AS_PARTNER)


@pytest.mark.parametrize(
    "body",
    [
        {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "YMT0000000001", "carrier": "yamato"},
        {"fulfillment_order_id": "W-1-F1", "event": "rejected", "reason": "no capacity at STORE-SHIBUYA"},
        {"fulfillment_order_id": "W-1-F1", "event": "ready_for_pickup"},
        {"fulfillment_order_id": "W-1-F1", "event": "picked_up"},
    ],
    ids=lambda body: body["event"],
)
def test_events_the_order_acts_on_are_signalled_as_sent(
    http: TestClient, workflows: FakeWorkflows, body: dict[str, Any]
) -> None:
    # given a location's event for fulfillment order W-1-F1
    # when it calls the webhook
    response = post(http, body)
    # then it is accepted for order W-1, whose workflow gets the event unchanged
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "order_id": "W-1"}
    assert workflows.signals == [("order-W-1", WAREHOUSE_SIGNAL, WarehouseEvent.model_validate(body))]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_gets_a_default_one(
    http: TestClient, workflows: FakeWorkflows, reason: str | None
) -> None:
    # given a location that rejects a fulfillment order without saying why
    body: dict[str, Any] = {"fulfillment_order_id": "W-1-F1", "event": "rejected"}
    if reason is not None:
        body["reason"] = reason
    # when it calls the webhook
    response = post(http, body)
    # then the order's workflow still gets a reason to record and reroute with
    assert response.status_code == 202
    [(_, name, event)] = workflows.signals
    assert name == WAREHOUSE_SIGNAL
    assert event == WarehouseEvent(
        fulfillment_order_id="W-1-F1", event="rejected", reason=webhooks.DEFAULT_REJECT_REASON
    )


@pytest.mark.parametrize("event", ["picked", "packed"])
def test_progress_events_are_acknowledged_without_a_signal(
    http: TestClient, workflows: FakeWorkflows, event: str
) -> None:
    response = post(http, {"fulfillment_order_id": "W-1-F1", "event": event})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "order_id": "W-1"}
    assert workflows.signals == []


def test_a_fulfillment_order_id_that_names_no_order_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    response = post(http, {"fulfillment_order_id": "PARCEL-9", "event": "ready_for_pickup"})
    assert response.status_code == 404
    assert "PARCEL-9" in response.json()["detail"]
    assert workflows.signals == []


@pytest.mark.parametrize("fo_id", ["A-F²", "A-F٣", "A-F1²"])
def test_a_fulfillment_order_number_of_other_digits_names_no_order(
    http: TestClient, workflows: FakeWorkflows, fo_id: str
) -> None:
    # given an id whose number is made of digits that are not ASCII (superscript two, Arabic-Indic three)
    # when a location reports on it, then it names no order: 404, not a server error, and nothing is signalled
    response = post(http, {"fulfillment_order_id": fo_id, "event": "ready_for_pickup"})
    assert response.status_code in (404, 422)
    assert workflows.signals == []


def test_an_order_temporal_does_not_know_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    # given no workflow for order W-9
    workflows.refuse = RPCError("workflow not found for ID: order-W-9", RPCStatusCode.NOT_FOUND, b"")
    # when its store reports it collected, then the partner is told the order is unknown
    response = post(http, {"fulfillment_order_id": "W-9-F1", "event": "picked_up"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no order W-9"}


def test_a_closed_order_is_409_so_the_partner_stops_retrying(http: TestClient, workflows: FakeWorkflows) -> None:
    # given order W-1's workflow has completed
    workflows.refuse = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    # when a late rejection arrives, then the answer is final rather than "retry"
    response = post(http, {"fulfillment_order_id": "W-1-F1", "event": "rejected", "reason": "no capacity"})
    assert response.status_code == 409
    assert "no longer accepts partner events" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"fulfillment_order_id": "W-1-F1", "event": "shipped"},
        {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "YMT0000000001"},
        {"fulfillment_order_id": "W-1-F1", "event": "lost"},
    ],
)
def test_an_invalid_warehouse_event_is_422(http: TestClient, workflows: FakeWorkflows, body: dict[str, Any]) -> None:
    assert post(http, body).status_code == 422
    assert workflows.signals == []


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer t-agent"}, {"Authorization": "Bearer t-store"}])
def test_only_partners_call_the_warehouse_webhook(
    http: TestClient, workflows: FakeWorkflows, headers: dict[str, str]
) -> None:
    body = {"fulfillment_order_id": "W-1-F1", "event": "picked_up"}
    assert http.post("/v1/webhooks/warehouse", json=body, headers=headers).status_code == 403
    assert workflows.signals == []


# ---------------------------------------------------------------- the carrier webhook: one parcel, several orders


@dataclass
class FakeParcels:
    """The read model's tracking numbers: which fulfillment orders each parcel carries, or a database that fails."""

    parcels: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    fail: Exception | None = None
    lookups: list[str] = field(default_factory=list)

    def fulfillment_orders_of_tracking(self, tracking_number: str) -> list[tuple[str, str]]:
        self.lookups.append(tracking_number)
        if self.fail is not None:
            raise self.fail
        return self.parcels.get(tracking_number, [])


@dataclass
class PerOrderWorkflows(FakeWorkflows):
    """Signals refused for some orders only (`refuse_for`), the others recorded."""

    refuse_for: dict[str, Exception] = field(default_factory=dict)

    def get_workflow_handle(self, workflow_id: str) -> "FakeHandle":
        refusal = self.refuse_for.get(workflow_id)
        return FakeHandle(workflow_id, self if refusal is None else FakeWorkflows(refuse=refusal))


@pytest.fixture
def parcels() -> FakeParcels:
    return FakeParcels({"YMT-1": [("W-1", "W-1-F1"), ("W-2", "W-2-F1")], "YMT-9": [("W-9", "W-9-F1")]})


@pytest.fixture
def carrier_http(parcels: FakeParcels) -> Iterator[tuple[TestClient, PerOrderWorkflows]]:
    workflows = PerOrderWorkflows()
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows, queries=parcels)
    with TestClient(app) as client:
        yield client, workflows


def deliver(http: TestClient, tracking_number: str = "YMT-1") -> Any:
    return http.post(
        "/v1/webhooks/carrier", json={"tracking_number": tracking_number, "event": "delivered"}, headers=AS_PARTNER
    )


def test_a_parcel_of_two_orders_delivered_signals_both(carrier_http: tuple[TestClient, PerOrderWorkflows]) -> None:
    # given one parcel carrying fulfillment orders of W-1 and W-2
    http, workflows = carrier_http
    # when the carrier reports it delivered
    response = deliver(http)
    # then both orders are told, and the carrier learns the event was taken for both
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "order_id": "W-1", "order_ids": ["W-1", "W-2"]}
    event = CarrierEvent(tracking_number="YMT-1", event="delivered")
    assert workflows.signals == [("order-W-1", CARRIER_SIGNAL, event), ("order-W-2", CARRIER_SIGNAL, event)]


def test_a_parcel_with_one_order_closed_still_reaches_the_other(
    carrier_http: tuple[TestClient, PerOrderWorkflows],
) -> None:
    # given W-1 of the parcel has completed
    http, workflows = carrier_http
    workflows.refuse_for["order-W-1"] = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    # when the parcel is delivered, then W-2 is told and the event is taken
    response = deliver(http)
    assert response.status_code == 202
    assert [wid for wid, _, _ in workflows.signals] == ["order-W-2"]


def test_a_parcel_whose_orders_are_all_closed_is_409(carrier_http: tuple[TestClient, PerOrderWorkflows]) -> None:
    http, workflows = carrier_http
    closed = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    workflows.refuse_for.update({"order-W-1": closed, "order-W-2": closed})
    assert deliver(http).status_code == 409


def test_a_parcel_with_one_order_unreachable_is_503_so_the_carrier_sends_it_again(
    carrier_http: tuple[TestClient, PerOrderWorkflows],
) -> None:
    # given Temporal cannot be reached for W-2 just now
    http, workflows = carrier_http
    workflows.refuse_for["order-W-2"] = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    # when the parcel is delivered, then the carrier is told to try again (W-1 hears it twice: harmless)
    response = deliver(http)
    assert response.status_code == 503
    assert "try again" in response.json()["detail"]


def test_a_tracking_number_not_known_yet_is_503_so_the_carrier_sends_it_again(
    carrier_http: tuple[TestClient, PerOrderWorkflows],
) -> None:
    # given a parcel the read model has no shipment for (yet: the warehouse's "shipped" may come after the carrier's
    # news, or wait in the order's history while its worker is down)
    http, workflows = carrier_http
    # when the carrier reports it
    with capture_logs() as logs:
        response = deliver(http, "NOPE-1")
    # then it is not taken, and the carrier is told to try again: a 4xx would be final
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "no shipment with tracking number NOPE-1 is known yet" in response.json()["detail"]
    assert workflows.signals == []
    # and the operator can see it, should it never become known (a tracking number the carrier mistyped)
    waiting = [entry for entry in logs if entry["event"] == "partner_event_not_known_yet"]
    assert [(e["log_level"], e["what"]) for e in waiting] == [("warning", "shipment with tracking number NOPE-1")]


def test_a_read_model_that_cannot_answer_is_503(
    carrier_http: tuple[TestClient, PerOrderWorkflows], parcels: FakeParcels
) -> None:
    # given the database fails the tracking number lookup
    http, workflows = carrier_http
    parcels.fail = OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))
    # when the parcel is delivered, then the carrier is told to try again, not that the parcel is unknown
    response = deliver(http)
    assert response.status_code == 503
    assert workflows.signals == []


SHIPPED = {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "YMT-1", "carrier": "yamato"}
RECEIVED = {"return_id": "W-1-R1", "event": "received", "lines": [{"sku": "A", "quantity": 1, "condition": "damaged"}]}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/webhooks/carrier", {"tracking_number": "YMT\x001", "event": "delivered"}),
        ("/v1/webhooks/warehouse", {**SHIPPED, "tracking_number": "YMT\x001"}),
        ("/v1/webhooks/warehouse", {**SHIPPED, "carrier": "yama\x00to"}),
        ("/v1/webhooks/warehouse", {**SHIPPED, "fulfillment_order_id": "W-1-F\x001"}),
        ("/v1/webhooks/returns", {**RECEIVED, "return_id": "W-1-R\x001"}),
        ("/v1/webhooks/returns", {**RECEIVED, "lines": [{"sku": "A\x00", "quantity": 1, "condition": "damaged"}]}),
    ],
    ids=["carrier-tracking", "warehouse-tracking", "warehouse-carrier", "warehouse-fo", "return-id", "return-sku"],
)
def test_a_nul_byte_in_a_partner_identifier_is_422_before_anything_is_looked_up(
    carrier_http: tuple[TestClient, PerOrderWorkflows], parcels: FakeParcels, path: str, body: dict[str, Any]
) -> None:
    # given a partner event naming something with a NUL byte, which no text column takes
    http, workflows = carrier_http
    # when it arrives
    response = http.post(path, json=body, headers=AS_PARTNER)
    # then it is refused as invalid for good, not "try again" when the database refuses the lookup
    assert response.status_code == 422, response.text
    assert parcels.lookups == []
    assert workflows.signals == []


# ---------------------------------------------------------------- transient failures are "try again"

TRANSIENT = [
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
]


@pytest.mark.parametrize("status", TRANSIENT, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": "W-9-F1", "event": "shipped", "tracking_number": "Y1", "carrier": "yamato"},
        ),
        ("/v1/webhooks/carrier", {"tracking_number": "YMT-9", "event": "delivered"}),
        (
            "/v1/webhooks/returns",
            {
                "return_id": "W-9-R1",
                "event": "received",
                "lines": [{"sku": "A", "quantity": 1, "condition": "damaged"}],
            },
        ),
    ],
    ids=["warehouse", "carrier", "returns"],
)
def test_a_transient_temporal_failure_is_503_so_the_partner_sends_the_event_again(
    parcels: FakeParcels, path: str, body: dict[str, Any], status: RPCStatusCode
) -> None:
    # given Temporal fails the signal in a way that may pass
    workflows = FakeWorkflows(refuse=RPCError(f"{status.name.lower()} for a moment", status, b""))
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows, queries=parcels)
    # when a partner's event arrives
    with TestClient(app) as http:
        response = http.post(path, json=body, headers=AS_PARTNER)
    # then the partner is told to try again (5xx), never that the event will not be taken (4xx)
    assert response.status_code == 503, response.text
    assert "try again" in response.json()["detail"]


# ---------------------------------------------------------------- partner tokens scoped to one location or carrier

SCOPED_TOKENS = "t-tokyo:partner:DC-TOKYO,t-osaka:partner:DC-OSAKA,t-yamato:partner:yamato,t-sagawa:partner:sagawa"


@dataclass
class PartnersOfRecord:
    """The read model's answer to which partner a fulfillment order, parcel or return belongs to."""

    asked: list[str] = field(default_factory=list)

    def location_of_fulfillment_order(self, fulfillment_order_id: str) -> str | None:
        self.asked.append(fulfillment_order_id)
        return {"W-1-F1": "DC-TOKYO"}.get(fulfillment_order_id)

    def location_of_return(self, return_id: str) -> str | None:
        return {"W-1-R1": "DC-TOKYO"}.get(return_id)

    def parcel_of_tracking(self, tracking_number: str) -> list[tuple[str, str, str | None]]:
        # one tracking number two carriers happen to use
        parcels: dict[str, list[tuple[str, str, str | None]]] = {
            "Y1": [("W-1", "W-1-F1", "yamato"), ("W-2", "W-2-F1", "sagawa")]
        }
        return parcels.get(tracking_number, [])


@pytest.fixture
def scoped(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(SCOPED_TOKENS, production=False)
    app.state.services = FakeServices(client=workflows, queries=PartnersOfRecord())
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_location_reports_its_own_fulfillment_order_and_not_another_locations(
    scoped: TestClient, workflows: FakeWorkflows
) -> None:
    body = {"fulfillment_order_id": "W-1-F1", "event": "rejected", "reason": "no stock"}
    # given W-1-F1 was released to DC-TOKYO
    # when DC-OSAKA reports it rejected, then that is not its to say
    refused = scoped.post("/v1/webhooks/warehouse", json=body, headers=bearer("t-osaka"))
    assert refused.status_code == 403
    assert "DC-OSAKA" in refused.json()["detail"] and "W-1-F1" in refused.json()["detail"]
    # and neither is it the carrier's
    assert scoped.post("/v1/webhooks/warehouse", json=body, headers=bearer("t-yamato")).status_code == 403
    assert workflows.signals == []
    # when DC-TOKYO reports it, then the order hears it
    assert scoped.post("/v1/webhooks/warehouse", json=body, headers=bearer("t-tokyo")).status_code == 202
    assert [name for _, name, _ in workflows.signals] == [WAREHOUSE_SIGNAL]


def test_a_fulfillment_order_the_read_model_has_not_recorded_yet_is_503_to_a_scoped_token(
    scoped: TestClient, workflows: FakeWorkflows
) -> None:
    # given a fulfillment order the read model has not recorded (a location may answer before it is projected)
    body = {"fulfillment_order_id": "W-7-F1", "event": "picked_up"}
    # when a location reports it, then it is not taken and the location is told to send it again
    response = scoped.post("/v1/webhooks/warehouse", json=body, headers=bearer("t-tokyo"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert workflows.signals == []


def test_a_carrier_delivers_only_its_own_parcels(scoped: TestClient, workflows: FakeWorkflows) -> None:
    delivered = {"tracking_number": "Y1", "event": "delivered"}
    # given tracking number Y1 used by yamato for W-1 and by sagawa for W-2
    # when a location reports it delivered, then it is refused
    assert scoped.post("/v1/webhooks/carrier", json=delivered, headers=bearer("t-tokyo")).status_code == 403
    assert workflows.signals == []
    # when yamato reports it delivered, then only yamato's order hears it
    response = scoped.post("/v1/webhooks/carrier", json=delivered, headers=bearer("t-yamato"))
    assert response.status_code == 202, response.text
    assert response.json()["order_ids"] == ["W-1"]
    assert [wid for wid, _, _ in workflows.signals] == ["order-W-1"]


def test_a_return_is_received_only_where_it_was_sent(scoped: TestClient, workflows: FakeWorkflows) -> None:
    body = {"return_id": "W-1-R1", "event": "received", "lines": [{"sku": "A", "quantity": 1, "condition": "damaged"}]}
    assert scoped.post("/v1/webhooks/returns", json=body, headers=bearer("t-osaka")).status_code == 403
    assert workflows.signals == []
    assert scoped.post("/v1/webhooks/returns", json=body, headers=bearer("t-tokyo")).status_code == 202
    assert len(workflows.signals) == 1
