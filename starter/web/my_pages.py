"""The customer pages (/my): a signed-in customer's own orders, their tracking, returns with a label, and the
address while it may still change.

Each page reads and acts through the same functions as the JSON routes (`summary_or_404`, `search_orders`,
`request_return`, `change_address`), so a customer is held to the same rules here: another customer's order is a
404 page that shows nothing, and the order's refusal of an action is shown on the order's page, in place.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from domain.models import Address
from starter.api import orders, service
from starter.api.deps import Services
from starter.api.orders import Svc
from starter.web.my_view import ADDRESS_FIELDS, OrderView, carrier_name, listed, order_view
from starter.web.portals import MY
from starter.web.return_label import label_svg
from starter.web.session import PageRefused, PageUser, PostedForm, form_user, page_user
from starter.web.templating import flash, render
from store.inventory import InventoryRepository
from workflows.returns import RETURN_CARRIER

router = APIRouter()
Customer = Annotated[PageUser, page_user(MY, "customer")]
CustomerForm = Annotated[PostedForm, form_user(MY, "customer")]
ORDERS_SHOWN = 100


def store_names(svc: Svc) -> dict[str, str]:
    """Stores a customer may bring a return to: location id -> the store's name (the only part they see)."""
    return {loc.id: loc.name for loc in InventoryRepository(svc.engine).locations() if loc.kind == "store"}


Stores = Annotated[dict[str, str], Depends(store_names)]


def _view(svc: Services, user: PageUser, order_id: str, stores: dict[str, str]) -> OrderView:
    try:
        summary = orders.summary_or_404(svc, user.principal, order_id)
    except HTTPException as err:
        # the same answer for an order that does not exist and one that is another customer's
        raise PageRefused(MY, 404, f"There is no order {order_id} among your orders.") from err
    return order_view(summary, stores)


def _order_page(
    request: Request,
    stores: dict[str, str],
    view: OrderView,
    status_code: int = 200,
    refusal: str | None = None,
    address_form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The order's page; after a refused change, with the refusal at the top and the address as it was typed."""
    return render(
        request,
        "my/order.html",
        status_code=status_code,
        order=view,
        stores=sorted(stores.values()),
        refusal=refusal,
        address_form=address_form or {},
    )


@router.get(MY.home)
def home(user: Customer) -> Response:
    return RedirectResponse("/my/orders", status_code=303)


@router.get("/my/orders", response_class=HTMLResponse)
def my_orders(request: Request, user: Customer, svc: Svc) -> HTMLResponse:
    found = orders.search_orders(svc, limit=ORDERS_SHOWN, who=user.principal)
    return render(request, "my/orders.html", orders=[listed(item) for item in found])


@router.get("/my/orders/{order_id}", response_class=HTMLResponse)
def my_order(order_id: str, request: Request, user: Customer, svc: Svc, stores: Stores) -> HTMLResponse:
    return _order_page(request, stores, _view(svc, user, order_id, stores))


def _return_lines(posted: PostedForm) -> list[dict[str, object]] | str:
    """The lines chosen (a quantity above 0 per sku), or why the form cannot be a return."""
    chosen: list[dict[str, object]] = []
    for sku, quantity in zip(posted.texts("sku"), posted.texts("quantity"), strict=False):
        if not quantity:
            continue
        if not quantity.isdigit():
            return f"{sku}: the quantity is a whole number"
        if int(quantity) > 0:
            chosen.append({"sku": sku, "quantity": int(quantity)})
    return chosen or "Choose at least one item and how many of it to return."


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in err.errors())


@router.post("/my/orders/{order_id}/returns", response_class=HTMLResponse)
async def start_return(order_id: str, request: Request, posted: CustomerForm, svc: Svc, stores: Stores) -> Response:
    view = _view(svc, posted.user, order_id, stores)
    lines = _return_lines(posted)
    if isinstance(lines, str):
        return _order_page(request, stores, view, 422, lines)
    method = posted.text("method") or "mail"
    location_id = None
    if method == "in_store":
        by_name = {name: loc for loc, name in stores.items()}
        location_id = by_name.get(posted.text("store"))
        if location_id is None:
            return _order_page(request, stores, view, 422, "Choose the store you will bring the items to.")
    try:
        body = orders.ReturnBody.model_validate(
            {"lines": lines, "reason": posted.text("reason"), "method": method, "location_id": location_id}
        )
    except ValidationError as err:
        return _order_page(request, stores, view, 422, f"The return could not be started: {_problems(err)}")
    try:
        result = await orders.request_return(order_id, body, svc, posted.user.principal)
    except HTTPException as err:
        return _order_page(request, stores, view, err.status_code, str(err.detail))
    response = RedirectResponse(f"/my/orders/{order_id}/returns/{result.rma}", status_code=303)
    done = "print its label and attach it to the parcel" if result.label else "bring the items to the store"
    flash(response, request, f"Your return {result.rma} has started: {done}.", MY)
    return response


@router.get("/my/orders/{order_id}/returns/{rma}", response_class=HTMLResponse)
def my_return(order_id: str, rma: str, request: Request, user: Customer, svc: Svc, stores: Stores) -> HTMLResponse:
    view = _view(svc, user, order_id, stores)
    found = view.find_return(rma)
    if found is None:
        raise PageRefused(MY, 404, f"Order {order_id} has no return {rma}.")
    return render(request, "my/return.html", order=view, ret=found, carrier=carrier_name(RETURN_CARRIER))


@router.get("/my/orders/{order_id}/returns/{rma}/label.svg")
def my_return_label(order_id: str, rma: str, user: Customer, svc: Svc, stores: Stores) -> Response:
    """The label to print, as a file to download."""
    view = _view(svc, user, order_id, stores)
    found = view.find_return(rma)
    if found is None or found.label is None:
        raise PageRefused(MY, 404, f"Order {order_id} has no mail return {rma} with a label.")
    svg = label_svg(order_id, rma, found.label, carrier_name(RETURN_CARRIER), found.lines)
    headers = {"Content-Disposition": f'attachment; filename="{rma}-label.svg"', "Cache-Control": "no-store"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.post("/my/orders/{order_id}/address", response_class=HTMLResponse)
async def change_my_address(
    order_id: str, request: Request, posted: CustomerForm, svc: Svc, stores: Stores
) -> Response:
    view = _view(svc, posted.user, order_id, stores)
    fields = {name: posted.text(name) for name in ADDRESS_FIELDS}
    fields["country"] = fields["country"].upper()
    if not fields["line2"]:
        del fields["line2"]  # the one field a customer may leave empty
    try:
        address = Address.model_validate(fields)
        body = service.AddressBody(address=address, reason=posted.text("reason") or "changed by the customer online")
    except ValidationError as err:
        problems = f"The address could not be changed: {_problems(err)}"
        return _order_page(request, stores, view, 422, problems, fields)
    try:
        await service.change_address(order_id, body, svc, posted.user.principal)
    except HTTPException as err:
        if err.status_code == 404:
            raise PageRefused(MY, 404, f"There is no order {order_id} among your orders.") from err
        return _order_page(request, stores, view, err.status_code, str(err.detail), fields)
    response = RedirectResponse(f"/my/orders/{order_id}", status_code=303)
    flash(response, request, "Your delivery address has changed.", MY)
    return response
