"""Ids are stored in histories, the read model, the gateway and the ledger: each format is pinned, letter by letter."""

from uuid import UUID

import pytest

from domain import ids


def test_every_format_is_the_one_stored() -> None:
    assert ids.workflow_id_for("W-1") == "order-W-1"
    assert ids.fulfillment_order_id("W-1", 2) == "W-1-F2"
    assert ids.return_id_for("W-1", 1) == "W-1-R1"
    assert ids.exchange_id_for("W-1", 3) == "W-1-X3"
    assert ids.rma_number("W-1", 1) == "RMA-W-1-1"
    assert ids.return_label("YMT", UUID("0123456789abcdef0123456789abcdef")) == "YMT-RET-0123456789"
    assert ids.untracked_parcel("W-1-F1") == "W-1-F1-NT"
    assert ids.invoice_id_for("W-1-F1") == "INV-W-1-F1"
    assert ids.refund_id_for("W-1-R1") == "RF-W-1-R1"
    assert ids.appeasement_id_for("W-1", 2) == "AP-W-1-2"
    assert ids.void_transaction_id("auth_1") == "auth_1:void"
    assert ids.refund_part_transaction_id("RF-W-1-R1", "cap_1") == "RF-W-1-R1:cap_1"
    assert ids.idempotency_key("order-W-1", "capture", "W-1-F1") == "order-W-1:capture:W-1-F1"
    assert ids.refund_part_key("order-W-1:refund:W-1-R1:1", "cap_1") == "order-W-1:refund:W-1-R1:1:cap_1"
    assert ids.payment_method_key("W-1") == "order-W-1:payment-method"
    assert ids.restock_key("W-1-R1", "LEGO-76419") == "W-1-R1:LEGO-76419"
    assert ids.adjustment_key("count-7") == "adjustment:count-7"
    assert ids.movement_key("adjustment:count-7", 2) == "adjustment:count-7/2"
    assert ids.reset_request_id("run-1", 12, "capture again") == "51a94aa6-1f5c-51af-a9db-7b078e5aa48b"
    assert (ids.customer_actor("C-1"), ids.agent_actor("A-1"), ids.partner_actor("DC-TOKYO")) == (
        "customer:C-1",
        "agent:A-1",
        "partner:DC-TOKYO",
    )


def test_an_order_is_found_from_the_ids_it_numbers() -> None:
    assert ids.order_id_of_workflow("order-W-1") == "W-1"
    assert ids.order_id_of_workflow("bench-1") == "bench-1"  # not an order's workflow: as it is
    assert ids.order_of_fulfillment_order("W-1-F12") == "W-1"
    assert ids.fulfillment_order_number("W-1-F12") == 12
    assert ids.order_of_return("W-1-R3") == "W-1"
    assert ids.is_agent_actor("agent:A-1") and not ids.is_agent_actor("customer:agent:1")


@pytest.mark.parametrize("id_", ["W-1", "-F1", "W-1-F", "W-1-Fx", "W-1-F²", "W-1-F\u0661"])
def test_an_id_not_numbered_with_ascii_digits_names_no_order(id_: str) -> None:
    assert ids.order_of_fulfillment_order(id_) is None
    assert ids.fulfillment_order_number(id_) is None
    assert ids.order_of_return(id_.replace("-F", "-R")) is None
