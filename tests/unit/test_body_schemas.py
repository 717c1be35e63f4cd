"""A body's JSON schema, as the OpenAPI document gives it, takes what its model takes and refuses what it refuses:
a client that checks a body against the document before sending it is never refused for a rule the document hides."""

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from starter.api.inventory import AdjustmentBody
from store.catalog import ProductDetails

ADJUSTMENT = {"location_id": "DC-TOKYO", "sku": "LEGO-76419"}
PRODUCT = {"name": "Uji matcha 100 g", "tax_class": "reduced"}


def schema_takes(model: type[BaseModel], body: dict[str, Any]) -> bool:
    return bool(Draft202012Validator(model.model_json_schema()).is_valid(body))


def model_takes(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("model", "body", "taken"),
    [
        (AdjustmentBody, {**ADJUSTMENT, "delta": 5}, True),
        (AdjustmentBody, {**ADJUSTMENT, "on_hand": 5}, True),
        (AdjustmentBody, {**ADJUSTMENT, "delta": 5, "on_hand": None}, True),
        (AdjustmentBody, {**ADJUSTMENT, "delta": None, "on_hand": 0}, True),
        (AdjustmentBody, {**ADJUSTMENT, "delta": 5, "on_hand": 5}, False),
        (AdjustmentBody, {**ADJUSTMENT, "delta": None, "on_hand": None}, False),
        (AdjustmentBody, ADJUSTMENT, False),
        (ProductDetails, {**PRODUCT, "prices": {"JPY": "2400", "USD": "16.50"}}, True),
        (ProductDetails, {**PRODUCT, "prices": {"": "2400"}}, False),
        (ProductDetails, {**PRODUCT, "prices": {"XAU": "2400"}}, False),
        (ProductDetails, {**PRODUCT, "prices": {"jpy": "2400"}}, False),
    ],
    ids=[
        "delta",
        "on-hand",
        "delta-and-null-on-hand",
        "null-delta-and-on-hand",
        "delta-and-on-hand",
        "both-null",
        "neither",
        "prices-in-currencies",
        "price-in-no-currency",
        "price-in-gold",
        "price-in-lowercase",
    ],
)
def test_the_schema_and_the_model_agree(model: type[BaseModel], body: dict[str, Any], taken: bool) -> None:
    assert model_takes(model, body) is taken
    assert schema_takes(model, body) is taken
