"""/console/insights on the real app, with the figures stood in for: the charts carry the right numbers (in bars,
in their descriptions and in the tables beside them), the orders needing a person link to their page, and only
operators see it."""

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from starter.api.app import create_app
from starter.settings import Settings
from starter.web.charts import LABEL_WIDTH, VALUE_WIDTH, WIDTH
from starter.web.insights_page import insight_queries
from starter.web.portals import CONSOLE
from store.insights import AttentionItem, Count, Insights, PhaseTime
from tests.pages import sign_in

TOKENS = "t-operator:operator,t-agent:agent,t-c1:customer:C-1"
SVG = "{http://www.w3.org/2000/svg}"
SPAN = WIDTH - LABEL_WIDTH - VALUE_WIDTH
HOUR = 3600.0

FIGURES = Insights(
    since=None,
    until=None,
    total=10,
    by_status=[Count(label="accepted", count=2), Count(label="delivered", count=6), Count(label="canceled", count=2)],
    by_channel=[Count(label="web", count=7), Count(label="app", count=3)],
    phases=[
        PhaseTime(phase="placed → shipped", orders=8, p50_seconds=2 * HOUR, p90_seconds=8 * HOUR),
        PhaseTime(phase="shipped → delivered", orders=6, p50_seconds=24 * HOUR, p90_seconds=48 * HOUR),
        PhaseTime(phase="placed → delivered", orders=6, p50_seconds=26 * HOUR, p90_seconds=56 * HOUR),
    ],
    attention_count=1,
    attention=[
        AttentionItem(order_id="W-7", status="shipped", reason="carrier silent", since=datetime(2025, 1, 2, tzinfo=UTC))
    ],
)


class Figures:
    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def snapshot(self, since: datetime | None = None, until: datetime | None = None) -> Insights:
        self.asked.append({"since": since, "until": until})
        return FIGURES


@pytest.fixture
def figures() -> Figures:
    return Figures()


@pytest.fixture
def http(figures: Figures) -> Iterator[TestClient]:
    app = create_app(Settings(env="test", tokens=TOKENS))
    app.dependency_overrides[insight_queries] = lambda: figures
    yield TestClient(app)


def charts_of(html: str) -> dict[str, ET.Element]:
    """Every inline SVG of the page, by id."""
    found = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    return {svg.attrib["id"]: svg for svg in map(ET.fromstring, found)}


def bars_of(svg: ET.Element) -> dict[str, float]:
    return {
        rect.findtext(f"{SVG}title") or "": float(rect.attrib["width"])
        for rect in svg.iter(f"{SVG}rect")
        if rect.attrib.get("class") == "bar"
    }


def test_an_operator_sees_each_chart_with_the_right_numbers(http: TestClient) -> None:
    # given an operator signed in
    sign_in(http, CONSOLE, "t-operator")
    # when they open the insights
    page = http.get("/console/insights")
    assert page.status_code == 200, page.text
    charts = charts_of(page.text)
    # then orders by status are bars in proportion (6 delivered fill the span), titled and described
    status = charts["by-status"]
    third = round(SPAN / 3, 1)
    assert bars_of(status) == {"accepted: 2": third, "delivered: 6": SPAN, "canceled: 2": third}
    assert status.findtext(f"{SVG}title") == "Orders by status"
    assert status.findtext(f"{SVG}desc") == "10 orders by status: accepted 2, delivered 6, canceled 2."
    # and by channel
    assert bars_of(charts["by-channel"]) == {"web: 7": SPAN, "app: 3": round(SPAN * 3 / 7, 1)}
    # and the time per phase: the median and the 90th percentile on one scale (56 h is the longest)
    phases = bars_of(charts["phase-times"])
    assert phases["placed → shipped, median (p50): 2.0 h"] == round(SPAN * 2 / 56, 1)
    assert phases["placed → delivered, 90th percentile: 2.3 d"] == SPAN
    # and the same figures are in the tables beside them
    assert '<td>delivered</td><td class="number">6</td>' in page.text
    assert '<td>web</td><td class="number">7</td>' in page.text
    assert (
        '<td>shipped → delivered</td><td class="number">6</td><td class="number">1.0 d</td>'
        '<td class="number">2.0 d</td>' in page.text
    )


def test_the_orders_needing_a_person_are_counted_and_link_to_their_page(http: TestClient) -> None:
    sign_in(http, CONSOLE, "t-operator")
    page = http.get("/console/insights")
    assert "Orders needing attention: 1" in page.text
    assert '<a href="/console/orders/W-7">W-7</a>' in page.text
    assert "carrier silent" in page.text


def test_a_window_of_days_asks_for_the_orders_placed_since_then(http: TestClient, figures: Figures) -> None:
    sign_in(http, CONSOLE, "t-operator")
    before = datetime.now(UTC)
    assert http.get("/console/insights", params={"days": 7}).status_code == 200
    [asked] = figures.asked
    assert asked["since"] is not None and 6.99 < (before - asked["since"]).total_seconds() / 86400 < 7.01


def test_an_agent_is_refused_the_insights(http: TestClient, figures: Figures) -> None:
    # given an agent signed in to the console
    sign_in(http, CONSOLE, "t-agent")
    # when they open the insights, then they are told it is not theirs, and no figure was read
    page = http.get("/console/insights")
    assert page.status_code == 403
    assert "operator" in page.text
    assert figures.asked == []


def test_nobody_signed_in_is_sent_to_the_consoles_sign_in(http: TestClient) -> None:
    answer = http.get("/console/insights", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")
