"""The insights' SVG charts: what a person sees (bars in proportion, values written out) and what a screen reader
announces (title and description), from the figures alone."""

import xml.etree.ElementTree as ET

import pytest

from starter.web.charts import (
    LABEL_WIDTH,
    VALUE_WIDTH,
    WIDTH,
    Bar,
    PairedBar,
    bar_chart,
    bar_length,
    format_duration,
    paired_bar_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
SPAN = WIDTH - LABEL_WIDTH - VALUE_WIDTH


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def bars_of(svg: ET.Element) -> list[tuple[float, str]]:
    """(width, tooltip) of every bar, top to bottom."""
    return [
        (float(rect.attrib["width"]), rect.findtext(f"{SVG}title") or "")
        for rect in svg.iter(f"{SVG}rect")
        if rect.attrib.get("class") == "bar"
    ]


def test_the_longest_bar_fills_the_span_and_the_others_are_in_proportion() -> None:
    # given three statuses counted 10, 5 and 0
    bars = [Bar("delivered", 10, "10"), Bar("shipped", 5, "5"), Bar("canceled", 0, "0")]
    # when they are drawn
    svg = parsed(bar_chart("status", "Orders by status", "3 statuses", bars))
    # then the bars are 1, 1/2 and nothing of the span, each saying its figure
    assert bars_of(svg) == [(SPAN, "delivered: 10"), (SPAN / 2, "shipped: 5"), (0.0, "canceled: 0")]
    assert [t.text for t in svg.iter(f"{SVG}text") if t.attrib.get("class") == "value"] == ["10", "5", "0"]


def test_a_chart_is_an_image_with_a_title_and_a_description_a_screen_reader_reads() -> None:
    # when a chart is drawn
    svg = parsed(bar_chart("by-channel", "Orders by channel", "web 3, app 2", [Bar("web", 3, "3")]))
    # then it is announced as an image labelled by its own title and description
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-labelledby"] == "by-channel-title by-channel-desc"
    assert svg.find(f"{SVG}title").text == "Orders by channel"  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").text == "web 3, app 2"  # type: ignore[union-attr]


def test_text_in_a_chart_is_escaped() -> None:
    # given a label with markup in it
    markup = bar_chart("x", "<b>", "a & b", [Bar("<script>alert(1)</script>", 1, "1")])
    # then it reaches the SVG as text, never as an element
    assert "<script>" not in markup
    svg = parsed(markup)
    assert svg.find(f"{SVG}title").text == "<b>"  # type: ignore[union-attr]
    assert not list(svg.iter(f"{SVG}script"))


def test_a_chart_of_nothing_says_so() -> None:
    svg = parsed(bar_chart("empty", "Orders by status", "no orders", []))
    assert bars_of(svg) == []
    assert "No orders yet" in [t.text for t in svg.iter(f"{SVG}text")]


def test_paired_bars_share_one_scale_and_a_missing_figure_draws_no_bar() -> None:
    # given two phases: one with a median of 1 h and a p90 of 4 h, one nobody went through yet
    rows = [
        PairedBar("placed → shipped", (3600, 14400), ("1.0 h", "4.0 h")),
        PairedBar("shipped → delivered", (None, None), ("—", "—")),
    ]
    # when drawn
    svg = parsed(paired_bar_chart("phases", "Time per phase", "p50 and p90", ("median (p50)", "90th percentile"), rows))
    # then the p90 fills the span, the median is a quarter of it, and the empty phase has no bars but says why
    assert bars_of(svg) == [
        (SPAN / 4, "placed → shipped, median (p50): 1.0 h"),
        (SPAN, "placed → shipped, 90th percentile: 4.0 h"),
        (0.0, "shipped → delivered, median (p50): no orders yet"),
        (0.0, "shipped → delivered, 90th percentile: no orders yet"),
    ]
    # and the legend names both series, the second starting past the end of the first's name
    legend = [t for t in svg.iter(f"{SVG}text") if t.text in ("median (p50)", "90th percentile")]
    assert [t.text for t in legend] == ["median (p50)", "90th percentile"]
    assert float(legend[1].attrib["x"]) - float(legend[0].attrib["x"]) > len("median (p50)") * 7


@pytest.mark.parametrize(
    ("value", "maximum", "length"), [(5, 10, 50.0), (10, 10, 100.0), (0, 10, 0.0), (3, 0, 0.0), (20, 10, 100.0)]
)
def test_bar_length(value: float, maximum: float, length: float) -> None:
    assert bar_length(value, maximum, 100) == length


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (42, "42 s"), (600, "10 min"), (5400, "1.5 h"), (3 * 86400, "3.0 d")],
)
def test_a_duration_reads_in_the_unit_that_suits_it(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
