"""The `oms` command line against a stand-in API: what each command sends, and how errors reach a person."""

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from domain.ids import workflow_id_for
from starter import cli
from starter.client import Line, OmsApiError, OmsClient

API = "http://oms.test"
TOKEN = "tok-agent-1"


@dataclass
class FakeApi:
    """Records every request and answers each with `status` and `body`."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def only(self) -> httpx.Request:
        assert len(self.requests) == 1, f"expected one request, saw {len(self.requests)}"
        return self.requests[0]


def oms(api: FakeApi, *argv: str) -> int:
    return cli.run([*argv, "--api-url", API, "--token", TOKEN], transport=api.transport)


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def test_cancel_sends_the_lines_reason_and_bearer_token(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    # given an API that accepts the cancel with the new summary
    api.body = {"order_id": "W-1", "status": "canceled"}
    # when an agent cancels two lines of an order
    rc = oms(api, "order", "cancel", "W-1", "--line", "LEGO-1:2", "MUG:1", "--reason", "changed mind")
    # then one POST carries exactly those lines and the reason, with the agent's token
    assert rc == 0
    request = api.only
    assert (request.method, request.url.path) == ("POST", "/v1/orders/W-1/cancel")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent_json(request) == {
        "reason": "changed mind",
        "lines": [{"sku": "LEGO-1", "quantity": 2}, {"sku": "MUG", "quantity": 1}],
    }
    # and the answer is printed as JSON a person (or jq) can read
    assert json.loads(capsys.readouterr().out) == {"order_id": "W-1", "status": "canceled"}


def test_cancel_without_lines_cancels_everything(api: FakeApi) -> None:
    # given no --line
    # when the order is canceled
    assert oms(api, "order", "cancel", "W-1", "--reason", "fraud") == 0
    # then the body leaves `lines` out, which the API reads as "everything still cancelable"
    assert sent_json(api.only) == {"reason": "fraud"}


def test_a_refused_cancel_prints_the_reason_on_stderr_and_exits_1(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # given an API that refuses the cancel with a reason
    api.status, api.body = 409, {"detail": "LEGO-1 has shipped already: use a return"}
    # when the cancel is sent
    rc = oms(api, "order", "cancel", "W-1", "--reason", "late")
    # then the reason reaches the person on stderr, nothing lands on stdout, and the exit code says it failed
    out, err = capsys.readouterr()
    assert rc == 1
    assert err.strip() == "error 409: LEGO-1 has shipped already: use a return"
    assert out == ""


def test_return_in_store_sends_method_and_location(api: FakeApi) -> None:
    # given a customer bringing units back to a store
    api.status, api.body = 201, {"return_id": "W-1-R1", "rma": "RMA-1", "label": None}
    # when the return is requested
    rc = oms(
        api, "order", "return", "W-1", "--line", "LEGO-1:1", "--reason", "broken",
        "--method", "in_store", "--location", "STORE-SHIBUYA",
    )  # fmt: skip
    # then the request names the method and the store
    assert rc == 0
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/returns")
    assert sent_json(api.only) == {
        "lines": [{"sku": "LEGO-1", "quantity": 1}],
        "reason": "broken",
        "method": "in_store",
        "location_id": "STORE-SHIBUYA",
    }


def test_return_by_mail_is_the_default_and_sends_no_location(api: FakeApi) -> None:
    # given no --method
    # when a return is requested
    assert oms(api, "order", "return", "W-1", "--line", "LEGO-1:1", "--line", "MUG:3", "--reason", "too big") == 0
    # then it goes by mail and carries every line given
    body = sent_json(api.only)
    assert body["method"] == "mail" and "location_id" not in body
    assert body["lines"] == [{"sku": "LEGO-1", "quantity": 1}, {"sku": "MUG", "quantity": 3}]


def test_a_malformed_line_is_refused_before_anything_is_sent(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    # given a line without a positive quantity
    # when the return is attempted, then argparse refuses it with a usage error (exit 2) naming the line
    with pytest.raises(SystemExit) as exited:
        oms(api, "order", "return", "W-1", "--line", "LEGO-1:0", "--reason", "x")
    assert exited.value.code == 2
    assert "'LEGO-1:0' is not SKU:QTY" in capsys.readouterr().err
    # and the API never heard of it
    assert api.requests == []


def test_appease_sends_the_amount_as_a_decimal_string(api: FakeApi) -> None:
    # given an agent granting 500 yen
    api.body = {"order_id": "W-1", "refunded": "500", "refundable_left": "24480"}
    # when the appeasement is sent
    assert oms(api, "order", "appease", "W-1", "--amount", "500", "--reason", "late delivery") == 0
    # then the amount travels as a string, never a float that could round
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/appeasements")
    assert sent_json(api.only) == {"amount": "500", "reason": "late delivery"}


def test_payments_reads_the_orders_transactions(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    # given the gateway's transactions for the order
    api.body = [{"transaction_id": "auth_1", "type": "authorize", "amount": "24980"}]
    # when an operator asks for them
    assert oms(api, "order", "payments", "W-1") == 0
    # then it is a GET of the order's payments, printed as a JSON list
    assert (api.only.method, api.only.url.path) == ("GET", "/v1/orders/W-1/payments")
    assert json.loads(capsys.readouterr().out)[0]["transaction_id"] == "auth_1"


def test_an_order_id_stays_one_path_segment(api: FakeApi) -> None:
    # given an id typed with a slash
    # when it is shown
    oms(api, "order", "show", "W/1")
    # then the slash is escaped rather than walking into another route
    assert api.only.url.raw_path == b"/v1/orders/W%2F1"


def test_inventory_adjust_sends_a_delta_or_a_count(api: FakeApi) -> None:
    # given a receipt of 12 units
    # when it is recorded, then exactly the delta is sent (no on_hand, no nulls)
    assert oms(api, "inventory", "adjust", "--location", "DC-TOKYO", "--sku", "LEGO-1", "--delta", "12") == 0
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/inventory/adjustments")
    assert sent_json(api.only) == {"location_id": "DC-TOKYO", "sku": "LEGO-1", "delta": 12}
    # and a stock count sends on_hand, with the idempotency key when given
    api.requests.clear()
    oms(
        api,
        "inventory",
        "adjust",
        "--location",
        "DC-TOKYO",
        "--sku",
        "LEGO-1",
        "--on-hand",
        "0",
        "--adjustment-id",
        "c-7",
    )
    assert sent_json(api.only) == {"location_id": "DC-TOKYO", "sku": "LEGO-1", "on_hand": 0, "adjustment_id": "c-7"}


def test_inventory_adjust_needs_exactly_one_of_delta_and_on_hand(api: FakeApi) -> None:
    # given both a delta and a count
    # when the command is parsed, then it is a usage error and nothing is sent
    with pytest.raises(SystemExit):
        oms(api, "inventory", "adjust", "--location", "L", "--sku", "S", "--delta", "1", "--on-hand", "3")
    assert api.requests == []


def test_availability_repeats_sku_and_passes_the_position(api: FakeApi) -> None:
    # given two SKUs and a shopper's position
    # when availability is asked for
    assert oms(api, "inventory", "availability", "--sku", "A", "B", "--latitude", "35.6", "--longitude", "139.7") == 0
    # then each SKU is its own query parameter, as the API reads a list
    request = api.only
    assert (request.method, request.url.path) == ("GET", "/v1/availability")
    assert request.url.params.get_list("sku") == ["A", "B"]
    assert (request.url.params["latitude"], request.url.params["longitude"]) == ("35.6", "139.7")


def test_locations_lists_the_fulfillment_locations(api: FakeApi) -> None:
    api.body = [{"id": "DC-TOKYO"}]
    assert oms(api, "locations") == 0
    assert (api.only.method, api.only.url.path) == ("GET", "/v1/locations")


def test_token_defaults_to_oms_token_then_the_dev_agent(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    # given no --token
    argv = ["order", "show", "W-1", "--api-url", API]
    # when OMS_TOKEN is set, then it is used
    monkeypatch.setenv("OMS_TOKEN", "from-env")
    cli.run(argv, transport=api.transport)
    # and when it is not, the development agent token is
    monkeypatch.delenv("OMS_TOKEN")
    cli.run(argv, transport=api.transport)
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer from-env", "Bearer dev-agent"]


def test_validation_errors_are_flattened_to_field_and_message(capsys: pytest.CaptureFixture[str]) -> None:
    # given FastAPI's 422 for a bad amount
    api = FakeApi(422, {"detail": [{"loc": ["body", "amount"], "msg": "Input should be greater than 0", "type": "x"}]})
    # when the appeasement is sent
    rc = oms(api, "order", "appease", "W-1", "--amount", "-5", "--reason", "x")
    # then the person reads which field is wrong and why, on one line
    assert rc == 1
    assert capsys.readouterr().err.strip() == "error 422: amount: Input should be greater than 0"


def test_an_unreachable_api_is_an_error_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    # given an API that is not running
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    # when any command is run
    rc = cli.run(["locations", "--api-url", API, "--token", TOKEN], transport=httpx.MockTransport(refuse))
    # then it says where it tried, and fails
    assert rc == 1
    assert capsys.readouterr().err.startswith(f"error: cannot reach the OMS API at {API}")


def test_place_without_an_order_id_is_a_usage_error(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    # given the sample order, which has no id
    # when it is placed without --order-id, then nothing is sent and the exit code is 2
    assert oms(api, "order", "place") == 2
    assert "--order-id" in capsys.readouterr().err
    assert api.requests == []


def test_the_client_raises_a_typed_error_with_status_and_detail() -> None:
    # given an API that refuses an appeasement
    api = FakeApi(409, {"detail": "refund of 30000 exceeds the 24980 left to refund"})
    # when a script calls the client directly, then it gets the status and the reason to act on
    with OmsClient(API, TOKEN, transport=api.transport) as client, pytest.raises(OmsApiError) as refused:
        client.grant_appeasement("W-1", "30000", "goodwill")
    assert (refused.value.status, refused.value.detail) == (409, "refund of 30000 exceeds the 24980 left to refund")
    # and a cancel of explicit lines sends them in order
    api = FakeApi()
    with OmsClient(API, TOKEN, transport=api.transport) as client:
        client.cancel_order("W-1", "oops", [Line("A", 1)])
    assert sent_json(api.only)["lines"] == [{"sku": "A", "quantity": 1}]


def test_review_sends_the_agents_decision(api: FakeApi) -> None:
    # given an order on hold
    api.body = {"order_id": "W-1", "status": "accepted"}
    # when an agent approves it
    assert oms(api, "order", "review", "W-1", "approve", "--reason", "called the customer") == 0
    # then the decision and reason reach the order's review route
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/review")
    assert sent_json(api.only) == {"decision": "approve", "reason": "called the customer"}


def test_address_change_sends_the_address_from_a_file(api: FakeApi, tmp_path: Any) -> None:
    # given a new address in a file
    address = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "JP"}
    path = tmp_path / "address.json"
    path.write_text(json.dumps(address))
    # when an agent changes the order's address
    assert oms(api, "order", "address", "W-1", "--file", str(path), "--reason", "moved") == 0
    # then the address travels as given
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/address")
    assert sent_json(api.only) == {"address": address, "reason": "moved"}


def test_reship_sends_the_lost_units(api: FakeApi) -> None:
    # when an agent reships one lost unit
    assert oms(api, "order", "reship", "W-1", "--line", "LEGO-1:1", "--reason", "lost in transit") == 0
    # then the line and reason reach the reship route
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/reships")
    assert sent_json(api.only) == {"lines": [{"sku": "LEGO-1", "quantity": 1}], "reason": "lost in transit"}


def test_exchange_sends_the_returned_units_and_their_replacements(api: FakeApi) -> None:
    # when an agent exchanges one small tin for a large one at its price, and a LEGO set for another
    code = oms(
        api,
        "order",
        "exchange",
        "W-1",
        "--line",
        "TEA-1:1",
        "LEGO-1:1",
        "--for",
        "TEA-2:1@3000",
        "LEGO-1:1",
        "--reason",
        "size",
    )
    # then both lists reach the exchange route, the price only where given
    assert code == 0
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/exchanges")
    assert sent_json(api.only) == {
        "returned": [{"sku": "TEA-1", "quantity": 1}, {"sku": "LEGO-1", "quantity": 1}],
        "replacement": [{"sku": "TEA-2", "quantity": 1, "unit_price": "3000"}, {"sku": "LEGO-1", "quantity": 1}],
        "reason": "size",
        "method": "mail",
    }


def test_an_agents_own_replacement_price_carries_the_reason_given_for_it(api: FakeApi) -> None:
    # when an agent sends a replacement at a price of their own, saying why
    code = oms(
        api,
        "order",
        "exchange",
        "W-1",
        "--line",
        "TEA-1:1",
        "--for",
        "TEA-2:1@2500",
        "LEGO-1:1",
        "--price-reason",
        "price match",
        "--reason",
        "size",
    )
    # then the priced line carries the reason (the catalog's line needs none)
    assert code == 0
    assert sent_json(api.only)["replacement"] == [
        {"sku": "TEA-2", "quantity": 1, "unit_price": "2500", "price_reason": "price match"},
        {"sku": "LEGO-1", "quantity": 1},
    ]


def test_exchange_refuses_a_price_that_is_not_a_number(api: FakeApi) -> None:
    # when the replacement's price is mistyped
    with pytest.raises(SystemExit) as exit:
        oms(api, "order", "exchange", "W-1", "--line", "TEA-1:1", "--for", "TEA-2:1@abc", "--reason", "size")
    # then the command stops before calling the API
    assert exit.value.code == 2 and api.requests == []


# -- retry and reset: an engineer's repairs ------------------------------------------------------------------
def test_retry_posts_the_reason_and_prints_what_ran_again(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    # given an order in attention that the API retries
    api.body = {"order_id": "W-1", "status": "shipped", "retried": ["settle_shipment"], "attention": None}
    # when an operator retries it with a reason
    assert oms(api, "order", "retry", "W-1", "--reason", "gateway is back") == 0
    # then one POST to the order's retry carries the reason, and the answer is printed
    assert (api.only.method, api.only.url.path) == ("POST", "/v1/orders/W-1/retry")
    assert sent_json(api.only) == {"reason": "gateway is back"}
    assert json.loads(capsys.readouterr().out)["retried"] == ["settle_shipment"]


def test_retry_without_a_reason_says_where_it_came_from(api: FakeApi) -> None:
    assert oms(api, "order", "retry", "W-1") == 0
    assert sent_json(api.only) == {"reason": "retried from the command line"}


def test_a_retry_of_an_order_needing_no_attention_prints_the_reason(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the order's workflow refuses: nothing failed
    api.status, api.body = 409, {"detail": "order W-1 needs no attention"}
    # when it is retried
    rc = oms(api, "order", "retry", "W-1")
    # then the reason is on stderr and the command fails
    assert rc == 1
    assert capsys.readouterr().err.strip() == "error 409: order W-1 needs no attention"


@dataclass
class FakeReset:
    """Stands in for starter.reset.reset_with_settings: records the call, answers an outcome or refuses."""

    refuse: str | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def __call__(self, settings: Any, order_id: str, to: str, reason: str) -> Any:
        from starter.reset import ResetOutcome, ResetPoint, ResetRefused

        self.calls.append((order_id, to, reason))
        if self.refuse is not None:
            raise ResetRefused(self.refuse)
        point = ResetPoint(17, "workflow task completed at event 17, before settle_shipment first ran (event 18)")
        return ResetOutcome(order_id, workflow_id_for(order_id), "run-1", "run-2", point)


@pytest.fixture
def fake_reset(monkeypatch: pytest.MonkeyPatch) -> FakeReset:
    from starter import reset

    fake = FakeReset()
    monkeypatch.setattr(reset, "reset_with_settings", fake)
    return fake


def test_reset_prints_the_new_run_and_where_it_went_back_to(
    fake_reset: FakeReset, capsys: pytest.CaptureFixture[str]
) -> None:
    # when an engineer resets an order to its capture step
    rc = cli.run(["order", "reset", "W-1", "--to", "settle_shipment", "--reason", "capture again"])
    # then the reset is asked for that order, step and reason
    assert rc == 0
    assert fake_reset.calls == [("W-1", "settle_shipment", "capture again")]
    # and the new run id and the point are printed
    out = capsys.readouterr().out
    assert "new run run-2" in out
    assert "event 17, before settle_shipment" in out


def test_a_refused_reset_prints_why_and_exits_1(fake_reset: FakeReset, capsys: pytest.CaptureFixture[str]) -> None:
    # given a step the order never ran
    fake_reset.refuse = "this run never ran the step 'refund_payment'"
    # when the engineer resets to it
    rc = cli.run(["order", "reset", "W-1", "--to", "refund_payment"])
    # then the reason reaches them on stderr and nothing is printed as done
    assert rc == 1
    captured = capsys.readouterr()
    assert "never ran the step 'refund_payment'" in captured.err
    assert captured.out == ""


def test_reset_needs_a_point(fake_reset: FakeReset) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.run(["order", "reset", "W-1"])
    assert exit.value.code == 2 and fake_reset.calls == []
