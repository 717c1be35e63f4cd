"""The OpenAPI document lists only the schemas its operations reach."""

import json
import re
from typing import Any

from starter.api.app import create_app
from starter.settings import Settings


def referenced(node: Any) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)))


def test_every_schema_the_document_lists_is_reached_from_an_operation() -> None:
    # given the API's OpenAPI document (the app is not entered: no Temporal, no database behind it)
    document = create_app(Settings()).openapi()
    schemas = document["components"]["schemas"]

    # when the schemas are followed from the operations, through the schemas they name
    reached, frontier = set(), referenced(document["paths"])
    while frontier:
        reached |= frontier
        frontier = referenced([schemas[name] for name in frontier]) - reached

    # then every schema listed is among them (a model hidden from every body, such as an intake's source, is not
    # listed), and every one named is listed
    assert set(schemas) - reached == set()
    assert reached <= set(schemas)
    assert "IntakeSource" not in schemas
