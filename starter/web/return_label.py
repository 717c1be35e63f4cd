"""A mail return's label as a printable SVG: the label number as text and as bars, the return number, and what
goes in the parcel. A pure function of the return, so the same return always prints the same label."""

from collections.abc import Sequence

from markupsafe import escape

WIDTH = 400
HEIGHT = 240
# bars drawn per character of the label number: one per low bit, so two labels differ in their bars too
_BITS = 6


def bars(label: str) -> list[tuple[float, float]]:
    """(x, width) of each dark bar for `label`: per character, its low bits, a thick bar for a 1, a thin for a 0."""
    x = 20.0
    drawn: list[tuple[float, float]] = []
    for char in label:
        code = ord(char)
        for bit in range(_BITS):
            width = 3.0 if code >> bit & 1 else 1.0
            drawn.append((x, width))
            x += width + 1.5
        x += 3.0  # a gap between characters
    return drawn


def label_svg(order_id: str, rma: str, label: str, carrier: str, lines: Sequence[tuple[str, int]]) -> str:
    """The label of return `rma` of `order_id`, sent with `carrier` (its public name)."""
    code = bars(label)
    scale = min(1.0, (WIDTH - 40) / max(code[-1][0] + code[-1][1] - 20, 1)) if code else 1.0
    rects = "".join(
        f'<rect x="{20 + (x - 20) * scale:.1f}" y="70" width="{w * scale:.1f}" height="60" fill="#000"/>'
        for x, w in code
    )
    items = ", ".join(f"{quantity} x {sku}" for sku, quantity in lines)
    text = escape
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="label-title label-desc">'
        f'<title id="label-title">Return label {text(label)}</title>'
        f'<desc id="label-desc">Return {text(rma)} of order {text(order_id)} by {text(carrier)}: {text(items)}</desc>'
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{HEIGHT - 2}" fill="#fff" stroke="#000" stroke-width="2"/>'
        f'<text x="20" y="35" font-family="sans-serif" font-size="20" font-weight="bold">{text(carrier)}</text>'
        f'<text x="20" y="58" font-family="sans-serif" font-size="13">'
        f"Return {text(rma)}, order {text(order_id)}</text>"
        f"{rects}"
        f'<text x="20" y="152" font-family="monospace" font-size="16">{text(label)}</text>'
        f'<text x="20" y="190" font-family="sans-serif" font-size="12">Contents: {text(items)}</text>'
        f'<text x="20" y="215" font-family="sans-serif" font-size="12">Attach to the parcel; postage is paid.</text>'
        "</svg>"
    )
