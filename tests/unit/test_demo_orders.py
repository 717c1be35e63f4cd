"""The demo orders `oms up` places: valid checkouts of the demo catalog, placed once, and never in the stack's way."""

import json
from pathlib import Path

import httpx

from starter.client import OmsClient
from starter.demo_orders import DEMO_ORDERS, banner_lines, demo_checkouts, place_demo_orders
from starter.settings import DEV_TOKENS, Settings
from starter.stack import Stack
from store.seed import DEMO_PRODUCTS

SETTINGS = Settings(env="development", tokens=DEV_TOKENS)


class FakeApi:
    """The API as the demo sees it: orders it already has, and every checkout posted."""

    def __init__(self, known: set[str], declined: frozenset[str] = frozenset()) -> None:
        self.known = known
        self.declined = declined
        self.posted: list[dict[str, object]] = []
        self.tokens: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tokens.add(request.headers["Authorization"])
        if request.method == "GET":
            order_id = request.url.path.rsplit("/", 1)[-1]
            if order_id in self.known:
                return httpx.Response(200, json={"order_id": order_id, "status": "delivered"})
            return httpx.Response(404, json={"detail": f"no order {order_id}"})
        body = json.loads(request.content)
        self.posted.append(body)
        self.known.add(body["order_id"])
        if body["payment"]["token"] == "tok_decline":
            return httpx.Response(402, json={"detail": "declined", "order_id": body["order_id"]})
        return httpx.Response(201, json={"order_id": body["order_id"], "status": "accepted"})


def client_of(api: FakeApi) -> OmsClient:
    return OmsClient("http://oms.test", "dev-storefront", transport=httpx.MockTransport(api))


def test_the_demo_checkouts_are_valid_orders_of_the_demo_catalog_for_several_customers_and_channels() -> None:
    # when the demo's checkouts are built (each one validated as the API validates a checkout)
    bodies = demo_checkouts()
    # then every line is a product of the demo catalog at its price
    prices = {sku: str(price) for sku, _, price, _ in DEMO_PRODUCTS}
    assert all(line["unit_price"] == prices[line["sku"]] for body in bodies for line in body["lines"])
    # and they come from several customers, one of whom reads English, through several channels
    assert len({body["customer"]["id"] for body in bodies}) >= 3
    assert "en" in {body["customer"]["locale"] for body in bodies}
    assert {"web", "app", "store", "agent"} <= {body["channel"] for body in bodies}
    # and their ids are fixed, so a restart finds them again
    assert [body["order_id"] for body in bodies] == [order[0] for order in DEMO_ORDERS]


def test_a_fresh_stack_gets_every_demo_order_and_a_restart_places_none_again() -> None:
    # given a stack with no orders
    api = FakeApi(known=set())
    # when the demo orders are placed
    placed = place_demo_orders(SETTINGS, client_of(api))
    # then each is posted once, the declined card included, with the storefront's token
    assert placed == [order[0] for order in DEMO_ORDERS]
    assert [body["order_id"] for body in api.posted] == placed
    assert api.tokens == {"Bearer dev-storefront"}
    # when the stack starts again
    again = place_demo_orders(SETTINGS, client_of(api))
    # then nothing more is posted
    assert again == []
    assert len(api.posted) == len(DEMO_ORDERS)


def test_an_api_that_cannot_be_reached_is_logged_and_never_raised() -> None:
    # given an API that does not answer
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = OmsClient("http://oms.test", "dev-storefront", transport=httpx.MockTransport(unreachable))
    # when the demo orders are placed, then nothing is placed and nothing is raised
    assert place_demo_orders(SETTINGS, client) == []


def test_no_demo_orders_when_turned_off_or_without_a_token_to_place_them() -> None:
    api = FakeApi(known=set())
    assert place_demo_orders(Settings(env="development", demo_orders=False), client_of(api)) == []
    assert place_demo_orders(Settings(env="development", tokens="t-op:operator"), client_of(api)) == []
    assert api.posted == []


def test_the_banner_says_how_to_sign_in_as_a_demo_customer() -> None:
    # given the development tokens (dev-customer is customer C-1)
    lines = "\n".join(banner_lines(SETTINGS))
    # then the banner names the customer pages' sign-in, the token and the customer
    assert "http://127.0.0.1:8000/my/login" in lines
    assert "token dev-customer" in lines and "C-1" in lines
    assert "/console/insights" in lines


def test_the_banner_shows_the_pages_before_saying_how_to_stop(tmp_path: Path) -> None:
    # given a development stack and the lines that say how to see the demo
    settings = Settings(data_dir=tmp_path)
    pages = banner_lines(settings)
    # when the banner is printed with them
    banner = Stack(settings).banner(pages).splitlines()
    # then every one comes before the closing sentence, which stays last
    closing = next(i for i, line in enumerate(banner) if line.startswith("A part that dies"))
    assert pages and all(banner.index(line) < closing for line in pages)
    assert all(not line.strip() for line in banner[closing + 1 :])
