"""Charts as server-rendered SVG: pure functions from figures to markup, no script and no library.

Each chart is an image with a <title> and a <desc> a screen reader announces (`role="img"`, `aria-labelledby`);
the page shows the same figures in a table beside it. Every text that reaches the markup is escaped.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 560
LABEL_WIDTH = 170
VALUE_WIDTH = 70
ROW_HEIGHT = 26
BAR_HEIGHT = 16
PAD = 8
# the two series of a paired chart (the median, then the 90th percentile), told apart by shade and legend
SERIES_COLOURS = ("#2b6cb0", "#9ab7dd")
BAR_COLOUR = SERIES_COLOURS[0]
# a generous width of one character of the legend, so the next entry never runs into the name before it
LEGEND_CHAR_WIDTH = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    # the value as a person reads it ("12", "3.5 h")
    text: str


@dataclass(frozen=True)
class PairedBar:
    """One row of two figures (each None when there is none), as `series` of the chart names them."""

    label: str
    values: tuple[float | None, float | None]
    texts: tuple[str, str]


def bar_length(value: float, maximum: float, span: float) -> float:
    """How long a bar of `value` is when `maximum` fills `span`; nothing for nothing (or a chart of zeros)."""
    if maximum <= 0 or value <= 0:
        return 0.0
    return round(span * min(value, maximum) / maximum, 1)


def format_duration(seconds: float | None) -> str:
    """A duration as a person reads it on a chart: seconds, minutes, hours or days; a dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _frame(chart_id: str, title: str, description: str, height: float, body: list[str]) -> Markup:
    heading = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'width="{WIDTH}" height="{height:g}" viewBox="0 0 {WIDTH} {height:g}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )
    return Markup(heading + "".join(body) + "</svg>")


def _label(y: float, text: str) -> str:
    return f'<text x="{LABEL_WIDTH - PAD}" y="{y:g}" text-anchor="end" dominant-baseline="middle">{escape(text)}</text>'


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one row each, the longest filling the width; each bar names its value at its end."""
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    maximum = max((bar.value for bar in bars), default=0.0)
    body: list[str] = []
    for row, bar in enumerate(bars):
        top = PAD + row * ROW_HEIGHT
        middle = top + ROW_HEIGHT / 2
        length = bar_length(bar.value, maximum, span)
        body.append(_label(middle, bar.label))
        body.append(
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{middle - BAR_HEIGHT / 2:g}" width="{length:g}" '
            f'height="{BAR_HEIGHT}" fill="{BAR_COLOUR}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
        )
        body.append(
            f'<text class="value" x="{LABEL_WIDTH + length + PAD:g}" y="{middle:g}" '
            f'dominant-baseline="middle">{escape(bar.text)}</text>'
        )
    if not bars:
        body.append(f'<text x="{PAD}" y="{PAD + ROW_HEIGHT / 2:g}" dominant-baseline="middle">No orders yet</text>')
    height = PAD * 2 + max(len(bars), 1) * ROW_HEIGHT
    return _frame(chart_id, title, description, height, body)


def paired_bar_chart(
    chart_id: str, title: str, description: str, series: tuple[str, str], rows: Sequence[PairedBar]
) -> Markup:
    """Two bars a row (e.g. the median and the 90th percentile), on one scale, with a legend naming each shade.
    A figure that is None draws no bar and says so."""
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    maximum = max((v for row in rows for v in row.values if v is not None), default=0.0)
    legend_height = ROW_HEIGHT
    body: list[str] = []
    x = float(LABEL_WIDTH)
    for name, colour in zip(series, SERIES_COLOURS, strict=True):
        body.append(f'<rect x="{x:g}" y="{PAD}" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="{x + 18:g}" y="{PAD + 6}" dominant-baseline="middle">{escape(name)}</text>')
        x += 18 + len(name) * LEGEND_CHAR_WIDTH + 24
    pair_height = ROW_HEIGHT * 2
    for row_index, row in enumerate(rows):
        top = PAD + legend_height + row_index * pair_height
        body.append(_label(top + pair_height / 2, row.label))
        for index, (value, text, name, colour) in enumerate(
            zip(row.values, row.texts, series, SERIES_COLOURS, strict=True)
        ):
            middle = top + ROW_HEIGHT * index + ROW_HEIGHT / 2
            length = bar_length(value or 0.0, maximum, span)
            shown = text if value is not None else "no orders yet"
            body.append(
                f'<rect class="bar" x="{LABEL_WIDTH}" y="{middle - BAR_HEIGHT / 2:g}" width="{length:g}" '
                f'height="{BAR_HEIGHT}" fill="{colour}">'
                f"<title>{escape(row.label)}, {escape(name)}: {escape(shown)}</title></rect>"
            )
            body.append(
                f'<text class="value" x="{LABEL_WIDTH + length + PAD:g}" y="{middle:g}" '
                f'dominant-baseline="middle">{escape(shown)}</text>'
            )
    height = PAD * 2 + legend_height + max(len(rows), 1) * pair_height
    return _frame(chart_id, title, description, height, body)
