"""Invoices and credit memos over HTTP: an order's list, and each one as HTML or PDF."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from starter.api import document_render
from starter.api.auth import Principal, require
from starter.api.deps import Services
from starter.api.orders import Svc, summary_or_404
from store.document_queries import DocumentQueries, DocumentReader

router = APIRouter(tags=["documents"])

NUMBER = Path(min_length=1, max_length=48, pattern=r"^[A-Z]{2,8}-[0-9]{4}-[0-9]{6}$")
ORDER_ID = Path(min_length=1, max_length=64)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such document or order (or, to a customer, not theirs)"}
}


def document_reader(request: Request) -> DocumentReader:
    """The documents on the API's database."""
    return DocumentQueries(request.app.state.services.engine)


Documents = Annotated[DocumentReader, Depends(document_reader)]
READERS = require("agent", "operator", "customer")


@router.get("/v1/orders/{order_id}/documents", responses=NOT_FOUND)
async def order_documents(
    s: Svc, reader: Documents, order_id: Annotated[str, ORDER_ID], who: Principal = READERS
) -> list[dict[str, Any]]:
    """The order's invoices and credit memos, oldest first, each as issued (its number, seller, buyer, lines, tax
    per rate and totals)."""
    await asyncio.to_thread(summary_or_404, s, who, order_id)
    return await asyncio.to_thread(reader.of_order, order_id)


async def _document(s: Services, reader: DocumentReader, who: Principal, number: str) -> dict[str, Any]:
    doc = await asyncio.to_thread(reader.get, number)
    # a customer asking for another customer's document is told there is none
    if doc is None or not who.may_see_customer(str(doc["buyer"]["customer"]["id"])):
        raise HTTPException(404, f"no document {number}")
    return doc


@router.get(
    "/v1/documents/{number}.html",
    # a plain Response class, so only the 200 is HTML: every refusal stays the JSON ErrorBody
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"text/html": {}}, "description": "the document as HTML"}},
)
async def document_html(
    s: Svc, reader: Documents, number: Annotated[str, NUMBER], who: Principal = READERS
) -> HTMLResponse:
    return HTMLResponse(document_render.html(await _document(s, reader, who, number)))


@router.get(
    "/v1/documents/{number}.pdf",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"application/pdf": {}}, "description": "the document as PDF"}},
)
async def document_pdf(s: Svc, reader: Documents, number: Annotated[str, NUMBER], who: Principal = READERS) -> Response:
    body = await asyncio.to_thread(document_render.pdf, await _document(s, reader, who, number))
    return Response(
        body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{number}.pdf"'}
    )
