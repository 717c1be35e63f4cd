"""`oms export`: a day's invoices and credit memos for an ERP, as CSV (one row per document and tax rate, the form
an accounting import takes) and as JSON (each document as issued).

Reads the database in OMS_DATABASE_URL directly, like the other operator commands beside the stack.
"""

import argparse
import csv
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starter.cli_common import SubParsers, get_settings

CSV_FIELDS = (
    "number",
    "kind",
    "order_id",
    "issued_at",
    "currency",
    "customer_id",
    "customer_name",
    "total",
    "tax_total",
    "rate",
    "taxable",
    "tax",
)


def csv_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rate of each document; a document without rates (a country the tax rules do not know) has one
    row with its totals and no rate."""
    rows = []
    for doc in docs:
        head = {
            "number": doc["number"],
            "kind": doc["kind"],
            "order_id": doc["order_id"],
            "issued_at": doc["issued_at"],
            "currency": doc["currency"],
            "customer_id": doc["buyer"]["customer"]["id"],
            "customer_name": doc["buyer"]["customer"]["name"],
            "total": doc["total"],
            "tax_total": doc["tax_total"],
        }
        rates = doc["tax"] or [{"rate": "", "taxable": doc["total"], "tax": "0"}]
        rows += [{**head, "rate": r["rate"], "taxable": r["taxable"], "tax": r["tax"]} for r in rates]
    return rows


def write_export(docs: list[dict[str, Any]], day: date, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"documents-{day.isoformat()}.csv", out / f"documents-{day.isoformat()}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(docs))
    json_path.write_text(json.dumps(docs, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


def _export(args: argparse.Namespace) -> int:
    from store.db import make_engine
    from store.document_queries import DocumentQueries

    day = date.fromisoformat(args.day)
    start = datetime.combine(day, time(), tzinfo=ZoneInfo(args.tz))
    engine = make_engine(get_settings().require_database_url(), pool_size=1)
    try:
        docs = DocumentQueries(engine).issued_between(start, start + timedelta(days=1))
    finally:
        engine.dispose()
    csv_path, json_path = write_export(docs, day, Path(args.out))
    print(f"{len(docs)} documents issued on {day.isoformat()} ({args.tz}): {csv_path}, {json_path}")
    return 0


def add_export_commands(sub: SubParsers) -> None:
    export = sub.add_parser("export", help="a day's invoices and credit memos as CSV and JSON for an ERP")
    export.add_argument("--day", required=True, help="YYYY-MM-DD")
    export.add_argument("--out", required=True, help="the directory the files are written to")
    export.add_argument("--tz", default="Asia/Tokyo", help="the time zone the day is in (default Asia/Tokyo)")
    export.set_defaults(handler=_export)
