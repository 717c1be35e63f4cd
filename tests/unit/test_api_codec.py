"""`/codec/encode` and `/codec/decode`: the codec-server protocol, for operators only, callable from the Web UI."""

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import codec
from starter.api.auth import parse_tokens
from starter.settings import Settings

TOKENS = "t-agent:agent,t-operator:operator,t-store:storefront,t-c1:customer:C-1"
AS_OPERATOR = {"Authorization": "Bearer t-operator"}
UI = "http://127.0.0.1:8233"
KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
EMAIL = "hanako.codec@example.jp"


@dataclass
class FakeServices:
    settings: Settings


@pytest.fixture
def http() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(codec.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(Settings(tokens=TOKENS, codec_keys=KEYS, env="test", ui_port=8233))
    with TestClient(app) as client:
        yield client


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain_body(text: str) -> dict[str, Any]:
    return {"payloads": [{"metadata": {"encoding": b64(b"json/plain")}, "data": b64(f'"{text}"'.encode())}]}


def test_an_operator_encodes_and_decodes_in_the_codec_server_protocol(http: TestClient) -> None:
    # given a payload as the Temporal CLI or UI sends it
    body = plain_body(EMAIL)
    # when an operator encodes it and decodes the answer
    encoded = http.post("/codec/encode", json=body, headers=AS_OPERATOR)
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    decoded = http.post("/codec/decode", json=encoded.json(), headers=AS_OPERATOR)
    # then the encoded payload names its key and hides the value, and decoding gives back the payload sent
    assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"k1"
    assert EMAIL not in encoded.text and EMAIL.encode() not in base64.b64decode(sealed["data"])
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == body


def test_a_payload_under_an_unknown_key_is_a_400_naming_the_key(http: TestClient) -> None:
    body = {"payloads": [{"metadata": {"encoding": b64(b"binary/encrypted"), "encryption-key-id": b64(b"gone")}}]}
    answer = http.post("/codec/decode", json=body, headers=AS_OPERATOR)
    assert answer.status_code == 400
    assert "'gone'" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": "Bearer t-agent"}, 403),
        ({"Authorization": "Bearer t-store"}, 403),
        ({"Authorization": "Bearer t-c1"}, 403),
    ],
)
def test_only_an_operator_may_use_the_codec(http: TestClient, path: str, headers: dict[str, str], status: int) -> None:
    answer = http.post(path, json=plain_body(EMAIL), headers={**headers, "Origin": UI})
    assert answer.status_code == status
    assert EMAIL not in answer.text
    # the UI can read why it was refused
    assert answer.headers["access-control-allow-origin"] == UI


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8233", "http://localhost:8233"])
@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
def test_the_web_ui_preflight_is_allowed_without_a_token(http: TestClient, origin: str, path: str) -> None:
    # given the browser's preflight for the UI's request, which carries no credentials
    preflight = http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    # then the UI's origin may post JSON with its namespace header and credentials
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed


def test_another_origin_is_not_allowed(http: TestClient) -> None:
    preflight = http.options(
        "/codec/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    answer = http.post(
        "/codec/decode", json=plain_body(EMAIL), headers={**AS_OPERATOR, "Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_an_operator_signed_in_through_the_browser_decodes_with_the_session_cookie(http: TestClient) -> None:
    # given an operator who signed in on the codec's page
    page = http.get("/codec/login")
    signed_in = http.post(
        "/codec/login", content="token=t-operator", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert page.status_code == 200 and 'name="token"' in page.text
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/codec" in cookie
    # when the Web UI asks to decode with credentials included (the cookie, no Authorization header)
    encoded = http.post("/codec/encode", json=plain_body(EMAIL), headers={"Origin": UI})
    # then it is answered
    assert encoded.status_code == 200
    assert http.post("/codec/decode", json=encoded.json(), headers={"Origin": UI}).json() == plain_body(EMAIL)


def test_a_token_other_than_an_operators_does_not_sign_in(http: TestClient) -> None:
    refused = http.post(
        "/codec/login", content="token=t-agent", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    assert http.post("/codec/decode", json=plain_body(EMAIL)).status_code == 401
