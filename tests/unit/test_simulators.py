"""The partner simulators' pure parts: which steps a location reports, what each webhook says, amends, faults.

The simulators' behaviour over HTTP, with their state in PostgreSQL, is in tests/db/test_simulator_*.py.
"""

import pytest
from sqlalchemy import create_engine

from integrations.simulator_faults import FaultPlan
from integrations.simulator_flows import (
    PICKUP_FLOW,
    REJECT_FLOW,
    SHIP_FLOW,
    flow_of,
    progressed,
    remaining_lines,
    webhook_of,
)
from integrations.simulators import create_simulator_app, parse_locations

FO = {
    "fulfillment_order_id": "W-1-F1",
    "location_id": "DC-TOKYO",
    "tracking_number": "YMT0123456789",
    "carrier": "yamato",
    "lines": [{"sku": "LEGO-76419", "quantity": 2}],
}


def test_unknown_mode_is_rejected() -> None:
    engine = create_engine("postgresql+psycopg://nobody@localhost/none")  # never connected to
    with pytest.raises(ValueError, match="auto"):
        create_simulator_app("http://oms.test", "token", "sometimes", 0.01, engine=engine)


def test_reject_locations_are_read_from_a_comma_separated_setting() -> None:
    assert parse_locations("") == frozenset()
    assert parse_locations(" STORE-SHIBUYA, DC-OSAKA ,,") == {"STORE-SHIBUYA", "DC-OSAKA"}


def test_the_flow_depends_on_the_delivery_method_and_the_rejecting_locations() -> None:
    assert flow_of("DC-TOKYO", "standard", frozenset()) == SHIP_FLOW
    assert flow_of("STORE-SHIBUYA", "pickup", frozenset()) == PICKUP_FLOW
    assert flow_of("STORE-SHIBUYA", "pickup", frozenset({"STORE-SHIBUYA"})) == REJECT_FLOW


def test_shipped_carries_the_tracking_number_and_what_left_the_location() -> None:
    assert webhook_of(FO, "picked") == ("/v1/webhooks/warehouse", {"fulfillment_order_id": "W-1-F1", "event": "picked"})
    assert webhook_of(FO, "shipped") == (
        "/v1/webhooks/warehouse",
        {
            "fulfillment_order_id": "W-1-F1",
            "event": "shipped",
            "tracking_number": "YMT0123456789",
            "carrier": "yamato",
            "lines": [{"sku": "LEGO-76419", "quantity": 2}],
        },
    )
    assert webhook_of(FO, "in_transit") == (
        "/v1/webhooks/carrier",
        {"tracking_number": "YMT0123456789", "event": "in_transit"},
    )
    assert webhook_of(FO, "rejected")[1]["reason"] == "no capacity at DC-TOKYO"


def test_news_that_arrives_late_does_not_move_a_fulfillment_order_back() -> None:
    flow = list(SHIP_FLOW)
    assert progressed("received", "packed", flow)
    assert progressed("packed", "shipped", flow)
    assert not progressed("delivered", "out_for_delivery", flow)
    assert not progressed("canceled", "picked", flow)


def test_an_amend_takes_units_off_and_refuses_units_it_does_not_hold() -> None:
    lines = [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 1}]
    assert remaining_lines(lines, [{"sku": "A", "quantity": 1}]) == [
        {"sku": "A", "quantity": 2},
        {"sku": "B", "quantity": 1},
    ]
    assert remaining_lines(lines, [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 3}]) == []
    # two entries of one sku add up
    assert remaining_lines(lines, [{"sku": "A", "quantity": 2}, {"sku": "A", "quantity": 2}]) == (
        "holds 1 of A, cannot take off 2"
    )
    assert remaining_lines(lines, [{"sku": "C", "quantity": 1}]) == "holds 0 of C, cannot take off 1"


def test_no_faults_at_rate_zero_and_every_call_at_rate_one() -> None:
    assert not any(FaultPlan(0.0).happens() for _ in range(1000))
    always = FaultPlan(1.0, seed=1)
    assert all(always.endpoint() is not None for _ in range(1000))
    assert all(always.gateway() is not None for _ in range(1000))


def test_a_seed_draws_the_same_faults_and_about_the_rate() -> None:
    first, second = FaultPlan(0.2, seed=42), FaultPlan(0.2, seed=42)
    draws = [first.endpoint() for _ in range(2000)]
    assert draws == [second.endpoint() for _ in range(2000)]
    # about a fifth fail, in each of the three ways
    failed = [d for d in draws if d is not None]
    assert 300 < len(failed) < 500
    assert set(failed) == {"unavailable", "lost_answer", "slow"}


def test_a_failure_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultPlan(1.5)
