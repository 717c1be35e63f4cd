"""The agent console's pages to read: the order search, the order 360 view and the customer record."""

import asyncio
from datetime import date
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from domain.models import Channel
from domain.order_status import STATUSES as ORDER_STATUSES
from integrations.payments import GatewayUnavailable
from starter.api.deps import Services
from starter.api.orders import services, summary_or_404
from starter.api.payments import PaymentTransaction, order_transactions
from starter.web.console_forms import ActionRefusal, action_forms
from starter.web.portals import CONSOLE
from starter.web.session import PageRefused, PageUser, page_user
from starter.web.templating import render
from store.console_queries import ConsoleQueries, OrderFilters
from store.read_model import OrderSummary

router = APIRouter()
# a search names any status an order reaches once placed
STATUSES = tuple(status for status in ORDER_STATUSES if status != "pending")
CHANNELS: tuple[str, ...] = get_args(Channel)
Svc = Annotated[Services, Depends(services)]
Staff = Annotated[PageUser, page_user(CONSOLE)]


def console_queries(request: Request) -> ConsoleQueries:
    """The console's own queries on the API's database (a test stands in for it)."""
    return ConsoleQueries(request.app.state.services.engine)


Queries = Annotated[ConsoleQueries, Depends(console_queries)]


def _day(value: str | None, field: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{field} is not a date (YYYY-MM-DD): {value}")
        return None


@router.get("/console", response_class=HTMLResponse)
async def search(
    request: Request,
    user: Staff,
    queries: Queries,
    customer_id: str = "",
    email: str = "",
    status: str = "",
    channel: str = "",
    placed_from: str = "",
    placed_to: str = "",
    attention: str = "",
) -> HTMLResponse:
    """Orders by customer, e-mail, status, channel, the days they were placed and whether they need a person."""
    problems: list[str] = []
    filters = OrderFilters(
        customer_id=customer_id.strip() or None,
        email=email.strip() or None,
        status=status if status in STATUSES else None,
        channel=channel if channel in CHANNELS else None,
        placed_from=_day(placed_from.strip(), "Placed from", problems),
        placed_to=_day(placed_to.strip(), "Placed to", problems),
        attention={"yes": True, "no": False}.get(attention),
    )
    found = [] if problems else await asyncio.to_thread(queries.search, filters)
    return render(
        request,
        "console/search.html",
        status_code=422 if problems else 200,
        refusal=" ".join(problems) or None,
        query={
            "customer_id": customer_id,
            "email": email,
            "status": status,
            "channel": channel,
            "placed_from": placed_from,
            "placed_to": placed_to,
            "attention": attention,
        },
        statuses=STATUSES,
        channels=CHANNELS,
        orders=found,
    )


def order_or_404(svc: Services, user: PageUser, order_id: str) -> OrderSummary:
    try:
        return summary_or_404(svc, user.principal, order_id)
    except HTTPException as err:
        raise PageRefused(CONSOLE, err.status_code, f"There is no order {order_id}.") from err


def _transactions(svc: Services, order_id: str) -> tuple[list[PaymentTransaction], str | None]:
    try:
        return order_transactions(svc.gateway, order_id), None
    except GatewayUnavailable as err:
        return [], f"The payment gateway's ledger cannot be read now: {err}"


def temporal_ui_link(svc: Services, summary: OrderSummary) -> str:
    settings = svc.settings
    return (
        f"http://127.0.0.1:{settings.ui_port}/namespaces/{settings.temporal_namespace}/workflows/{summary.workflow_id}"
    )


async def order_page(
    request: Request,
    svc: Services,
    user: PageUser,
    order_id: str,
    status_code: int = 200,
    refusal: ActionRefusal | None = None,
) -> HTMLResponse:
    """The order 360 view, with a refused action's reason shown at its form when there is one."""
    summary = await asyncio.to_thread(order_or_404, svc, user, order_id)
    transactions, ledger_problem = await asyncio.to_thread(_transactions, svc, order_id)
    forms = action_forms(summary, user.role)
    context: dict[str, Any] = {
        "order": summary,
        "transactions": transactions,
        "ledger_problem": ledger_problem,
        "exchanges": [entry for entry in summary.timeline if entry.type.startswith("Exchange")],
        "temporal_ui": temporal_ui_link(svc, summary),
        "forms": forms,
        # the retry is offered with the attention it answers, not among the actions
        "actions_shown": any(shown for action, shown in forms.items() if action != "retry"),
        "failed": refusal,
    }
    # the reason is shown once: at the form it answers (the top of the page links there), or at the top when the
    # order no longer offers that form
    at_top = refusal.reason if refusal and not forms.get(refusal.action) else None
    return render(request, "console/order.html", status_code=status_code, refusal=at_top, **context)


@router.get("/console/orders/{order_id}", response_class=HTMLResponse)
async def order_360(request: Request, order_id: str, svc: Svc, user: Staff) -> HTMLResponse:
    """Everything about one order: lines, fulfillment, shipments, payments, returns, timeline, attention."""
    return await order_page(request, svc, user, order_id)


@router.get("/console/customers/{customer_id}", response_class=HTMLResponse)
async def customer(request: Request, customer_id: str, user: Staff, queries: Queries) -> HTMLResponse:
    """The customer's profile, every order of theirs, and what they spent and got back."""
    record = await asyncio.to_thread(queries.customer, customer_id)
    if record is None:
        raise PageRefused(CONSOLE, 404, f"No order names the customer {customer_id}.")
    return render(request, "console/customer.html", customer=record)
