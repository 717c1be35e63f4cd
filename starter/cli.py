"""The `oms` command line: run the system's parts, and act on orders through the HTTP API."""

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence

import httpx

from starter.cli_common import ApiCall, call_api, get_settings
from starter.cli_export import add_export_commands
from starter.cli_inventory import add_inventory_commands
from starter.cli_notifications import add_notification_commands
from starter.cli_orders import add_order_commands


def _up(args: argparse.Namespace) -> int:
    import structlog

    from starter.demo_orders import banner_lines, start_placing
    from starter.logs import configure_logging
    from starter.stack import Stack
    from starter.supervision import PartFailed

    settings = get_settings()
    configure_logging(settings.log_json, settings.log_level)
    stack = Stack(settings)
    stack.handle_stop_signals()  # SIGTERM while starting stops what has started, as Ctrl-C does
    try:
        stack.up()
        start_placing(settings)
        print(stack.banner(banner_lines(settings)), flush=True)
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
    from starter.bench.options import main

    return main(args)


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

    from integrations.mail_catcher import MailCatcher
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
    # the mail catcher takes the stack's customer mails when no mail server is named (integrations/mail_catcher.py)
    catcher = (
        MailCatcher(engine, settings.simulator_host, settings.mail_catcher_port) if settings.mail_catcher_port else None
    )
    if catcher is not None:
        catcher.start()
    try:
        uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_level="warning")
    finally:
        if catcher is not None:
            catcher.stop()
        engine.dispose()
    return 0


def _relay(args: argparse.Namespace) -> int:
    import asyncio

    from events_out import operate
    from events_out.wiring import run_relay
    from starter.logs import configure_logging
    from store.db import make_engine

    settings = get_settings()
    if args.status or args.failures or args.replay or args.prune:
        engine = make_engine(settings.require_database_url(), pool_size=1)
        if args.status:
            print(operate.printed(operate.status(engine)))
        elif args.prune:
            print(operate.printed(operate.prune(engine, settings.outbox_retention)))
        elif args.failures:
            print(operate.printed(operate.failures_of(engine, args.failures)))
        else:
            print(operate.printed(operate.replay_to(engine, args.replay, args.from_event_id)))
        engine.dispose()
        return 0
    configure_logging(settings.log_json, settings.log_level)
    asyncio.run(run_relay(settings))
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
    from starter.bench.options import add_arguments

    add_arguments(bench)  # the bench's flags live with the bench
    add("api", _api, "run the HTTP API")
    add("simulators", _simulators, "run the warehouse and carrier simulators")
    relay = add("relay", _relay, "deliver every order event to its destinations: subscribers, NATS, notifications")
    relay.add_argument("--status", action="store_true", help="each destination: read up to, pending, failed")
    relay.add_argument("--failures", metavar="DESTINATION", help="what gave up (nats, subscription:<id> ...)")
    relay.add_argument("--replay", metavar="DESTINATION", help="send again its failures, or with --from-event-id")
    relay.add_argument("--from-event-id", type=int, help="with --replay: every event from this one on")
    relay.add_argument(
        "--prune", action="store_true", help="delete now what every destination took before OMS_OUTBOX_RETENTION"
    )
    add("migrate", _migrate, "migrate the database in OMS_DATABASE_URL")
    add("replay", _replay, "replay a live order's history against this code").add_argument("order_id")
    add_order_commands(sub)
    add_inventory_commands(sub)
    add_notification_commands(sub)
    add_export_commands(sub)
    return parser


def run(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Parse and run one command; `transport` lets tests stand in for the API."""
    args = build_parser().parse_args(argv)
    call: ApiCall | None = getattr(args, "api_call", None)
    if call is not None:
        return call_api(args, call, transport)
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
