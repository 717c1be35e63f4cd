"""The `oms` command line: run the system's parts, and act on orders through the HTTP API."""

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from starter.settings import get_settings

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


def _up(args: argparse.Namespace) -> int:
    from starter.logs import configure_logging
    from starter.stack import Stack

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    stack = Stack(settings)
    try:
        stack.up()
        print(stack.banner(), flush=True)
        return stack.wait()
    except KeyboardInterrupt:
        return 0
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

    from integrations.simulators import create_simulator_app
    from starter.api.auth import parse_tokens
    from starter.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    tokens = parse_tokens(settings.tokens, settings.production)
    partner = next((t for t, who in tokens.items() if who.role == "partner"), None)
    if partner is None:
        print("OMS_TOKENS has no partner token for the simulators' webhooks", file=sys.stderr)
        return 2
    app = create_simulator_app(settings.own_api_url, partner, settings.simulate, settings.simulate_delay)
    uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_level="warning")
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


def _client(args: argparse.Namespace) -> httpx.Client:
    token = args.token or os.environ.get("OMS_TOKEN", "dev-agent")
    base = args.api or get_settings().own_api_url
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _print(response: httpx.Response) -> int:
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)
    return 0 if response.is_success else 1


def _order_place(args: argparse.Namespace) -> int:
    body = json.loads(Path(args.file).read_text()) if args.file else dict(SAMPLE_ORDER)
    if args.order_id:
        body["order_id"] = args.order_id
    if "order_id" not in body:
        print("give an order id (--order-id) or a file with one", file=sys.stderr)
        return 2
    if args.payment_token:
        body["payment"] = {"method": "card", "token": args.payment_token}
    with _client(args) as client:
        return _print(client.post("/v1/orders", json=body))


def _order_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        return _print(client.get(f"/v1/orders/{args.order_id}"))


def _order_list(args: argparse.Namespace) -> int:
    params = {
        k: v for k, v in (("customer_id", args.customer), ("status", args.status), ("channel", args.channel)) if v
    }
    with _client(args) as client:
        return _print(client.get("/v1/orders", params=params))


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
    bench.add_argument("--out", default="bench-out", help="folder for bench.json and bench.png")
    add("api", _api, "run the HTTP API")
    add("simulators", _simulators, "run the warehouse and carrier simulators")
    add("migrate", _migrate, "migrate the database in OMS_DATABASE_URL")
    add("replay", _replay, "replay a live order's history against this code").add_argument("order_id")

    order = sub.add_parser("order", help="act on orders through the API").add_subparsers(dest="action", required=True)
    place = order.add_parser("place", help="place an order (a sample one unless --file is given)")
    place.set_defaults(handler=_order_place)
    place.add_argument("--order-id")
    place.add_argument("--file", help="a JSON checkout body as API.md describes")
    place.add_argument("--payment-token", help="tok_visa, tok_decline or tok_flaky")
    show = order.add_parser("show", help="show an order's summary")
    show.set_defaults(handler=_order_show)
    show.add_argument("order_id")
    listing = order.add_parser("list", help="search orders")
    listing.set_defaults(handler=_order_list)
    listing.add_argument("--customer")
    listing.add_argument("--status")
    listing.add_argument("--channel")
    for p in (place, show, listing):
        p.add_argument("--api", help="API base URL (default from OMS_API_URL or OMS_API_PORT)")
        p.add_argument("--token", help="bearer token (default OMS_TOKEN or dev-agent)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    rc = args.handler(args)
    gc.collect()  # drop any Temporal runtime before interpreter shutdown (sdk-python #300)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
