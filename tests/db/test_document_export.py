"""`oms export`: a day's documents, in the merchant's time zone, as CSV rows per rate and JSON as issued."""

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from starter.cli import run
from starter.settings import get_settings as load_settings
from store.order_projection import OrderProjection
from tests.db.test_documents import invoiced_order

pytestmark = pytest.mark.db


def test_a_days_documents_are_exported_for_the_erp(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given an order invoiced at 23:30 UTC on May 31st, June 1st in Tokyo, and one invoiced a day later
    inside, *batches = invoiced_order(datetime(2032, 5, 31, 23, 30, tzinfo=UTC))
    later, *later_batches = invoiced_order(datetime(2032, 6, 2, 1, 0, tzinfo=UTC))
    for batch in [*batches, *later_batches]:
        assert OrderProjection(engine).project(batch) is None
    monkeypatch.setenv("OMS_DATABASE_URL", database_url)
    load_settings.cache_clear()
    try:
        # when June 1st is exported (Tokyo's day, the default)
        assert run(["export", "--day", "2032-06-01", "--out", str(tmp_path)]) == 0
    finally:
        load_settings.cache_clear()
    # then the CSV has the first order's invoice, one row per rate, and not the later one
    with (tmp_path / "documents-2032-06-01.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {row["order_id"] for row in rows} == {inside.order_id}
    assert [(row["kind"], row["rate"], row["taxable"], row["tax"]) for row in rows] == [
        ("invoice", "0.08", "315", "23"),
        ("invoice", "0.10", "1100", "100"),
    ]
    assert rows[0]["number"].startswith("INV-2032-") and rows[0]["total"] == "1415"
    # and the JSON has the invoice as issued, its seller's registration number with it
    (doc,) = json.loads((tmp_path / "documents-2032-06-01.json").read_text(encoding="utf-8"))
    assert doc["number"] == rows[0]["number"] and doc["seller"]["registration_number"].startswith("T")
    assert later.order_id not in {row["order_id"] for row in rows}
