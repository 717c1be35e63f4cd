"""`oms order ...`: place, read and act on orders through the API; `oms order reset` through Temporal."""

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starter.cli_common import SubParsers, UsageError, api_command, get_settings
from starter.client import Line, OmsClient, Replacement

SAMPLE_ORDER: dict[str, Any] = {
    "channel": "web",
    "customer": {"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato", "phone": "+81300000000"},
    "currency": "JPY",
    "lines": [{"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"}],
    "shipping_address": {
        "name": "Aiko Sato",
        "line1": "1-1 Marunouchi",
        "city": "Chiyoda",
        "postal_code": "100-0005",
        "country": "JP",
        "latitude": 35.681,
        "longitude": 139.767,
    },
    "delivery_method": "standard",
    "payment": {"method": "card", "token": "tok_visa"},
}


def _line(text: str) -> Line:
    """`SKU:QTY` (the SKU may itself hold colons; the quantity is after the last one)."""
    sku, sep, quantity = text.rpartition(":")
    if not sep or not sku or not quantity.isdigit() or int(quantity) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not SKU:QTY with a positive whole quantity")
    return Line(sku, int(quantity))


def _replacement(text: str) -> Replacement:
    """`SKU:QTY` or `SKU:QTY@PRICE`."""
    wanted, at, price = text.partition("@")
    if at and not _is_decimal(price):
        raise argparse.ArgumentTypeError(f"{text!r}: the price after @ is not a decimal amount")
    line = _line(wanted)
    return Replacement(line.sku, line.quantity, price if at else None)


def _is_decimal(text: str) -> bool:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return False
    return amount.is_finite() and amount >= 0


def _checkout_body(args: argparse.Namespace) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(Path(args.file).read_text()) if args.file else dict(SAMPLE_ORDER)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read a JSON checkout body from {args.file}: {err}") from err
    if args.order_id:
        body["order_id"] = args.order_id
    if "order_id" not in body:
        raise UsageError("give an order id (--order-id) or a file with one")
    if args.payment_token:
        body["payment"] = {"method": "card", "token": args.payment_token}
    return body


def _order_place(args: argparse.Namespace, client: OmsClient) -> object:
    return client.place_order(_checkout_body(args))


def _order_show(args: argparse.Namespace, client: OmsClient) -> object:
    return client.get_order(args.order_id)


def _order_list(args: argparse.Namespace, client: OmsClient) -> object:
    return client.search_orders(
        customer_id=args.customer, status=args.status, channel=args.channel, attention=args.attention
    )


def _order_cancel(args: argparse.Namespace, client: OmsClient) -> object:
    return client.cancel_order(args.order_id, args.reason, args.lines)


def _order_return(args: argparse.Namespace, client: OmsClient) -> object:
    return client.request_return(args.order_id, args.lines, args.reason, args.method, args.location)


def _order_exchange(args: argparse.Namespace, client: OmsClient) -> object:
    return client.request_exchange(
        args.order_id, args.lines, args.replacements, args.reason, args.method, args.location, args.price_reason
    )


def _order_appease(args: argparse.Namespace, client: OmsClient) -> object:
    return client.grant_appeasement(args.order_id, args.amount, args.reason)


def _order_payments(args: argparse.Namespace, client: OmsClient) -> object:
    return client.payments(args.order_id)


def _order_review(args: argparse.Namespace, client: OmsClient) -> object:
    return client.review(args.order_id, args.decision == "approve", args.reason)


def _order_address(args: argparse.Namespace, client: OmsClient) -> object:
    address = json.loads(Path(args.file).read_text())
    return client.change_address(args.order_id, address, args.reason)


def _order_reship(args: argparse.Namespace, client: OmsClient) -> object:
    return client.reship(args.order_id, args.lines, args.reason)


def _order_retry(args: argparse.Namespace, client: OmsClient) -> object:
    return client.retry(args.order_id, args.reason)


def _order_reset(args: argparse.Namespace) -> int:
    """Talks to Temporal, not the API: a reset is an engineer's repair of the workflow's own history."""
    import asyncio

    from temporalio.service import RPCError

    from starter.reset import ResetRefused, reset_with_settings

    try:
        outcome = asyncio.run(reset_with_settings(get_settings(), args.order_id, args.to, args.reason))
    except (ResetRefused, RPCError, RuntimeError) as err:  # RuntimeError: temporalio cannot connect
        print(f"error: order {args.order_id} not reset: {err}", file=sys.stderr)
        return 1
    print(f"order {args.order_id}: reset to the {outcome.point.description}")
    print(f"  workflow {outcome.workflow_id}: run {outcome.old_run_id} -> new run {outcome.new_run_id}")
    if outcome.point.updates_after:
        names = ", ".join(outcome.point.updates_after)
        print(f"  not received again by the new run (updates after the point): {names}")
    return 0


def add_order_commands(sub: SubParsers) -> None:
    order = sub.add_parser("order", help="act on orders through the API").add_subparsers(dest="action", required=True)
    place = api_command(order, "place", _order_place, "place an order (a sample one unless --file is given)")
    place.add_argument("--order-id")
    place.add_argument("--file", help="a JSON checkout body as API.md describes")
    place.add_argument("--payment-token", help="tok_visa, tok_decline or tok_flaky")
    api_command(order, "show", _order_show, "show an order's summary").add_argument("order_id")
    listing = api_command(order, "list", _order_list, "search orders")
    listing.add_argument("--customer")
    listing.add_argument("--status")
    listing.add_argument("--channel")
    listing.add_argument(
        "--attention",
        action=argparse.BooleanOptionalAction,
        help="only orders that need a person (--no-attention: only those that do not)",
    )

    cancel = api_command(order, "cancel", _order_cancel, "cancel lines, or everything still cancelable")
    cancel.add_argument("order_id")
    _add_lines(cancel, required=False)
    cancel.add_argument("--reason", required=True)
    ret = api_command(order, "return", _order_return, "return delivered units by mail or at a store")
    ret.add_argument("order_id")
    _add_lines(ret, required=True)
    ret.add_argument("--reason", required=True)
    ret.add_argument("--method", choices=["mail", "in_store"], default="mail")
    ret.add_argument("--location", help="the store an in_store return is brought to")
    exchange = api_command(order, "exchange", _order_exchange, "return delivered units for replacements sent now")
    exchange.add_argument("order_id")
    _add_lines(exchange, required=True)
    exchange.add_argument(
        "--for",
        dest="replacements",
        type=_replacement,
        nargs="+",
        action="extend",
        required=True,
        help="SKU:QTY (at the order's or the catalog's price) or SKU:QTY@PRICE (an agent's own, with --price-reason)",
    )
    exchange.add_argument("--price-reason", help="why the replacements priced with @PRICE are at that price")
    exchange.add_argument("--reason", required=True)
    exchange.add_argument("--method", choices=["mail", "in_store"], default="mail")
    exchange.add_argument("--location", help="the store an in_store return is brought to")
    appease = api_command(order, "appease", _order_appease, "refund part of what was captured (agent)")
    appease.add_argument("order_id")
    appease.add_argument("--amount", required=True, help="a decimal amount in the order's currency, e.g. 500")
    appease.add_argument("--reason", required=True)
    payments = api_command(order, "payments", _order_payments, "the payment gateway's transactions for an order")
    payments.add_argument("order_id")
    review = api_command(order, "review", _order_review, "approve or reject an order held for fraud review")
    review.add_argument("order_id")
    review.add_argument("decision", choices=["approve", "reject"])
    review.add_argument("--reason", required=True)
    address = api_command(order, "address", _order_address, "ship to another address before anything ships")
    address.add_argument("order_id")
    address.add_argument("--file", required=True, help="a JSON file with the new address (as at checkout)")
    address.add_argument("--reason", required=True)
    reship = api_command(order, "reship", _order_reship, "send lost or damaged units again at no charge")
    reship.add_argument("order_id")
    _add_lines(reship, required=True)
    reship.add_argument("--reason", required=True)
    retry = api_command(order, "retry", _order_retry, "run again now the steps that put an order in attention")
    retry.add_argument("order_id")
    retry.add_argument("--reason", default="retried from the command line")
    reset = order.add_parser(
        "reset",
        help="reset an order's workflow to a step or event (talks to Temporal; signals after it are reapplied)",
        description="Reset the order's current run so a step runs again; money moves once (idempotency keys).",
    )
    reset.set_defaults(handler=_order_reset)
    reset.add_argument("order_id")
    reset.add_argument(
        "--to", required=True, help="an event id, or a step (local activity type) such as settle_shipment"
    )
    reset.add_argument("--reason", default="reset from the command line")


def _add_lines(command: argparse.ArgumentParser, required: bool) -> None:
    help = "SKU:QTY, repeatable (--line A:1 --line B:2 or --line A:1 B:2)" + ("" if required else "; omit: all")
    command.add_argument(
        "--line", dest="lines", type=_line, action="extend", nargs="+", metavar="SKU:QTY", required=required, help=help
    )
