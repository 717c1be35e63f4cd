"""The API against its own OpenAPI document: schemathesis generates requests from `/openapi.json` and sends them to
a running stack, with every check on (server errors, status codes and bodies the document does not declare, valid
requests refused, invalid ones taken, auth ignored ...) and every phase, the stateful one (links between operations)
included.

Once per role, each with its own token: what one role may not do must answer the 403 the document declares.
The stack answers 504 past OMS_UPDATE_TIMEOUT; each request is given that and a margin, so a request that hangs
fails the run rather than the session.

Some rules of the contract cannot be said in JSON Schema: each sku at most once in a list, the decimals a currency
allows, latitude and longitude given together, an order's lines adding up to at most MAX_AMOUNT, a shipped
event's tracking number and carrier. The hooks below keep the *valid* requests schemathesis generates
within them (a request generated as invalid is left as it is, and must be refused); this module is the hooks
module the command line loads (SCHEMATHESIS_HOOKS).
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import Case, HookContext

from domain.models import MAX_AMOUNT
from tests.integration.conftest import RunningStack, running_stack

pytestmark = pytest.mark.integration

UPDATE_TIMEOUT = 3
REQUEST_TIMEOUT = UPDATE_TIMEOUT + 7
EXAMPLES = 8
RUN_TIMEOUT = 240
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
ROOT = Path(__file__).resolve().parents[2]
MONEY_FIELDS = ("unit_price", "amount", "credit_limit", "approval_threshold")


@pytest.fixture(scope="module")
def schema_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("oms-schema"),
        OMS_SIMULATE="auto",
        OMS_SIMULATE_DELAY="0.2",
        OMS_RETURN_WINDOW="PT3S",
        OMS_UPDATE_TIMEOUT=str(UPDATE_TIMEOUT),
        # Shopify's intake on, so its answers (401 for a body not signed with it) are the contract's, not a 503
        OMS_SHOPIFY_WEBHOOK_SECRET="schema-shopify-secret",
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("token", "include"),
    [
        pytest.param("dev-agent", [], id="agent"),
        pytest.param("dev-operator", [], id="operator"),
        pytest.param("dev-partner", ["--include-tag", "webhooks", "--include-tag", "inventory"], id="partner"),
    ],
)
def test_every_answer_is_the_one_the_document_declares(
    schema_stack: RunningStack, tmp_path: Path, token: str, include: list[str]
) -> None:
    # given the running API and its own OpenAPI document, a role's token, and every check and phase
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{schema_stack.api_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        # one worker: in concurrent workers hypothesis parses lambda sources with `ast.parse`, which CPython
        # 3.11 does not make safe across threads ("AST constructor recursion depth mismatch", seen in CI)
        "--workers",
        "1",
        "--seed",
        "20240601",
        "--suppress-health-check",
        "filter_too_much",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *include,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": __name__, "PYTHONPATH": str(ROOT)}

    # when schemathesis runs against it
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)

    # then it found nothing: no failure of any check, no request past its timeout, and it did test the API
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    assert "Test cases:" in output and " generated" in output, output[-5_000:]
    assert "0 generated" not in output, output[-5_000:]


# -- the rules JSON Schema cannot say, applied to the requests generated as valid -----------------------------------
@schemathesis.hook
def map_case(context: HookContext, case: Case[Any]) -> Case[Any]:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if isinstance(case.body, dict):
        body: dict[str, Any] = _within_contract(case.body)
        if body.get("method") == "in_store" and not body.get("location_id"):
            body["method"] = "mail"  # a drop-off names its store
        if body.get("delivery_method") == "pickup" and not body.get("pickup_location_id"):
            body["pickup_location_id"] = "STORE-GINZA"  # a pickup names its store
        if body.get("event") == "shipped" and "fulfillment_order_id" in body:
            # a shipment names its parcel
            body["tracking_number"] = body.get("tracking_number") or "YMT-1"
            body["carrier"] = body.get("carrier") or "yamato"
        if isinstance(body.get("lines"), list):
            body["lines"] = _within_total(body["lines"])
        if body.get("approval_threshold") is not None and not body.get("approvers"):
            body["approvers"] = ["C-APPROVER"]  # a threshold needs someone to approve above it
        case.body = body
    if isinstance(case.query, dict) and (case.query.get("latitude") is None) != (case.query.get("longitude") is None):
        case.query = {k: v for k, v in case.query.items() if k not in ("latitude", "longitude")}
    return case


# What a checkout is refused for that is data, not schema: products the catalog sells, accounts that exist and count
# the customer among their buyers, in the account's currency; and that a prepaid order comes by the intake routes.
DATA_REFUSALS = ("the catalog has no", "no account", "is not a buyer of account", "is invoiced in", "'prepaid'")


@schemathesis.hook
def filter_failure(context: HookContext, failure: Any, case: Case[Any], response: Any) -> bool:
    return not (case.operation.label == "POST /v1/orders" and any(r in response.text for r in DATA_REFUSALS))


def _within_contract(value: Any) -> Any:
    """Each sku once per list (the first line kept), and money (prices included) in whole units, which every
    currency allows."""
    if isinstance(value, list):
        seen: set[Any] = set()
        kept = []
        for item in value:
            sku = item.get("sku") if isinstance(item, dict) else None
            if sku is not None and not isinstance(sku, (dict, list)):
                if sku in seen:
                    continue
                seen.add(sku)
            kept.append(_within_contract(item))
        return kept
    if isinstance(value, dict):
        return {k: _whole_units(v) if k in MONEY_FIELDS else _money_or_within(k, v) for k, v in value.items()}
    return value


def _money_or_within(key: str, value: Any) -> Any:
    """A product's prices, by currency, are money too."""
    if key == "prices" and isinstance(value, dict):
        return {currency: _whole_units(price) for currency, price in value.items()}
    return _within_contract(value)


def _within_total(lines: list[Any]) -> list[Any]:
    """Lines whose prices add up past what an order may come to get each a price that keeps the total within it."""
    try:
        total = sum(Decimal(str(line["unit_price"])) * int(line["quantity"]) for line in lines)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return lines
    if total <= MAX_AMOUNT:
        return lines
    kept = []
    for line in lines:
        cap = MAX_AMOUNT // (max(int(line["quantity"]), 1) * len(lines))
        price = line["unit_price"]
        if Decimal(str(price)) > cap:
            price = str(cap) if isinstance(price, str) else int(cap)
        kept.append({**line, "unit_price": price})
    return kept


def _whole_units(amount: Any) -> Any:
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        return amount
    try:
        whole = Decimal(str(amount)).to_integral_value(rounding="ROUND_CEILING")
    except ArithmeticError:
        return amount
    return str(whole) if isinstance(amount, str) else int(whole)
