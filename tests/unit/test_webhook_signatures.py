"""Partner webhooks signed with the partner's secret (OMS_PARTNER_SECRETS): X-OMS-Signature over the raw body,
within 300 s of now, whatever the token; otherwise 401 and nothing reaches the order. The simulators sign."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from integrations.simulator_store import Webhook
from integrations.simulators import _Sender
from starter.api import webhooks
from starter.api.app import create_app
from starter.api.auth import parse_partner_secrets, parse_tokens
from starter.settings import Settings
from tests.unit.test_role_matrix import TOKENS, Accounts, Gateway, ReadModel, Services, Temporal, Writes

SECRETS = "DC-TOKYO:tokyo-secret-0123456789,yamato:yamato-secret-9876543210"
SHIPPED = {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "Y1", "carrier": "yamato"}
DELIVERED = {"tracking_number": "Y1", "event": "delivered"}
RECEIVED = {
    "return_id": "W-1-R1",
    "event": "received",
    "lines": [{"sku": "LEGO-76419", "quantity": 1, "condition": "resellable"}],
}
UNSCOPED = {"Authorization": "Bearer t-partner"}
AS_DC_TOKYO = {"Authorization": "Bearer t-partner-dc-tokyo"}


def signature(secret: str, body: bytes, at: float) -> str:
    """As a partner computes it from the contract: HMAC-SHA256(secret, "<t>.<raw body>") in hex."""
    t = int(at)
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


@pytest.fixture
def services() -> Services:
    writes = Writes()
    return Services(
        client=Temporal(),
        queries=ReadModel(),
        engine=None,  # type: ignore[arg-type]
        settings=Settings(env="test"),
        writes=writes,
        gateway=Gateway(writes),
        accounts=Accounts(writes),
    )


def app_with(services: Services, secrets: str) -> FastAPI:
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.partner_secrets = parse_partner_secrets(secrets)
    app.state.services = services
    return app


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    with TestClient(app_with(services, SECRETS)) as client:
        yield client


def post(http: TestClient, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    response: httpx.Response = http.post(path, content=body, headers={"Content-Type": "application/json", **headers})
    return response


@pytest.mark.parametrize(
    ("path", "event", "secret"),
    [
        ("/v1/webhooks/warehouse", SHIPPED, "tokyo-secret-0123456789"),
        ("/v1/webhooks/carrier", DELIVERED, "yamato-secret-9876543210"),
        ("/v1/webhooks/returns", RECEIVED, "tokyo-secret-0123456789"),
    ],
    ids=["warehouse", "carrier", "returns"],
)
def test_an_event_signed_by_its_partner_is_taken_and_an_unsigned_one_is_401(
    http: TestClient, services: Services, path: str, event: dict[str, Any], secret: str
) -> None:
    body = json.dumps(event).encode()
    # given a partner with a secret, whose event arrives without a signature
    unsigned = post(http, path, body, UNSCOPED)
    # then it is refused as unauthenticated and the order hears nothing
    assert unsigned.status_code == 401, unsigned.text
    assert "X-OMS-Signature is missing" in unsigned.json()["detail"]
    assert services.client.signals == []
    # when the same event is signed with the partner's secret
    signed = post(http, path, body, {**UNSCOPED, "X-OMS-Signature": signature(secret, body, time.time())})
    # then it is taken and reaches the order
    assert signed.status_code == 202, signed.text
    assert [workflow for workflow, _ in services.client.signals] == ["order-W-1"]


@pytest.mark.parametrize(
    ("why", "header"),
    [
        ("stale", lambda body: signature("tokyo-secret-0123456789", body, time.time() - 301)),
        ("from the future", lambda body: signature("tokyo-secret-0123456789", body, time.time() + 301)),
        ("another partner's secret", lambda body: signature("yamato-secret-9876543210", body, time.time())),
        ("another body", lambda body: signature("tokyo-secret-0123456789", body + b" ", time.time())),
        ("no v1", lambda body: f"t={int(time.time())}"),
        ("not a time", lambda body: "t=soon,v1=00"),
    ],
)
def test_a_signature_that_does_not_hold_is_401_even_with_the_partners_own_token(
    http: TestClient, services: Services, why: str, header: Any
) -> None:
    # given DC-TOKYO's own scoped token and a shipped event for its fulfillment order
    body = json.dumps(SHIPPED).encode()
    # when the signature is wrong in one way
    response = post(http, "/v1/webhooks/warehouse", body, {**AS_DC_TOKYO, "X-OMS-Signature": header(body)})
    # then the token does not make up for it
    assert response.status_code == 401, why
    assert services.client.signals == []


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(http: TestClient, services: Services) -> None:
    # given an event laid out with the partner's own spacing, and one signature over it
    raw = b'{ "fulfillment_order_id" : "W-1-F1",  "event": "picked_up" }'
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    header = signature("tokyo-secret-0123456789", raw, time.time())
    # when the same JSON is sent compacted with that signature, then it is refused
    assert post(http, "/v1/webhooks/warehouse", compact, {**UNSCOPED, "X-OMS-Signature": header}).status_code == 401
    # and the bytes that were signed are taken
    assert post(http, "/v1/webhooks/warehouse", raw, {**UNSCOPED, "X-OMS-Signature": header}).status_code == 202
    assert len(services.client.signals) == 1


def test_a_partner_without_a_secret_needs_no_signature(services: Services) -> None:
    # given only the carrier has a secret
    with TestClient(app_with(services, "yamato:yamato-secret-9876543210")) as http:
        # when the location posts unsigned, then its event is taken
        body = json.dumps(SHIPPED).encode()
        assert post(http, "/v1/webhooks/warehouse", body, UNSCOPED).status_code == 202
        # while the carrier's unsigned event is not
        assert post(http, "/v1/webhooks/carrier", json.dumps(DELIVERED).encode(), UNSCOPED).status_code == 401
    assert len(services.client.signals) == 1


def test_a_signed_event_from_a_token_of_another_partner_is_still_403(http: TestClient, services: Services) -> None:
    # given DC-OSAKA's token carrying a valid signature of DC-TOKYO's event (a leaked body replayed)
    body = json.dumps(SHIPPED).encode()
    header = signature("tokyo-secret-0123456789", body, time.time())
    # when it posts, then the token's scope still refuses it
    as_osaka = {"Authorization": "Bearer t-partner-dc-osaka", "X-OMS-Signature": header}
    assert post(http, "/v1/webhooks/warehouse", body, as_osaka).status_code == 403
    assert services.client.signals == []


def test_partner_secrets_parse_and_bad_entries_are_named_by_position() -> None:
    assert parse_partner_secrets(" DC-TOKYO:a:b , yamato:c") == {"DC-TOKYO": "a:b", "yamato": "c"}
    assert parse_partner_secrets("") == {}
    with pytest.raises(ValueError, match="entry 2"):
        parse_partner_secrets("DC-TOKYO:a,yamato")
    with pytest.raises(ValueError, match="twice"):
        parse_partner_secrets("DC-TOKYO:a,DC-TOKYO:b")


# ---------------------------------------------------------------- the simulators sign what they send


class SimulatedLocations:
    """The simulators' store, as the sender asks it which partner a fulfillment order is with."""

    def record(self, fo_id: str) -> dict[str, Any] | None:
        return {"fulfillment_order_id": fo_id, "location_id": "DC-TOKYO", "carrier": "yamato"}


async def send(services: Services, secrets: dict[str, str], webhook: Webhook) -> tuple[str, str]:
    transport = httpx.ASGITransport(app=app_with(services, SECRETS))
    async with httpx.AsyncClient(transport=transport) as client:
        sender = _Sender(SimulatedLocations(), client, "http://oms", "t-partner", 0.01, secrets)  # type: ignore[arg-type]
        return await sender._post(webhook)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/webhooks/warehouse", SHIPPED), ("/v1/webhooks/carrier", DELIVERED)],
    ids=["warehouse", "carrier"],
)
async def test_the_simulators_sign_with_the_secret_of_the_partner_reporting(
    services: Services, path: str, body: dict[str, Any]
) -> None:
    # given a simulated location and carrier with their secrets, and a webhook due for each
    webhook = Webhook(id=1, fulfillment_order_id="W-1-F1", stage=body["event"], path=path, body=body, attempts=1)
    secrets = parse_partner_secrets(SECRETS)
    # when the sender posts it to the OMS
    outcome, answer = await send(services, secrets, webhook)
    # then the OMS takes it: the signature held
    assert (outcome, answer[:3]) == ("sent", "202")
    assert [workflow for workflow, _ in services.client.signals] == ["order-W-1"]


async def test_simulators_without_the_secrets_are_refused_for_good(services: Services) -> None:
    webhook = Webhook(
        id=1,
        fulfillment_order_id="W-1-F1",
        stage="shipped",
        path=webhooks.router.prefix + "/warehouse",
        body=SHIPPED,
        attempts=1,
    )
    outcome, answer = await send(services, {}, webhook)
    assert (outcome, answer[:3]) == ("refused", "401")
    assert services.client.signals == []


def test_the_served_app_takes_the_secrets_from_oms_partner_secrets(services: Services) -> None:
    # given the API built from settings naming DC-TOKYO's secret
    app = create_app(Settings(env="test", tokens=TOKENS, partner_secrets=SECRETS))
    app.state.services = services
    http = TestClient(app)  # not entered: the lifespan would connect to Temporal and PostgreSQL
    body = json.dumps(SHIPPED).encode()
    # when DC-TOKYO's event arrives unsigned, then it is refused; signed, it is taken
    assert post(http, "/v1/webhooks/warehouse", body, UNSCOPED).status_code == 401
    header = signature("tokyo-secret-0123456789", body, time.time())
    assert post(http, "/v1/webhooks/warehouse", body, {**UNSCOPED, "X-OMS-Signature": header}).status_code == 202
