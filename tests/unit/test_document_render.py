"""An invoice and a credit memo as a person reads them: HTML and PDF, in Japanese, from the snapshot as issued."""

import io
from typing import Any

from pypdf import PdfReader

from starter.api import document_render

INVOICE: dict[str, Any] = {
    "number": "INV-2026-000007",
    "kind": "invoice",
    "order_id": "W-1",
    "issued_at": "2026-11-01T09:00:00Z",
    "currency": "JPY",
    "seller": {"name": "株式会社デモストア", "registration_number": "T1234567890123", "address": "東京都千代田区"},
    "buyer": {
        "customer": {"id": "C-1", "name": "佐藤 愛子"},
        "address": {
            "name": "佐藤 愛子",
            "line1": "梅田2-2",
            "city": "大阪市",
            "postal_code": "530-0001",
            "country": "JP",
        },
    },
    "lines": [
        {"sku": "TEA-1", "quantity": 3, "unit_price": "105", "amount": "315", "rate": "0.08"},
        {"sku": "TOY-1", "quantity": 1, "unit_price": "1100", "amount": "1100", "rate": "0.10"},
    ],
    "tax": [{"rate": "0.08", "taxable": "315", "tax": "23"}, {"rate": "0.10", "taxable": "1100", "tax": "100"}],
    "prices_include_tax": True,
    "total": "1415",
    "tax_total": "123",
    "reason": None,
}


def test_the_html_says_what_a_qualified_invoice_must_in_japanese() -> None:
    # when the invoice is rendered as HTML
    page = document_render.html(INVOICE)
    # then it has its title, number, seller's registration number, buyer, and tax per rate with the reduced mark
    for words in ("適格請求書", "INV-2026-000007", "T1234567890123", "佐藤 愛子 様", "8%", "10%", "※軽減税率", "23"):
        assert words in page
    assert '<html lang="ja">' in page


def test_the_html_escapes_what_the_customer_typed() -> None:
    # given a buyer whose name is markup
    doc = {**INVOICE, "buyer": {**INVOICE["buyer"], "customer": {"id": "C-1", "name": "<script>x</script>"}}}
    # then it is shown as text, not run
    assert "<script>" not in document_render.html(doc)


def test_the_pdf_carries_the_japanese_text_in_a_cid_font() -> None:
    # when a credit memo is rendered as PDF
    memo = {**INVOICE, "kind": "credit_memo", "number": "CRN-2026-000002", "lines": [], "reason": "配送遅延"}
    reader = PdfReader(io.BytesIO(document_render.pdf(memo)))
    # then its text reads back in Japanese: its title, the seller's registration number, the reason
    text = "".join(page.extract_text() for page in reader.pages)
    for words in ("適格返還請求書", "CRN-2026-000002", "登録番号", "T1234567890123", "配送遅延", "消費税"):
        assert words in text
    # and it is set in the built-in Japanese font, so no font file is needed
    resources: Any = reader.pages[0]["/Resources"]
    fonts = resources.get_object()["/Font"].get_object()
    assert any("HeiseiKakuGo-W5" in str(font.get_object()["/BaseFont"]) for font in fonts.values())
