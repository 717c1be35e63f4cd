"""`oms order reset` on the real stack: an order sent back to its capture step runs on, and no money moves twice.

The partner simulators are off, so the warehouse's `shipped` and the carrier's `delivered` webhooks are
sent by hand, each exactly when the test says. The command finds the Temporal server through the stack's
`stack.json`, as an engineer's shell next to `oms up` would.
"""

import asyncio
import json
import subprocess
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from domain.ids import workflow_id_for
from starter.reset import step_of
from starter.temporal import connect
from tests.integration.conftest import (
    RunningStack,
    new_customer,
    run_oms,
    transactions,
    wait_for_order,
    wait_for_status,
)
from tests.orders import checkout_body

pytestmark = pytest.mark.integration


def oms_reset(by_hand: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`oms order reset` with nothing but the stack's data folder to find Temporal by."""
    return run_oms("order", "reset", *args, OMS_DATA_DIR=str(by_hand.data_dir))


def wait_for_capture(agent: httpx.Client, order_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        captures = transactions(agent, order_id, "capture")
        if captures:
            return captures[0]
        assert time.monotonic() < deadline, f"{order_id}: no capture within {timeout}s"
        time.sleep(0.1)


STEP_TIMEOUT = 30


def current_run(by_hand: RunningStack, workflow_id: str) -> str:
    async def describe() -> str:
        temporal = await connect(by_hand.temporal_address)
        return (await temporal.get_workflow_handle(workflow_id).describe()).run_id

    return asyncio.run(describe())


def step_run_again(by_hand: RunningStack, workflow_id: str, run_id: str, step: str) -> Any:
    """What the run's marker for `step` recorded, once the run has run it again past its reset point."""

    async def wait() -> Any:
        temporal = await connect(by_hand.temporal_address)
        handle = temporal.get_workflow_handle(workflow_id, run_id=run_id)
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                events = list((await handle.fetch_history()).events)
                failed = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
                assert failed, f"run {run_id} of {workflow_id} does not start from a reset"
                for e in events:
                    if e.event_id > failed[0] and step_of(e) == step:
                        # the step's result is encrypted in the history, as every payload: decode it
                        stored = e.marker_recorded_event_attributes.details["result"].payloads[0]
                        codec = temporal.data_converter.payload_codec
                        [plain] = await codec.decode([stored]) if codec else [stored]
                        return json.loads(plain.data)
                await asyncio.sleep(0.1)

    return asyncio.run(wait())


def test_an_order_reset_to_its_capture_runs_on_and_is_captured_once(
    by_hand: RunningStack, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client
) -> None:
    # given an accepted order whose one fulfillment order has shipped and been captured
    body = checkout_body(customer=new_customer())
    order_id, workflow_id = body["order_id"], workflow_id_for(body["order_id"])
    placed = storefront.post("/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    [fo_id] = placed.json()["fulfillment_order_ids"]
    wait_for_order(agent, order_id, lambda s: any(fo["id"] == fo_id for fo in s["fulfillment_orders"]), fo_id)
    tracking = f"RS{uuid.uuid4().hex[:12].upper()}"
    shipped = {"fulfillment_order_id": fo_id, "event": "shipped", "tracking_number": tracking, "carrier": "yamato"}
    assert partner.post("/v1/webhooks/warehouse", json=shipped).status_code == 202
    capture = wait_for_capture(agent, order_id)
    before = wait_for_status(agent, order_id, "shipped")
    old_run = current_run(by_hand, workflow_id)

    # when an engineer resets it to the capture step
    reset = oms_reset(by_hand, order_id, "--to", "settle_shipment", "--reason", "capture again after a fix")

    # then the command names the new run and the point it went back to
    assert reset.returncode == 0, reset.stderr
    new_run = current_run(by_hand, workflow_id)
    assert new_run != old_run
    assert f"new run {new_run}" in reset.stdout
    assert "before settle_shipment" in reset.stdout

    # and the new run runs the capture again, and the gateway answers with the original transaction
    result = step_run_again(by_hand, workflow_id, new_run, "settle_shipment")
    assert result["transaction_id"] == capture["transaction_id"]

    # and the ledger still has one authorization and one capture for that fulfillment order, at its key
    rows = transactions(agent, order_id)
    assert sorted(tx["type"] for tx in rows) == ["authorize", "capture"], rows
    [captured] = [tx for tx in rows if tx["type"] == "capture"]
    assert captured["idempotency_key"] == f"order-{order_id}:capture:{fo_id}"
    assert Decimal(captured["amount"]) == Decimal(before["total"])

    # and the order reads as it did: shipped, captured once
    after = wait_for_status(agent, order_id, "shipped")
    assert Decimal(after["payment"]["captured"]) == Decimal(before["payment"]["captured"]) == Decimal(before["total"])

    # and when the parcel is delivered the new run goes on to deliver the order
    delivered = {"tracking_number": tracking, "event": "delivered"}
    assert partner.post("/v1/webhooks/carrier", json=delivered).status_code == 202
    wait_for_status(agent, order_id, "delivered")
    assert current_run(by_hand, workflow_id) == new_run
    assert sorted(tx["type"] for tx in transactions(agent, order_id)) == ["authorize", "capture"]


def test_a_reset_to_a_step_the_order_never_ran_changes_nothing(by_hand: RunningStack, storefront: httpx.Client) -> None:
    # given an accepted order that has not shipped
    body = checkout_body(customer=new_customer())
    placed = storefront.post("/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    # when an engineer resets it to its refund
    reset = oms_reset(by_hand, body["order_id"], "--to", "refund_payment")
    # then the command refuses, naming the steps the order did run
    assert reset.returncode == 1
    assert "never ran the step 'refund_payment'" in reset.stderr
    assert "authorize_payment" in reset.stderr
    # and an order that does not exist is named as such
    unknown = oms_reset(by_hand, "T-NO-SUCH-ORDER", "--to", "settle_shipment")
    assert unknown.returncode == 1 and "no order T-NO-SUCH-ORDER" in unknown.stderr
