"""Configuration parsing: durations, tokens and the routing policy."""

from datetime import timedelta

import pytest
from sqlalchemy import create_engine

from starter.api.app import create_app
from starter.api.auth import Principal, find_principal, parse_tokens
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
    assert parse_tokens("k7f2" * 8 + ":agent", production=True)["k7f2" * 8].role == "agent"


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


def test_agent_and_partner_tokens_name_who_holds_them() -> None:
    # given an agent token with its id, a bare one, a scoped partner token and an unscoped one
    tokens = parse_tokens("a1:agent:A-7,a0:agent,p1:partner:DC-TOKYO,p0:partner", production=False)
    # then the timeline names the agent, and a bare agent token stays "agent"
    assert (tokens["a1"].actor, tokens["a0"].actor) == ("agent:A-7", "agent")
    # and a scoped partner speaks for its own partner only, an unscoped one for all
    assert tokens["p1"].speaks_for("DC-TOKYO") and not tokens["p1"].speaks_for("DC-OSAKA")
    assert tokens["p0"].speaks_for("DC-OSAKA") and tokens["p0"].speaks_for("yamato")
    assert not tokens["a1"].speaks_for("DC-TOKYO")


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("s1:storefront:S-1", "only customer, agent and partner"),
        ("a1:agent:", "not empty"),
        ("x:agent,x:operator", "twice"),
    ],
)
def test_token_entries_that_say_too_much_or_twice_are_refused(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_tokens(spec, production=False)


LONG = "k" * 32


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (f"{LONG}:agent,short-token-of-31-characters-x:operator", "entry 2 .*shorter than 32"),
        (f"{LONG}:partner", "unscoped partner token is refused"),
        (f"{LONG}:agent,dev-agent:agent", "dev-agent"),
    ],
)
def test_production_refuses_short_unscoped_partner_and_development_tokens(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        parse_tokens(spec, production=True)
    # and a production message never shows a token that is not a development one
    assert LONG not in str(refused.value)
    assert "short-token" not in str(refused.value)


def test_production_takes_long_scoped_tokens() -> None:
    tokens = parse_tokens(f"{LONG}:partner:DC-TOKYO,{'a' * 40}:agent:A-7", production=True)
    assert tokens[LONG] == Principal("partner", partner_id="DC-TOKYO")


@pytest.mark.parametrize(
    ("env", "production"),
    [
        ("development", False),
        ("test", False),
        ("prod", True),
        ("production", True),
        ("staging", True),
        ("Development", True),
    ],
)
def test_every_environment_but_development_and_test_is_production(env: str, production: bool) -> None:
    assert Settings(env=env).production is production


def test_the_api_does_not_start_in_prod_with_the_development_tokens() -> None:
    # given OMS_ENV=prod, once taken for development, and the default (development) tokens
    settings = Settings(env="prod")
    # when the API is built, then it refuses to start, saying why
    with pytest.raises(ValueError, match="development tokens are refused in production"):
        create_app(settings)


def test_a_presented_token_is_found_only_when_it_is_exactly_a_configured_one() -> None:
    tokens = parse_tokens(f"{LONG}:operator,{'b' * 32}:agent:A-7", production=False)
    assert find_principal(tokens, "b" * 32) == Principal("agent", agent_id="A-7")
    for forged in ("", LONG[:-1], LONG + "k", "b" * 31, LONG.upper()):
        assert find_principal(tokens, forged) is None


def test_the_token_lookup_is_not_a_dictionary_get() -> None:
    # given a token table that refuses to be looked up by key (a dict get is not constant-time)
    class NoKeyLookup(dict[str, Principal]):
        def get(self, *_: object) -> None:  # type: ignore[override]
            raise AssertionError("looked up by key")

        def __getitem__(self, _: str) -> Principal:
            raise AssertionError("looked up by key")

        def __contains__(self, _: object) -> bool:
            raise AssertionError("looked up by key")

    tokens = NoKeyLookup(parse_tokens(f"{LONG}:operator", production=False))
    # when a request presents the token, then it is still found, by comparing with every token
    assert find_principal(tokens, LONG) == Principal("operator")
