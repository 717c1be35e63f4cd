"""A webhook subscriber for the relay's tests: a real HTTP server on a free local port that records each request
and answers as the test tells it (2xx, 500, or not until released)."""

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int  # what the subscriber answered

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    @property
    def key(self) -> tuple[str, int]:
        return self.body["order_id"], self.body["sequence"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Subscriber:
    # given a request's path and body: the status to answer (default 200)
    answer: Callable[[str, dict[str, Any]], int] = lambda path, body: 200
    # given a request's body: whether to hold it until `release` is set
    hold: Callable[[dict[str, Any]], bool] = lambda body: False
    received: list[Received] = field(default_factory=list)
    arrived: list[dict[str, Any]] = field(default_factory=list)  # every body, as it arrives (held or not)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = field(default_factory=free_port)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self, path: str = "/hook") -> list[Received]:
        """The requests at `path` the subscriber took (answered 2xx), in the order they arrived."""
        return [r for r in self.received if r.path == path and 200 <= r.status < 300]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        arrived = time.monotonic()
        self.arrived.append(body)
        if self.hold(body):
            await self.release.wait()
        status = self.answer(scope["path"], body)
        self.received.append(Received(arrived, scope["path"], headers, raw, status))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def __aenter__(self) -> "Subscriber":
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):  # uvicorn says it has started by a flag only
            if self._server.started:
                return self
            await asyncio.sleep(0.01)
        raise RuntimeError("the subscriber did not start")

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        self._server.should_exit = True
        await self._task
