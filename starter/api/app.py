"""The FastAPI application: one Temporal client and one database engine for its lifetime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from starter.api import health, inventory, operations, orders, service, webhooks
from starter.api.auth import parse_tokens
from starter.api.deps import Services
from starter.settings import Settings
from starter.temporal import connect
from store.db import make_engine
from store.read_model import OrderQueries


def create_app(settings: Settings) -> FastAPI:
    tokens = parse_tokens(settings.tokens, settings.production)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url())
        client = await connect(settings.temporal_target, settings.temporal_namespace)
        app.state.services = Services(settings=settings, client=client, engine=engine, queries=OrderQueries(engine))
        yield
        engine.dispose()

    app = FastAPI(title="Order management system", version="0.1.0", lifespan=lifespan)
    app.state.tokens = tokens
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(webhooks.router)
    app.include_router(inventory.router)
    app.include_router(service.router)
    app.include_router(operations.router)
    return app
