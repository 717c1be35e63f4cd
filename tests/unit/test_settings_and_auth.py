"""Configuration parsing: durations, tokens and the routing policy."""

from datetime import timedelta

import pytest
from sqlalchemy import create_engine

from starter.api.auth import Principal, parse_tokens
from starter.settings import DEV_TOKENS, Settings, parse_duration
from worker import build_activities


def test_return_windows_parse_as_iso_8601_durations() -> None:
    assert parse_duration("P30D") == timedelta(days=30)
    assert parse_duration("PT5S") == timedelta(seconds=5)
    assert parse_duration("P1DT12H") == timedelta(days=1, hours=12)
    for bad in ("30 days", "P", "PT", "P1Y"):
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_duration(bad)


def test_tokens_carry_roles_and_customer_ids() -> None:
    tokens = parse_tokens("s1:storefront,c1:customer:C-9", production=False)
    assert tokens["s1"] == Principal("storefront")
    assert tokens["c1"] == Principal("customer", "C-9")
    assert tokens["c1"].may_see_customer("C-9") and not tokens["c1"].may_see_customer("C-1")


def test_bad_token_entries_are_refused_with_the_entry_named() -> None:
    with pytest.raises(ValueError, match="'x:wizard'"):
        parse_tokens("x:wizard", production=False)
    with pytest.raises(ValueError, match="customer id"):
        parse_tokens("x:customer", production=False)


def test_development_tokens_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="production"):
        parse_tokens(DEV_TOKENS, production=True)
    with pytest.raises(ValueError, match="dev-x"):
        parse_tokens("dev-x:agent", production=True)
    assert parse_tokens("k7f2:agent", production=True)["k7f2"].role == "agent"


def test_the_routing_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given weights set by an operator
    monkeypatch.setenv("OMS_ROUTING_SAME_DAY_RADIUS_KM", "80")
    monkeypatch.setenv("OMS_ROUTING_MAX_FULFILLMENT_ORDERS", "2")
    settings = Settings()
    # when the worker builds its activities
    allocation = next(a for a in build_activities(settings, create_engine("sqlite://")) if a.__name__ == "allocate")
    # then its routing policy carries them
    policy = allocation.__self__._policy  # type: ignore[attr-defined]
    assert (policy.same_day_radius_km, policy.max_fulfillment_orders, policy.split_penalty_km) == (80, 2, 200)
