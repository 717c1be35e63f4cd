"""The order 360 view's service actions as forms: each calls the JSON route's own function, so the rules, the
actor recorded and the refusals are the API's. Done, the browser is sent back to the order with what was done;
refused, the order is shown again with the reason at the form (409 from the order, 422 for a field).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from domain.models import Address, SkuQuantity
from starter.api import operations, orders, service
from starter.api.catalog import Products
from starter.api.deps import Services
from starter.web.console_forms import ActionRefusal, FormProblem, detail_in_words, in_words, lines_of, optional
from starter.web.console_pages import order_page
from starter.web.portals import CONSOLE
from starter.web.session import PageRefused, PostedForm, form_user
from starter.web.templating import flash

router = APIRouter()
Svc = Annotated[Services, Depends(orders.services)]
# who may do what, as the JSON routes allow it
Agent = Annotated[PostedForm, form_user(CONSOLE, "agent")]
Staff = Annotated[PostedForm, form_user(CONSOLE, "agent", "operator")]


async def _act(
    request: Request, svc: Services, posted: PostedForm, order_id: str, action: str, run: Callable[[], Awaitable[str]]
) -> Response:
    """Run the action; its success becomes the next page's message, its refusal this page's, at its form."""
    try:
        done = await run()
    except HTTPException as err:
        if err.status_code == 404 and not posted.text("fulfillment_order_id"):
            raise PageRefused(CONSOLE, 404, f"There is no order {order_id}.") from err
        refusal = ActionRefusal(action, detail_in_words(err.detail))
        return await order_page(request, svc, posted.user, order_id, err.status_code, refusal)
    except (ValidationError, FormProblem) as err:
        reason = in_words(err) if isinstance(err, ValidationError) else str(err)
        return await order_page(request, svc, posted.user, order_id, 422, ActionRefusal(action, reason))
    response = RedirectResponse(f"/console/orders/{order_id}", status_code=303)
    flash(response, request, done, CONSOLE)
    return response


def _units(lines: list[SkuQuantity]) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in lines)


@router.post("/console/orders/{order_id}/cancel")
async def cancel(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        everything = posted.text("everything") == "yes"
        lines = None if everything else lines_of(posted)
        if lines == []:
            raise FormProblem("Name a quantity to cancel on at least one line, or choose to cancel everything.")
        body = orders.CancelBody.model_validate({"lines": lines, "reason": posted.text("reason")})
        answer = await orders.cancel_order(order_id, body, svc, posted.user.principal)
        refused = f" Not canceled: {_units(answer.refused)} ({answer.refusal})." if answer.refused else ""
        return f"Canceled. The order is {answer.status.replace('_', ' ')}.{refused}"

    return await _act(request, svc, posted, order_id, "cancel", run)


@router.post("/console/orders/{order_id}/return")
async def start_return(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        body = orders.ReturnBody.model_validate(
            {
                "lines": lines_of(posted),
                "reason": posted.text("reason"),
                "method": posted.text("method") or "mail",
                "location_id": optional(posted, "location_id"),
            }
        )
        done = await orders.request_return(order_id, body, svc, posted.user.principal)
        label = f", label {done.label}" if done.label else ""
        return f"Return {done.return_id} started: {done.rma}{label}, back to {done.location_id}."

    return await _act(request, svc, posted, order_id, "return", run)


@router.post("/console/orders/{order_id}/exchange")
async def exchange(request: Request, order_id: str, svc: Svc, catalog: Products, posted: Agent) -> Response:
    async def run() -> str:
        body = orders.ExchangeBody.model_validate(
            {
                "returned": lines_of(posted),
                "replacement": [
                    {
                        "sku": posted.text("replacement_sku"),
                        "quantity": posted.text("replacement_quantity") or "1",
                        "unit_price": optional(posted, "unit_price"),
                        "price_reason": optional(posted, "price_reason"),
                    }
                ],
                "reason": posted.text("reason"),
                "method": posted.text("method") or "mail",
                "location_id": optional(posted, "location_id"),
            }
        )
        done = await orders.request_exchange(order_id, body, svc, catalog, posted.user.principal)
        return (
            f"Exchange {done.exchange_id} started: return {done.return_id} ({done.rma}), difference {done.difference}."
        )

    return await _act(request, svc, posted, order_id, "exchange", run)


@router.post("/console/orders/{order_id}/appeasement")
async def appeasement(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        body = orders.AppeasementBody.model_validate({"amount": posted.text("amount"), "reason": posted.text("reason")})
        done = await orders.grant_appeasement(order_id, body, svc, posted.user.principal)
        return f"Refunded {done.refunded} as an appeasement; {done.refundable_left} is left to refund."

    return await _act(request, svc, posted, order_id, "appeasement", run)


@router.post("/console/orders/{order_id}/reship")
async def reship(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        body = service.ReshipBody.model_validate({"lines": lines_of(posted), "reason": posted.text("reason")})
        done = await service.reship(order_id, body, svc, posted.user.principal)
        return f"Reshipped in {', '.join(done.fulfillment_order_ids) or 'a new fulfillment order'}."

    return await _act(request, svc, posted, order_id, "reship", run)


@router.post("/console/orders/{order_id}/address")
async def address(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        fields = ("name", "line1", "line2", "city", "postal_code", "country")
        given = {name: optional(posted, name) for name in fields}
        new = Address.model_validate({k: v for k, v in given.items() if v is not None})
        body = service.AddressBody(address=new, reason=posted.text("reason"))
        done = await service.change_address(order_id, body, svc, posted.user.principal)
        return f"The address is changed. The order is {done.status.replace('_', ' ')}."

    return await _act(request, svc, posted, order_id, "address", run)


@router.post("/console/orders/{order_id}/review")
async def review(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        decision = posted.text("decision")
        body = service.ReviewBody.model_validate({"decision": decision, "reason": posted.text("reason")})
        done = await service.review_order(order_id, body, svc, posted.user.principal)
        verdict = "Approved" if decision == "approve" else "Rejected"
        return f"{verdict}. The order is {done.status.replace('_', ' ')}."

    return await _act(request, svc, posted, order_id, "review", run)


@router.post("/console/orders/{order_id}/pickup")
async def counter_pickup(request: Request, order_id: str, svc: Svc, posted: Agent) -> Response:
    async def run() -> str:
        fulfillment_order_id = posted.text("fulfillment_order_id")
        await service.record_pickup(order_id, fulfillment_order_id, svc, posted.user.principal)
        return f"{fulfillment_order_id} is recorded as picked up at the counter."

    return await _act(request, svc, posted, order_id, "pickup", run)


@router.post("/console/orders/{order_id}/retry")
async def retry(request: Request, order_id: str, svc: Svc, posted: Staff) -> Response:
    async def run() -> str:
        body = operations.RetryBody.model_validate({"reason": posted.text("reason")})
        done = await operations.retry_order(order_id, body, svc, posted.user.principal)
        again = f" Still needs a person: {done.attention}." if done.attention else ""
        return f"Retried: {', '.join(done.retried) or 'nothing was waiting'}.{again}"

    return await _act(request, svc, posted, order_id, "retry", run)
