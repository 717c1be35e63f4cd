"""The catalog over HTTP, with the database stood in for: who may read and set a product, what a valid one is."""

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import catalog
from starter.api.auth import parse_tokens
from store.catalog import Product, ProductDetails
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_CUSTOMER_1,
    AS_OPERATOR,
    AS_PARTNER,
    AS_STOREFRONT,
    TOKENS,
)


@dataclass
class FakeCatalog:
    """The catalog in memory, as the routes use it."""

    known: dict[str, Product] = field(default_factory=dict)

    def get(self, sku: str) -> Product | None:
        return self.known.get(sku)

    def products(self, skus: Collection[str]) -> dict[str, Product]:
        return {sku: self.known[sku] for sku in skus if sku in self.known}

    def unknown(self, skus: Sequence[str]) -> list[str]:
        return [sku for sku in skus if sku not in self.known]

    def put(self, sku: str, details: ProductDetails) -> Product:
        self.known[sku] = Product(sku=sku, **details.model_dump())
        return self.known[sku]


def product(sku: str, tax_class: str = "standard", name: str | None = None, **prices: str) -> Product:
    """A catalog product priced as given, e.g. `product("TEA-1", JPY="2400")`."""
    return Product.model_validate(
        {"sku": sku, "name": name or sku, "prices": prices or {"JPY": "1000"}, "tax_class": tax_class}
    )


def catalog_of(*products: Product) -> FakeCatalog:
    return FakeCatalog({p.sku: p for p in products})


@pytest.fixture
def products() -> FakeCatalog:
    return catalog_of(product("TEA-MATCHA-100", "reduced", "Uji matcha 100 g", JPY="2400"))


@pytest.fixture
def http(products: FakeCatalog) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(catalog.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.dependency_overrides[catalog.product_catalog] = lambda: products
    with TestClient(app) as client:
        yield client


MUG: dict[str, Any] = {
    "name": "Engraved ceramic mug",
    "prices": {"JPY": "3200", "USD": "21.50"},
    "tax_class": "standard",
}


@pytest.mark.parametrize("headers", [AS_STOREFRONT, AS_AGENT, AS_CUSTOMER_1, AS_PARTNER, AS_OPERATOR])
def test_any_role_reads_a_product_with_its_prices_and_tax_class(http: TestClient, headers: dict[str, str]) -> None:
    # when anyone with a valid token asks for a product the catalog has
    response = http.get("/v1/products/TEA-MATCHA-100", headers=headers)
    # then they see its name, its yen price as a decimal string and its tax class
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sku": "TEA-MATCHA-100",
        "name": "Uji matcha 100 g",
        "prices": {"JPY": "2400"},
        "tax_class": "reduced",
        "edited_at": None,
    }


def test_an_unknown_sku_is_404_and_no_token_is_401(http: TestClient) -> None:
    # when a product the catalog does not have is asked for, and one without a token
    missing = http.get("/v1/products/NO-SUCH-SKU", headers=AS_AGENT)
    anonymous = http.get("/v1/products/TEA-MATCHA-100")
    # then the first is not found, naming the sku, and the second needs a token
    assert missing.status_code == 404 and "NO-SUCH-SKU" in missing.json()["detail"]
    assert anonymous.status_code == 401


def test_an_operator_sets_a_product_and_everyone_then_reads_it(http: TestClient, products: FakeCatalog) -> None:
    # when an operator sets a new product with a yen and a dollar price, "3200" and "21.50"
    response = http.put("/v1/products/MUG-ENGRAVED", json=MUG, headers=AS_OPERATOR)
    # then the product comes back as set, and a storefront reads the same
    assert response.status_code == 200, response.text
    expected = {"sku": "MUG-ENGRAVED", **MUG}
    assert {k: response.json()[k] for k in expected} == expected
    read = http.get("/v1/products/MUG-ENGRAVED", headers=AS_STOREFRONT).json()
    assert {k: read[k] for k in expected} == expected
    # when the operator sets it again with a new yen price written with zero decimals, and no dollar price
    again = http.put("/v1/products/MUG-ENGRAVED", json={**MUG, "prices": {"JPY": "3500.00"}}, headers=AS_OPERATOR)
    # then the product is replaced: one price, in the yen's own form
    assert again.status_code == 200, again.text
    assert http.get("/v1/products/MUG-ENGRAVED", headers=AS_AGENT).json()["prices"] == {"JPY": "3500"}


@pytest.mark.parametrize("headers", [AS_STOREFRONT, AS_AGENT, AS_CUSTOMER_1, AS_PARTNER])
def test_only_an_operator_sets_a_product(http: TestClient, products: FakeCatalog, headers: dict[str, str]) -> None:
    # when anyone but an operator tries to set a price
    response = http.put("/v1/products/TEA-MATCHA-100", json={**MUG, "prices": {"JPY": "1"}}, headers=headers)
    # then they are refused and the price stays
    assert response.status_code == 403
    assert http.get("/v1/products/TEA-MATCHA-100", headers=AS_AGENT).json()["prices"] == {"JPY": "2400"}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({**MUG, "prices": {"ABC": "100"}}, "not an ISO-4217 currency"),
        ({**MUG, "prices": {"jpy": "100"}}, "not an ISO-4217 currency"),
        ({**MUG, "prices": {"XAU": "100"}}, "not an ISO-4217 currency"),
        ({**MUG, "prices": {"JPY": "-1"}}, "greater than or equal to 0"),
        ({**MUG, "prices": {"JPY": "3200.5"}}, "more decimals than JPY allows"),
        ({**MUG, "prices": {"KRW": "0.1"}}, "more decimals than KRW allows"),
        ({**MUG, "prices": {"USD": "21.505"}}, "more decimals than USD allows"),
        ({**MUG, "prices": {"JPY": "100000000000000"}}, "less than or equal to 99999999999999"),
        ({**MUG, "prices": {"JPY": "lots"}}, "valid decimal"),
        ({**MUG, "prices": {}}, "at least 1 item"),
        ({**MUG, "tax_class": "zero"}, "'standard' or 'reduced'"),
        ({**MUG, "name": ""}, "at least 1 character"),
        ({"prices": MUG["prices"], "tax_class": "standard"}, "Field required"),
        ({**MUG, "colour": "blue"}, "Extra inputs are not permitted"),
    ],
    ids=[
        "unknown-currency",
        "lowercase-currency",
        "gold",
        "negative",
        "yen-fraction",
        "won-fraction",
        "cent-fraction",
        "above-money-columns",
        "not-a-number",
        "no-price",
        "tax-class",
        "empty-name",
        "no-name",
        "unknown-field",
    ],
)
def test_a_bad_product_is_422_with_the_reason_and_nothing_is_stored(
    http: TestClient, products: FakeCatalog, body: dict[str, Any], complaint: str
) -> None:
    # when an operator sets a product the catalog cannot hold
    response = http.put("/v1/products/MUG-ENGRAVED", json=body, headers=AS_OPERATOR)
    # then it is refused with the reason, and the catalog still has no such product
    assert response.status_code == 422, response.text
    assert complaint in response.text
    assert http.get("/v1/products/MUG-ENGRAVED", headers=AS_OPERATOR).status_code == 404


def test_a_sku_longer_than_its_column_is_422(http: TestClient) -> None:
    # when an operator names a sku one character longer than the column holds
    response = http.put(f"/v1/products/{'X' * 65}", json=MUG, headers=AS_OPERATOR)
    # then it is refused before anything is written
    assert response.status_code == 422 and "at most 64 characters" in response.text


def test_prices_keep_every_currency_minor_units() -> None:
    # when a product is priced in dollars, yen and dinars at exactly their minor units
    details = ProductDetails(name="Tin", prices={"USD": "9.99", "JPY": "1500", "KWD": "3.125"})
    # then each is kept as given
    assert details.prices == {"JPY": Decimal(1500), "KWD": Decimal("3.125"), "USD": Decimal("9.99")}
