"""Configuration parsing: return windows and tokens."""

from datetime import timedelta

import pytest

from starter.api.auth import Principal, parse_tokens
from starter.settings import DEV_TOKENS, parse_duration


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
