"""The FastAPI application: one Temporal client and one database engine for its lifetime.

Its OpenAPI document (`/openapi.json`) names every status code a route can answer: the answers every
authenticated route shares are declared here, a route adds its own (404, 409, 503, 504 ...) with `responses=`,
and every error answer has the one body `{"detail": ...}`.
"""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrations.tax import RulesEngine
from starter.api import (
    accounts,
    b2b_orders,
    catalog,
    checkout_route,
    codec,
    documents,
    health,
    intake,
    inventory,
    operations,
    orders,
    service,
    subscriptions,
    webhooks,
)
from starter.api.auth import parse_partner_secrets, parse_tokens
from starter.api.deps import Services
from starter.partners import payment_gateway
from starter.settings import Settings
from starter.temporal import connect
from starter.web.pages import mount_pages
from store.accounts import AccountStore
from store.db import make_engine
from store.order_queries import OrderQueries


class FieldError(BaseModel):
    """One reason a body, path or query was invalid, as the validation names it."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every refusal: `detail` says why, in words a person can act on, or field by field for an invalid request.
    A refused checkout also carries the order's fields (`order_id`, `status` ...)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[FieldError]


class Unavailable(BaseModel):
    status: str
    missing: list[str]


ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}

# What every route behind a bearer token may answer, whatever it does.
log = structlog.get_logger()

CALLER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no bearer token, or one this service does not know"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    422: {"model": ErrorBody, "description": "an invalid request, with the reason (field by field for a body)"},
    503: {"model": ErrorBody, "description": "a service it needs cannot be reached now (nothing was changed)"},
}
# How long a caller is asked to wait before trying again when the database is away.
DATABASE_RETRY_AFTER_S = 5
# Only a route that reads a body answers this one.
UNREADABLE_BODY: dict[str, Any] = {
    "description": "the body is not JSON",
    "content": {"application/json": {"schema": ERROR_SCHEMA}},
}


class BodyLimit:
    """Refuse a request body above `limit` bytes with 413 before any route reads it: by its Content-Length, or,
    sent in chunks, once more has arrived. The body (at most `limit` bytes) is read here and handed on whole,
    so a route never sees part of one. Nothing is started or written for a refused request."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            await self._too_large(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body arrived
            body += message.get("body", b"")
            if len(body) > self._limit:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        handed: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return handed.pop() if handed else await receive()

        await self._app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = f'{{"detail": "the body is larger than {self._limit} bytes"}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


HEALTH_ANSWERS: dict[int | str, dict[str, Any]] = {
    503: {"model": Unavailable, "description": "Temporal or the database cannot be reached: `missing` says which"}
}


def create_app(settings: Settings) -> FastAPI:
    tokens = parse_tokens(settings.tokens, settings.production)
    partner_secrets = parse_partner_secrets(settings.partner_secrets)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url())
        client = await connect(settings.temporal_target, settings.temporal_namespace, settings)
        # the tax adapter: the built-in rules engine, or an external tax service implementing TaxCalculator
        tax = RulesEngine()
        app.state.services = Services(
            settings=settings,
            client=client,
            engine=engine,
            queries=OrderQueries(engine, tax=tax),
            gateway=payment_gateway(settings, engine),
            accounts=AccountStore(engine),
            tax=tax,
        )
        yield
        engine.dispose()

    app = FastAPI(title="Order management system", version="0.1.0", lifespan=lifespan)
    app.state.tokens = tokens
    app.state.partner_secrets = partner_secrets
    app.include_router(health.router, responses=HEALTH_ANSWERS)
    for router in (
        checkout_route.router,
        orders.router,
        b2b_orders.router,
        webhooks.router,
        inventory.router,
        catalog.router,
        service.router,
        operations.router,
    ):
        app.include_router(router, responses=CALLER_ERRORS)
    app.include_router(codec.router, responses=CALLER_ERRORS)
    app.include_router(subscriptions.router, responses=CALLER_ERRORS)
    app.include_router(documents.router, responses=CALLER_ERRORS)
    app.include_router(intake.router, responses=CALLER_ERRORS)
    app.include_router(accounts.router, responses=CALLER_ERRORS)
    mount_pages(app, settings)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = api_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(OperationalError)
    async def database_away(request: Request, exc: OperationalError) -> Response:
        # the database is down or unreachable: the caller may try again, and nothing was written by a refused call
        log.error("database unreachable", path=request.url.path, error=str(exc.orig))
        return JSONResponse(
            {"detail": "the database cannot be reached now: nothing was changed; try again shortly"},
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; a path has one route per method here
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(app, request.url.path))}
        return await http_exception_handler(request, exc)

    return app


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the OpenAPI document declares on the path (a template such as /v1/orders/{order_id} matches)."""
    methods: set[str] = set()
    for template, path_item in app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in path_item}
    return sorted(methods)


def api_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, completed with what it leaves out: 400 and 413 on the routes that read a body,
    the error body on every error answer a route declares by description only, and the form a decimal string takes."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            answers: dict[str, Any] = operation.setdefault("responses", {})
            if "requestBody" in operation:
                answers.setdefault("400", UNREADABLE_BODY)
                answers.setdefault("413", {"description": "the body is larger than OMS_MAX_BODY_BYTES"})
            for code, answer in answers.items():
                if code[0] in "45" and "content" not in answer:
                    answer["content"] = {"application/json": {"schema": ERROR_SCHEMA}}
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for name in set(schemas) - _reached(document.get("paths", {}), schemas):
        del schemas[name]  # a model only a hidden field holds (an intake's source): no body carries it
    for schema in schemas.values():
        _decimal_strings(schema)
    return document


_SCHEMA_REF = re.compile(r'"#/components/schemas/([^"]+)"')


def _reached(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The schemas the operations name, and those these name in turn."""
    reached: set[str] = set()
    frontier = set(_SCHEMA_REF.findall(json.dumps(paths)))
    while frontier:
        reached |= frontier
        frontier = set(_SCHEMA_REF.findall(json.dumps([schemas.get(name) for name in frontier]))) - reached
    return reached


def _decimal_strings(schema: Any) -> None:
    """A decimal field reads a number or a string; pydantic leaves the string unconstrained, though only a decimal
    within the field's bounds is taken. The string gets the pattern of those bounds."""
    if isinstance(schema, list):
        for item in schema:
            _decimal_strings(item)
        return
    if not isinstance(schema, dict):
        return
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        numbers = [b for b in branches if isinstance(b, dict) and b.get("type") == "number"]
        strings = [b for b in branches if isinstance(b, dict) and b == {"type": "string"}]
        if numbers and strings:
            strings[0]["pattern"] = decimal_pattern(numbers[0])
    for value in schema.values():
        _decimal_strings(value)


def decimal_pattern(number: dict[str, Any]) -> str:
    """Decimal strings within a number schema's bounds, as a pattern: plain digits with at most four decimals,
    fewer integer digits than the maximum has (so always below it), no sign when there is a lower bound (always 0
    here) and a non-zero digit when zero itself is excluded. A subset of what is taken, never more."""
    maximum = number.get("maximum")
    digits = max(len(str(int(Decimal(str(maximum))))) - 1, 1) if maximum is not None else 15
    whole = f"[1-9][0-9]{{0,{digits - 1}}}"
    fraction = r"(\.[0-9]{1,4})?"
    if "exclusiveMinimum" in number:
        return f"^({whole}{fraction}|0\\.[0-9]{{0,3}}[1-9])$"
    sign = "" if "minimum" in number else "-?"
    return f"^{sign}(0|{whole}){fraction}$"
