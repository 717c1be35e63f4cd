"""Reading invoices and credit memos back: as issued, from their snapshot."""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select

from store.document_tables import documents


class DocumentReader(Protocol):
    def of_order(self, order_id: str) -> list[dict[str, Any]]: ...

    def get(self, number: str) -> dict[str, Any] | None: ...


class DocumentQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def of_order(self, order_id: str) -> list[dict[str, Any]]:
        """The order's documents, oldest first, each as it was issued."""
        query = select(documents.c.snapshot).where(documents.c.order_id == order_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(documents.c.issued_at, documents.c.number)).scalars()
            return [dict(row) for row in rows]

    def get(self, number: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            found = conn.execute(select(documents.c.snapshot).where(documents.c.number == number)).scalar()
        return None if found is None else dict(found)

    def issued_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every document issued in [start, end), by series then number: an export's rows in a stable order."""
        query = select(documents.c.snapshot).where(documents.c.issued_at >= start, documents.c.issued_at < end)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(documents.c.series, documents.c.sequence)).scalars()
            return [dict(row) for row in rows]
