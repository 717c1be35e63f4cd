"""A request body above OMS_MAX_BODY_BYTES is refused with 413 before any route reads it."""

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api.app import BodyLimit, create_app
from starter.settings import Settings


def test_the_app_refuses_a_body_above_its_limit_before_it_reaches_a_route() -> None:
    # given the API with a small body limit (not entered as a context: no Temporal, no database behind it)
    http = TestClient(create_app(Settings(max_body_bytes=1024)))
    # when a checkout of two kilobytes arrives
    response = http.post(
        "/v1/orders", content=b'{"pad": "' + b"x" * 2048 + b'"}', headers={"Content-Type": "application/json"}
    )
    # then it is refused for its size, not read as an order (which would need the services it does not have)
    assert response.status_code == 413
    assert "1024 bytes" in response.json()["detail"]
    assert "413" in create_app(Settings()).openapi()["paths"]["/v1/orders"]["post"]["responses"]


def test_a_body_sent_in_chunks_is_cut_off_once_it_passes_the_limit() -> None:
    # given a route that would store whatever it read, behind the limit
    stored: list[bytes] = []
    inner = FastAPI()

    @inner.post("/upload")
    async def upload(body: dict[str, str]) -> dict[str, str]:
        stored.append(str(body).encode())
        return {"status": "stored"}

    limited = BodyLimit(inner, limit=100)

    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(10):
            yield b"x" * 50
        yield b'"}'

    # when a body without a Content-Length streams past the limit
    response = TestClient(limited).post("/upload", content=chunks(), headers={"Content-Type": "application/json"})
    # then it is refused and the route stored nothing
    assert response.status_code == 413 and stored == []
    # and a small one still gets through
    assert TestClient(limited).post("/upload", json={"a": "b"}).json() == {"status": "stored"}
