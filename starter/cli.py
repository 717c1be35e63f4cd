"""The `oms` command line: run the system's parts, and act on orders through the HTTP API."""

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from starter.client import Line, OmsApiError, OmsClient, OmsUnreachable, Replacement

if TYPE_CHECKING:
    from starter.settings import Settings

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


def get_settings() -> "Settings":
    """The settings, loaded on first use: pydantic-settings costs half a second of start-up, which a command
    given --api-url (a script's or an agent's every call) never needs."""
    from starter.settings import get_settings as load

    return load()


def _up(args: argparse.Namespace) -> int:
    import structlog

    from starter.logs import configure_logging
    from starter.stack import Stack
    from starter.supervision import PartFailed

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    stack = Stack(settings)
    stack.handle_stop_signals()  # SIGTERM while starting stops what has started, as Ctrl-C does
    try:
        stack.up()
        print(stack.banner(), flush=True)
        return stack.wait()
    except KeyboardInterrupt:
        return 0
    except PartFailed as failure:
        structlog.get_logger().error(str(failure), part=failure.part)
        return 1
    finally:
        stack.down()


def _worker(args: argparse.Namespace) -> int:
    import worker

    worker.main(args.reference_task_queue)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from starter.bench.report import render
    from starter.bench.runner import BenchOptions, bench

    options = BenchOptions(
        orders=args.orders,
        concurrency=args.concurrency,
        rate=args.rate,
        out=Path(args.out),
        window_s=args.window,
        scale=[int(level) for level in args.scale.split(",")] if args.scale else [],
        cancels=args.cancels,
        profile=args.profile,
    )
    result = bench(options)
    print(render(result))
    print(f"figures in {options.out / 'bench.json'}, plot in {options.out / 'bench.png'}")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from starter.api.app import create_app
    from starter.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning")
    return 0


def _simulators(args: argparse.Namespace) -> int:
    import uvicorn

    from integrations.simulator_faults import FaultPlan
    from integrations.simulators import create_simulator_app, parse_locations
    from starter.api.auth import parse_partner_secrets, parse_tokens
    from starter.logs import configure_logging
    from store.db import make_engine

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    tokens = parse_tokens(settings.tokens, settings.production)
    # the simulators speak for every location and carrier: an unscoped partner token (refused in production)
    partner = next((t for t, who in tokens.items() if who.role == "partner" and who.partner_id is None), None)
    if partner is None:
        print("OMS_TOKENS has no unscoped partner token (token:partner) for the simulators' webhooks", file=sys.stderr)
        return 2
    # What the simulated partners received and owe is kept in the database, so a restart resumes it.
    engine = make_engine(settings.require_database_url(), pool_size=4)
    app = create_simulator_app(
        settings.own_api_url,
        partner,
        settings.simulate,
        settings.simulate_delay,
        reject_locations=parse_locations(settings.simulate_reject),
        engine=engine,
        faults=FaultPlan(settings.simulator_failure_rate),
        partner_secrets=parse_partner_secrets(settings.partner_secrets),
    )
    try:
        uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_level="warning")
    finally:
        engine.dispose()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    upgrade(get_settings().require_database_url())
    return 0


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    from starter.replay import replay_order

    failure = asyncio.run(replay_order(get_settings(), args.order_id))
    if failure is None:
        print(f"order {args.order_id}: its history replays cleanly against this code")
        return 0
    print(f"order {args.order_id}: NOT deterministic against this code:\n{failure}", file=sys.stderr)
    return 1


# -- commands that act through the HTTP API (the calls themselves are in starter/client.py) ---------
DEFAULT_TOKEN = "dev-agent"  # the development agent token (settings.DEV_TOKENS); never valid in production

ApiCall = Callable[[argparse.Namespace, OmsClient], object]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """The command cannot be sent as given; nothing reached the API."""


def _call_api(args: argparse.Namespace, call: ApiCall, transport: httpx.BaseTransport | None) -> int:
    """Run one API command: its answer as JSON on stdout, or `error <status>: <detail>` on stderr and exit 1."""
    token = args.token or os.environ.get("OMS_TOKEN") or DEFAULT_TOKEN
    base_url = args.api_url or get_settings().own_api_url
    try:
        with OmsClient(base_url, token, transport=transport) as client:
            answer = call(args, client)
    except OmsApiError as err:
        print(f"error {err.status}: {err.detail}", file=sys.stderr)
        return 1
    except OmsUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


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
        args.order_id, args.lines, args.replacements, args.reason, args.method, args.location
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


def _inventory_adjust(args: argparse.Namespace, client: OmsClient) -> object:
    return client.adjust_inventory(
        args.location,
        args.sku,
        delta=args.delta,
        on_hand=args.on_hand,
        reason=args.reason,
        adjustment_id=args.adjustment_id,
    )


def _inventory_availability(args: argparse.Namespace, client: OmsClient) -> object:
    return client.availability(args.skus, args.latitude, args.longitude, args.channel)


def _locations(args: argparse.Namespace, client: OmsClient) -> object:
    return client.locations()


def _api_options() -> argparse.ArgumentParser:
    """--api-url and --token, shared by every command that talks to the API."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url", "--api", dest="api_url", help="API base URL (default from OMS_API_URL or OMS_API_PORT)"
    )
    common.add_argument("--token", help=f"bearer token (default OMS_TOKEN, else {DEFAULT_TOKEN})")
    return common


def _api_command(sub: SubParsers, name: str, call: ApiCall, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, parents=[_api_options()])
    p.set_defaults(api_call=call)
    return p


def _add_order_commands(sub: SubParsers) -> None:
    order = sub.add_parser("order", help="act on orders through the API").add_subparsers(dest="action", required=True)
    place = _api_command(order, "place", _order_place, "place an order (a sample one unless --file is given)")
    place.add_argument("--order-id")
    place.add_argument("--file", help="a JSON checkout body as API.md describes")
    place.add_argument("--payment-token", help="tok_visa, tok_decline or tok_flaky")
    _api_command(order, "show", _order_show, "show an order's summary").add_argument("order_id")
    listing = _api_command(order, "list", _order_list, "search orders")
    listing.add_argument("--customer")
    listing.add_argument("--status")
    listing.add_argument("--channel")
    listing.add_argument(
        "--attention",
        action=argparse.BooleanOptionalAction,
        help="only orders that need a person (--no-attention: only those that do not)",
    )

    cancel = _api_command(order, "cancel", _order_cancel, "cancel lines, or everything still cancelable")
    cancel.add_argument("order_id")
    _add_lines(cancel, required=False)
    cancel.add_argument("--reason", required=True)
    ret = _api_command(order, "return", _order_return, "return delivered units by mail or at a store")
    ret.add_argument("order_id")
    _add_lines(ret, required=True)
    ret.add_argument("--reason", required=True)
    ret.add_argument("--method", choices=["mail", "in_store"], default="mail")
    ret.add_argument("--location", help="the store an in_store return is brought to")
    exchange = _api_command(order, "exchange", _order_exchange, "return delivered units for replacements sent now")
    exchange.add_argument("order_id")
    _add_lines(exchange, required=True)
    exchange.add_argument(
        "--for",
        dest="replacements",
        type=_replacement,
        nargs="+",
        action="extend",
        required=True,
        help="SKU:QTY or SKU:QTY@PRICE (a sku not on the order needs its price), repeatable",
    )
    exchange.add_argument("--reason", required=True)
    exchange.add_argument("--method", choices=["mail", "in_store"], default="mail")
    exchange.add_argument("--location", help="the store an in_store return is brought to")
    appease = _api_command(order, "appease", _order_appease, "refund part of what was captured (agent)")
    appease.add_argument("order_id")
    appease.add_argument("--amount", required=True, help="a decimal amount in the order's currency, e.g. 500")
    appease.add_argument("--reason", required=True)
    payments = _api_command(order, "payments", _order_payments, "the payment gateway's transactions for an order")
    payments.add_argument("order_id")
    review = _api_command(order, "review", _order_review, "approve or reject an order held for fraud review")
    review.add_argument("order_id")
    review.add_argument("decision", choices=["approve", "reject"])
    review.add_argument("--reason", required=True)
    address = _api_command(order, "address", _order_address, "ship to another address before anything ships")
    address.add_argument("order_id")
    address.add_argument("--file", required=True, help="a JSON file with the new address (as at checkout)")
    address.add_argument("--reason", required=True)
    reship = _api_command(order, "reship", _order_reship, "send lost or damaged units again at no charge")
    reship.add_argument("order_id")
    _add_lines(reship, required=True)
    reship.add_argument("--reason", required=True)
    retry = _api_command(order, "retry", _order_retry, "run again now the steps that put an order in attention")
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


def _add_inventory_commands(sub: SubParsers) -> None:
    inventory = sub.add_parser("inventory", help="stock levels through the API").add_subparsers(
        dest="action", required=True
    )
    adjust = _api_command(
        inventory, "adjust", _inventory_adjust, "receive, remove or count stock (operator or partner token)"
    )
    adjust.add_argument("--location", required=True)
    adjust.add_argument("--sku", required=True)
    how = adjust.add_mutually_exclusive_group(required=True)
    how.add_argument("--delta", type=int, help="units to add (a receipt) or, when negative, remove")
    how.add_argument("--on-hand", type=int, help="the counted units on hand")
    adjust.add_argument("--reason")
    adjust.add_argument("--adjustment-id", help="idempotency key: repeating the command changes nothing twice")
    available = _api_command(
        inventory, "availability", _inventory_availability, "available to sell per location and in total"
    )
    available.add_argument(
        "--sku", dest="skus", action="extend", nargs="+", metavar="SKU", required=True, help="repeatable"
    )
    available.add_argument("--latitude", type=float)
    available.add_argument("--longitude", type=float)
    available.add_argument("--channel", help="only the locations that serve this channel")
    _api_command(sub, "locations", _locations, "fulfillment locations: kind, position, capabilities, capacity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(handler=handler)
        return p

    add("up", _up, "start Temporal, PostgreSQL, the worker, the API and the simulators; Ctrl-C stops all")
    worker = add("worker", _worker, "run the order worker")
    worker.add_argument("--reference-task-queue", help=argparse.SUPPRESS)  # the bench's floor/naive workloads
    bench = add(
        "bench", _bench, "full-lifecycle orders/s through the API, against the Temporal floor and a naive design"
    )
    bench.add_argument("--orders", type=int, default=300, help="orders per workload")
    bench.add_argument("--concurrency", type=int, default=30, help="orders in flight")
    bench.add_argument(
        "--rate", type=float, default=None, help="target arrivals per second (default: as fast as possible)"
    )
    bench.add_argument("--window", type=float, default=2.0, help="return window in seconds")
    bench.add_argument("--scale", default="", help="also run these concurrency levels, e.g. 10,25,50")
    bench.add_argument("--cancels", type=int, default=50, help="orders placed and canceled to time the cancel update")
    bench.add_argument("--profile", action="store_true", help="sample the worker with py-spy during the oms workload")
    bench.add_argument("--out", default="bench-out", help="folder for bench.json and bench.png")
    add("api", _api, "run the HTTP API")
    add("simulators", _simulators, "run the warehouse and carrier simulators")
    add("migrate", _migrate, "migrate the database in OMS_DATABASE_URL")
    add("replay", _replay, "replay a live order's history against this code").add_argument("order_id")
    _add_order_commands(sub)
    _add_inventory_commands(sub)
    return parser


def run(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Parse and run one command; `transport` lets tests stand in for the API."""
    args = build_parser().parse_args(argv)
    call: ApiCall | None = getattr(args, "api_call", None)
    if call is not None:
        return _call_api(args, call, transport)
    rc: int = args.handler(args)
    return rc


def main(argv: Sequence[str] | None = None) -> None:
    rc = run(argv)
    gc.collect()  # drop any Temporal runtime before interpreter shutdown (sdk-python #300)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
