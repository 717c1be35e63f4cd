"""The fraud screen's rules come from the merchant's settings, per currency, and a typo fails at start."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.fraud import screen
from starter.settings import Settings
from tests.orders import place_order


def test_the_rules_per_currency_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a merchant whose yen orders are large above 100,000 and whose dollars belong in the US
    monkeypatch.setenv("OMS_FRAUD_LARGE_ORDERS", "JPY:100000, usd:2000")
    monkeypatch.setenv("OMS_FRAUD_HOME_COUNTRIES", "JPY:JP,USD:US")
    monkeypatch.setenv("OMS_FRAUD_REVIEW_THRESHOLD", "50")
    # when the settings are read
    rules = Settings().fraud_rules
    # then the screen uses them
    assert rules.large_order == {"JPY": Decimal(100_000), "USD": Decimal(2000)}
    assert rules.home_country == {"JPY": "JP", "USD": "US"}
    scored = screen(place_order(lines=[{"sku": "LEGO-76419", "quantity": 5, "unit_price": "24980"}]), rules)
    assert scored.reasons == ["large order"] and not scored.needs_review


@pytest.mark.parametrize("variable", ["OMS_FRAUD_LARGE_ORDERS", "OMS_FRAUD_HOME_COUNTRIES"])
def test_rules_that_do_not_parse_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # given a setting with a typo
    monkeypatch.setenv(variable, "JPY500000")
    # when the settings are read, then they are refused, naming the setting
    with pytest.raises(ValidationError, match="CURRENCY:VALUE"):
        Settings()


def test_an_order_screened_by_the_default_rules_scores_as_before() -> None:
    # given the rules of orders placed before they were configurable, and a large bulk order to another name
    order = place_order(
        lines=[{"sku": "LEGO-76419", "quantity": 25, "unit_price": "24980"}],
        shipping_address={
            "name": "Someone Else",
            "line1": "1-1",
            "city": "Chiyoda",
            "postal_code": "100-0005",
            "country": "JP",
        },
    )
    # when it is screened, then the score is the same as it always was: 40 + 25 + 10
    assert screen(order).score == 75 and screen(order).needs_review
