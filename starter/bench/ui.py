"""What a person watches during a run (rich progress bars on stderr) and reads at its end (rich tables)."""

import io
import sys
from collections.abc import Sequence

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

progress_console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Orders finished per second since the workload began."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:6.1f}/s", style="progress.data.speed")


class FailedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        failed = int(task.fields.get("failed", 0))
        return Text(f"{failed} failed" if failed else "", style="red")


def workload_progress() -> Progress:
    """One bar per workload, kept on screen once done; shown only when stderr is a terminal."""
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        FailedColumn(),
        console=progress_console,
        disable=not progress_console.is_terminal,
    )


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1) -> Table:
    """A table whose first `left` columns name or describe the row, and whose others are figures, right-aligned."""
    out = Table(title=title, title_justify="left", title_style="bold", caption_justify="left")
    for n, name in enumerate(columns):
        out.add_column(name, justify="left" if n < left else "right")
    for row in rows:
        out.add_row(*(cell if isinstance(cell, Text) else Text(_cell(cell)) for cell in row))
    return out


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000 or value == int(value):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.0f}"
        return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def to_text(renderables: Sequence[RenderableType], width: int = 110) -> str:
    """Render for print(): with colour on a terminal, plain text otherwise (a log, a pipe)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=sys.stdout.isatty(), highlight=False)
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()
