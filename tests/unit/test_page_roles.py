"""Every HTML page and form, for every kind of caller signed in to it, against the answer that caller gets.

The app is the real one with Temporal, the read model, the console's queries, the gateway and the catalog stood in
for. Each caller holds a session of the portal the page belongs to, made for its token directly (as if it signed
in while its token had a role the portal takes), so the role check of the page itself is what is tested; forms are
posted with that session's CSRF token. A page route without a row fails `test_every_page_route_has_a_row`, and a
caller refused (403) or sent to sign in must not have moved anything.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from starter.web.portals import CONSOLE, MY, Portal, is_page_path
from tests.pages import ADDRESS_FORM, CHECKOUT_FORM, Services, csrf_of, page_app, with_session

TOKEN_OF = {
    "storefront": "t-store",
    "agent": "t-agent",
    "customer own": "t-c1",
    "customer other": "t-c2",
    "partner": "t-partner",
    "operator": "t-operator",
}
CALLERS = ("none", *TOKEN_OF)
SIGN_IN = 303  # sent to the portal's sign-in page
LINE = {"sku": "LEGO-76419", "quantity": "1"}


def only(allowed: dict[str, int]) -> dict[str, int]:
    """Sent to sign in without a session, `allowed` for those named, 403 for every other role."""
    return {"none": SIGN_IN, **dict.fromkeys(TOKEN_OF, 403), **allowed}


STAFF_PAGE = only({"agent": 200, "operator": 200})
AGENT_FORM = only({"agent": 303})
STAFF_FORM = only({"agent": 303, "operator": 303})
EVERYONE = dict.fromkeys(CALLERS, 200)
OWN_ORDER = only({"customer own": 200, "customer other": 404})
OWN_ORDER_FORM = only({"customer own": 303, "customer other": 404})


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    portal: Portal
    data: dict[str, Any] | None = None


def form(path: str, **data: Any) -> Call:
    return Call("POST", path, CONSOLE, data)


# (method, route path) -> the call made, and each caller's answer
MATRIX: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("GET", "/console/login"): (Call("GET", "/console/login", CONSOLE), EVERYONE),
    # signing in with the caller's own token: only the portal's roles get a session
    ("POST", "/console/login"): (
        Call("POST", "/console/login", CONSOLE, {"token": "own"}),
        {**dict.fromkeys(CALLERS, 401), "agent": 303, "operator": 303},
    ),
    # whoever holds a session may end it; without one, there is nothing to end but the sign-in page
    ("POST", "/console/logout"): (form("/console/logout"), dict.fromkeys(CALLERS, 303)),
    ("GET", "/my/login"): (Call("GET", "/my/login", MY), EVERYONE),
    ("POST", "/my/login"): (
        Call("POST", "/my/login", MY, {"token": "own"}),
        {**dict.fromkeys(CALLERS, 401), "customer own": 303, "customer other": 303},
    ),
    ("POST", "/my/logout"): (Call("POST", "/my/logout", MY, {}), dict.fromkeys(CALLERS, 303)),
    ("GET", "/console"): (Call("GET", "/console", CONSOLE), STAFF_PAGE),
    ("GET", "/console/orders/{order_id}"): (Call("GET", "/console/orders/W-1", CONSOLE), STAFF_PAGE),
    ("GET", "/console/customers/{customer_id}"): (Call("GET", "/console/customers/C-1", CONSOLE), STAFF_PAGE),
    ("GET", "/console/place"): (Call("GET", "/console/place?customer_id=C-1", CONSOLE), only({"agent": 200})),
    ("POST", "/console/place"): (form("/console/place", **CHECKOUT_FORM), AGENT_FORM),
    ("POST", "/console/orders/{order_id}/cancel"): (
        form("/console/orders/W-1/cancel", everything="yes", reason="asked"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/return"): (
        form("/console/orders/W-1/return", **LINE, reason="too small", method="mail"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/exchange"): (
        form("/console/orders/W-1/exchange", **LINE, replacement_sku="LEGO-76420", reason="size"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/appeasement"): (
        form("/console/orders/W-1/appeasement", amount="500", reason="late"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/reship"): (
        form("/console/orders/W-1/reship", **LINE, reason="lost"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/address"): (
        form("/console/orders/W-1/address", **ADDRESS_FORM, reason="moved"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/review"): (
        form("/console/orders/W-1/review", decision="approve", reason="known customer"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/pickup"): (
        form("/console/orders/W-1/pickup", fulfillment_order_id="W-1-F1"),
        AGENT_FORM,
    ),
    ("POST", "/console/orders/{order_id}/retry"): (
        form("/console/orders/W-1/retry", reason="the gateway is back"),
        STAFF_FORM,
    ),
    # agents work one order at a time; figures across every order are an operator's
    ("GET", "/console/insights"): (Call("GET", "/console/insights", CONSOLE), only({"operator": 200})),
    # the customer pages: W-1 is C-1's, so C-2 is told there is no such order (or return)
    ("GET", "/my"): (Call("GET", "/my", MY), only({"customer own": 303, "customer other": 303})),
    ("GET", "/my/orders"): (Call("GET", "/my/orders", MY), only({"customer own": 200, "customer other": 200})),
    ("GET", "/my/orders/{order_id}"): (Call("GET", "/my/orders/W-1", MY), OWN_ORDER),
    ("GET", "/my/orders/{order_id}/returns/{rma}"): (Call("GET", "/my/orders/W-1/returns/RMA-W-1-1", MY), OWN_ORDER),
    ("GET", "/my/orders/{order_id}/returns/{rma}/label.svg"): (
        Call("GET", "/my/orders/W-1/returns/RMA-W-1-1/label.svg", MY),
        OWN_ORDER,
    ),
    ("POST", "/my/orders/{order_id}/returns"): (
        Call("POST", "/my/orders/W-1/returns", MY, {**LINE, "reason": "too small", "method": "mail"}),
        OWN_ORDER_FORM,
    ),
    ("POST", "/my/orders/{order_id}/address"): (
        Call("POST", "/my/orders/W-1/address", MY, {**ADDRESS_FORM, "reason": "moved"}),
        OWN_ORDER_FORM,
    ),
}


def page_route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every page route the app serves (the static files are a mount, not a route)."""
    keys = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path and is_page_path(route.path):
                keys.add((method, route.path))
    return keys


@pytest.fixture
def served() -> tuple[FastAPI, Services]:
    return page_app()


@pytest.fixture
def http(served: tuple[FastAPI, Services]) -> Iterator[TestClient]:
    # not entered as a context: the app's lifespan would connect to Temporal and PostgreSQL
    yield TestClient(served[0])


def test_every_page_route_has_a_row(served: tuple[FastAPI, Services]) -> None:
    # given the app as it is served
    # when its page routes are walked
    pages = page_route_keys(served[0])
    # then each one has a row, and no row is for a page that is gone
    assert pages - MATRIX.keys() == set(), "page routes without a row in MATRIX"
    assert MATRIX.keys() - pages == set(), "rows in MATRIX for pages the app no longer serves"


def test_every_caller_has_a_cell_in_every_row() -> None:
    for key, (_, answers) in MATRIX.items():
        assert set(answers) == set(CALLERS), key


CELLS = [pytest.param(key, caller, id=f"{key[0]} {key[1]} as {caller}") for key in MATRIX for caller in CALLERS]


@pytest.mark.parametrize(("key", "caller"), CELLS)
def test_each_caller_gets_its_answer_and_a_refused_one_moves_nothing(
    http: TestClient, served: tuple[FastAPI, Services], key: tuple[str, str], caller: str
) -> None:
    # given a caller with a session of the page's portal (none: no session), and the answer it should get
    app, services = served
    call, answers = MATRIX[key]
    expected = answers[caller]
    csrf = with_session(http, app, call.portal, TOKEN_OF[caller]) if caller != "none" else ""
    data = dict(call.data or {})
    if data.get("token") == "own":
        # the sign-in form: the caller's own token, with the CSRF token of the visitor's sign-in page
        http.cookies.clear()
        page = http.get(call.portal.login_path)
        data = {"token": TOKEN_OF.get(caller, ""), "csrf_token": csrf_of(page.text)}
    elif call.method == "POST":
        data["csrf_token"] = csrf
    # when it asks for the page or posts the form
    response = http.request(call.method, call.path, data=data or None, follow_redirects=False)
    # then that is the answer
    assert response.status_code == expected, response.text
    location = response.headers.get("location", "")
    if caller == "none" and expected == SIGN_IN:
        assert location.startswith(call.portal.login_path)
    if expected in (403, 401, 404) or (caller == "none" and location.startswith(call.portal.login_path)):
        # and nothing reached an order's workflow, the checkout or the gateway (404: another customer's order)
        assert services.client.updates == []
        assert services.client.signals == []
        assert services.client.checkouts == []
        assert services.gateway.saved == []
    elif call.method == "POST" and "/orders/" in call.path:
        # an allowed action did reach the order: the refusals above are the caller's, not the form's
        assert services.client.updates or services.client.signals
