"""Health: 200 once Temporal and the database answer, 503 naming what is missing."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from starter.api.orders import Svc

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(svc: Svc) -> JSONResponse:
    missing: list[str] = []
    try:
        await asyncio.wait_for(svc.client.service_client.check_health(), timeout=3)
    except Exception as err:
        missing.append(f"temporal: {err}")
    try:
        await asyncio.to_thread(_ping, svc)
    except Exception as err:
        missing.append(f"database: {err}")
    if missing:
        return JSONResponse({"status": "unavailable", "missing": missing}, status_code=503)
    return JSONResponse({"status": "ok"})


def _ping(svc: Svc) -> None:
    with svc.engine.connect() as conn:
        conn.execute(text("select 1"))
