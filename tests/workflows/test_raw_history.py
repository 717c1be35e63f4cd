"""What Temporal itself stores of an order holds no personal data in clear: its history, read without the codec,
and its search attributes and summaries, as `temporal workflow show` (no codec) or the Web UI would show them."""

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryRequest,
)
from temporalio.client import Client

from starter.codec import ENCODING
from starter.reset import steps_run
from tests.workflows.conftest import Harness, deliver, lines, ship, start, wait_until
from workflows.messages import RETRY_UPDATE, RetryRequest, RetryResult

EMAIL = "kiyoshi.rawprobe@example.jp"
NAME = "Kiyoshi Rawprobe"
PHONE = "+81355501234"
LINE1 = "7-7 Rawprobe-cho"
TOKEN = "tok_rawprobe_5b1e"
PERSONAL = [EMAIL, NAME, PHONE, LINE1, TOKEN]


async def raw_history(client: Client, workflow_id: str) -> History:
    """The history exactly as the server holds it: no data converter, no codec."""
    history, page = History(), b""
    while True:
        answer = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id), next_page_token=page
            )
        )
        history.events.extend(answer.history.events)
        page = answer.next_page_token
        if not page:
            return history


async def raw_description(client: Client, workflow_id: str) -> DescribeWorkflowExecutionResponse:
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )


def payloads_in(message: object) -> list[Payload]:
    """Every Payload anywhere in a protobuf message."""
    found: list[Payload] = []

    def walk(m: object) -> None:
        if isinstance(m, Payload):
            found.append(m)
            return
        for field, value in m.ListFields():  # type: ignore[attr-defined]
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                values = list(value.values())
            elif hasattr(value, "ListFields"):
                values = [value]
            else:  # a repeated field
                values = list(value)
            for v in values:
                if hasattr(v, "ListFields"):
                    walk(v)

    walk(message)
    return found


def client_payloads(history: History) -> list[Payload]:
    """The payloads of the history the SDK's data converter wrote: all but the search attributes (the server
    indexes them: ids and statuses only) and the bookkeeping the SDK's core writes itself in a local activity's
    marker (its step name, attempt and times, which `oms order reset` reads)."""
    found: list[Payload] = []
    for event in history.events:
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            continue
        copy = HistoryEvent()
        copy.CopyFrom(event)
        if copy.HasField("marker_recorded_event_attributes"):
            del copy.marker_recorded_event_attributes.details["data"]
        if copy.HasField("workflow_execution_started_event_attributes"):
            copy.workflow_execution_started_event_attributes.ClearField("search_attributes")
        found += payloads_in(copy)
    return found


async def test_an_orders_history_and_search_attributes_hold_no_personal_data_in_clear(harness: Harness) -> None:
    # given an order with a distinctive customer, address and card token, whose capture fails once with an
    # error quoting the customer, then is retried, delivered and completes after its return window
    handle, answer = await start(
        harness,
        customer={"id": "C-RAW", "email": EMAIL, "name": NAME, "phone": PHONE},
        shipping_address={"name": NAME, "line1": LINE1, "city": "Chiyoda", "postal_code": "100-0005", "country": "JP"},
        payment={"method": "card", "token": TOKEN},
        lines=lines(lego=1),
    )
    assert answer.status == "accepted", answer
    fo_id = answer.fulfillment_order_ids[0]
    harness.partners.broken["settle"] = ValueError(f"capture refused for {NAME} <{EMAIL}> at {LINE1}")
    await ship(handle, fo_id)
    await wait_until(handle, lambda o: o.attention is not None, "attention")
    del harness.partners.broken["settle"]
    await handle.execute_update(
        RETRY_UPDATE, RetryRequest(reason="mended", actor="operator:O-1"), result_type=RetryResult
    )
    await deliver(handle, fo_id)
    await handle.result()

    # when its history and description are read as the server stores them
    history = await raw_history(harness.client, handle.id)
    description = await raw_description(harness.client, handle.id)
    every_payload = payloads_in(history) + payloads_in(description)
    whole = json_format.MessageToJson(history) + json_format.MessageToJson(description)
    raw = history.SerializeToString() + description.SerializeToString()

    # then none of the personal data appears: not in a payload's bytes, not anywhere in the JSON or the bytes
    for secret in PERSONAL:
        assert secret not in whole, f"{secret!r} in the history's JSON"
        assert secret.encode() not in raw, f"{secret!r} in the history's bytes"
        leaking = [p for p in every_payload if secret.encode() in p.SerializeToString()]
        assert not leaking, f"{secret!r} in {len(leaking)} payload(s), e.g. {leaking[0].metadata}"
    # and every payload a client wrote (inputs, results, failures, summaries) is encrypted
    written = client_payloads(history)
    plain = [(p.metadata, p.data[:60]) for p in written if p.metadata.get("encoding") != ENCODING]
    assert written and not plain, f"payloads in clear: {plain}"
    attributes = description.workflow_execution_info.search_attributes.indexed_fields
    assert attributes["OrderStatus"].data == b'"completed"'
    # and the codec reveals what they hide: the personal data was there to find
    codec = harness.client.data_converter.payload_codec
    assert codec is not None
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    decoded = b"".join(p.data for p in await codec.decode(started))
    assert EMAIL.encode() in decoded and TOKEN.encode() in decoded
    # and `oms order reset` still finds the steps it ran by name
    assert "authorize_payment" in steps_run(list(history.events))
