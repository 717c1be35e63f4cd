"""An invoice or credit memo as a person reads it: HTML from a Jinja2 template, and a PDF drawn with reportlab's
built-in Japanese CID font (no font file to ship). Both from the document's snapshot, so they never change."""

import io
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from starter.web.templating import TEMPLATES

FONT = "HeiseiKakuGo-W5"
TITLES = {"invoice": "適格請求書", "credit_memo": "適格返還請求書"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def percent(rate: str | None) -> str:
    return "" if rate is None else f"{(Decimal(rate) * 100).normalize():f}%"


def html(doc: dict[str, Any]) -> str:
    return _env.get_template("document.html").render(doc=doc, title=TITLES[doc["kind"]], percent=percent)


def text_lines(doc: dict[str, Any]) -> list[str]:
    """What the PDF says, line by line."""
    seller, buyer, address = doc["seller"], doc["buyer"]["customer"], doc["buyer"]["address"]
    lines = [
        TITLES[doc["kind"]],
        f"番号: {doc['number']}  発行日: {doc['issued_at'][:10]}  注文番号: {doc['order_id']}",
        f"発行者: {seller['name']}  {seller['address']}",
        f"登録番号: {seller['registration_number']}",
        f"宛先: {buyer['name']} 様  〒{address['postal_code']} {address['city']} {address['line1']}",
        "",
    ]
    for line in doc["lines"]:
        mark = " ※軽減税率" if line["rate"] == "0.08" else ""
        priced = f"{line['quantity']} x {line['unit_price']} = {line['amount']}"
        lines.append(f"{line['sku']}  {priced}  {percent(line['rate'])}{mark}")
    lines.append("")
    lines += [f"{percent(r['rate'])} 対象 {r['taxable']}  消費税 {r['tax']}" for r in doc["tax"]]
    lines.append(f"合計: {doc['total']} {doc['currency']}(うち消費税 {doc['tax_total']})")
    if doc.get("reason"):
        lines.append(f"理由: {doc['reason']}")
    return lines + _terms_lines(doc)


def _terms_lines(doc: dict[str, Any]) -> list[str]:
    """An invoice on account says which purchase order it answers and by when it is to be paid."""
    payment = doc.get("payment") or {}
    lines = []
    if payment.get("method") == "invoice":
        lines.append(f"取引先: {payment['account_id']}  支払条件: {payment['terms']}  支払期日: {payment['due_date']}")
        if payment.get("purchase_order"):
            lines.append(f"発注番号: {payment['purchase_order']}")
    if doc.get("requested_delivery_date"):
        lines.append(f"希望納品日: {doc['requested_delivery_date']}")
    return lines


def pdf(doc: dict[str, Any]) -> bytes:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setTitle(f"{TITLES[doc['kind']]} {doc['number']}")
    height = A4[1]
    y = height - 60
    for n, line in enumerate(text_lines(doc)):
        canvas.setFont(FONT, 16 if n == 0 else 10)
        canvas.drawString(50, y, line)
        y -= 24 if n == 0 else 16
        if y < 50:
            canvas.showPage()
            y = height - 60
    canvas.save()
    return out.getvalue()
