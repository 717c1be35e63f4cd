"""/console/insights: how many orders are in each status and channel, how long they spend in each phase, and
which need a person, as charts with the same figures in tables.

For operators only. Agents work one order or customer at a time and find the orders needing a person from the
console's search (attention); figures across every order are an operator's, so an agent gets the refusal page.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from starter.api.orders import Svc
from starter.web.charts import Bar, PairedBar, bar_chart, format_duration, paired_bar_chart
from starter.web.portals import CONSOLE
from starter.web.session import PageUser, page_user
from starter.web.templating import render
from store.insights import Count, InsightQueries, Insights, PhaseTime

router = APIRouter()
Operator = Annotated[PageUser, page_user(CONSOLE, "operator")]
# the windows a person may choose, in days; none: every order
WINDOWS = (7, 30, 90)


def insight_queries(svc: Svc) -> InsightQueries:
    return InsightQueries(svc.engine)


Queries = Annotated[InsightQueries, Depends(insight_queries)]


def words(label: str) -> str:
    return label.replace("_", " ")


def describe_counts(what: str, counts: Sequence[Count]) -> str:
    """What a count chart shows, in one sentence a screen reader reads out."""
    total = sum(c.count for c in counts)
    if not counts:
        return f"No orders to count by {what}."
    parts = ", ".join(f"{words(c.label)} {c.count}" for c in counts)
    return f"{total} orders by {what}: {parts}."


def describe_phases(phases: Sequence[PhaseTime]) -> str:
    parts = [
        f"{p.phase}: median {format_duration(p.p50_seconds)}, 90th percentile {format_duration(p.p90_seconds)} "
        f"over {p.orders} orders"
        for p in phases
    ]
    return "Time orders spend in each phase. " + "; ".join(parts) + "."


def count_chart(chart_id: str, title: str, what: str, counts: Sequence[Count]) -> Markup:
    bars = [Bar(words(c.label), c.count, str(c.count)) for c in counts]
    return bar_chart(chart_id, title, describe_counts(what, counts), bars)


def phase_chart(phases: Sequence[PhaseTime]) -> Markup:
    rows = [
        PairedBar(
            p.phase,
            (p.p50_seconds, p.p90_seconds),
            (format_duration(p.p50_seconds), format_duration(p.p90_seconds)),
        )
        for p in phases
    ]
    return paired_bar_chart(
        "phase-times", "Time spent per phase", describe_phases(phases), ("median (p50)", "90th percentile"), rows
    )


def charts(insights: Insights) -> dict[str, Markup]:
    return {
        "status": count_chart("by-status", "Orders by status", "status", insights.by_status),
        "channel": count_chart("by-channel", "Orders by channel", "channel", insights.by_channel),
        "phases": phase_chart(insights.phases),
    }


@router.get("/console/insights", response_class=HTMLResponse)
def insights_page(
    request: Request,
    queries: Queries,
    user: Operator,
    days: Annotated[int | None, Query(ge=1, le=3650, description="orders placed in the last this many days")] = None,
) -> HTMLResponse:
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    insights = queries.snapshot(since=since)
    return render(
        request,
        "console/insights.html",
        insights=insights,
        charts=charts(insights),
        days=days,
        windows=WINDOWS,
        duration=format_duration,
        words=words,
    )
