"""`oms notifications`: the customer messages whose sending nobody can vouch for, and giving one back to be sent.

These read and write the database in OMS_DATABASE_URL directly: they are for an operator beside the relay.
"""

import argparse

from starter.cli_common import SubParsers, get_settings


def _unsettled(args: argparse.Namespace) -> int:
    from events_out.notifications.ledger import Ledger
    from starter.settings import parse_duration
    from store.db import make_engine

    engine = make_engine(get_settings().require_database_url(), pool_size=1)
    try:
        claims = Ledger(engine).unsettled(parse_duration(args.older_than))
    finally:
        engine.dispose()
    for c in claims:
        print(f"{c.event_id}\t{c.channel}\t{c.order_id}\t{c.kind}\t{c.recipient}\tclaimed {c.claimed_at.isoformat()}")
    if not claims:
        print("no unsettled notifications")
    return 0


def _release(args: argparse.Namespace) -> int:
    from events_out.notifications.ledger import Ledger
    from store.db import make_engine

    engine = make_engine(get_settings().require_database_url(), pool_size=1)
    try:
        released = Ledger(engine).release(args.event_id, args.channel)
    finally:
        engine.dispose()
    if not released:
        print(f"event {args.event_id} has no unsettled {args.channel} claim (sent, refused, or never claimed)")
        return 1
    print(f"released: the next delivery of event {args.event_id} (a replay) sends its {args.channel} again")
    return 0


def add_notification_commands(sub: SubParsers) -> None:
    group = sub.add_parser("notifications", help="customer mails and texts that may or may not have gone out")
    commands = group.add_subparsers(dest="notifications_command", required=True)
    listing = commands.add_parser("unsettled", help="claims that never settled: check the mail server's log")
    listing.add_argument("--older-than", default="PT5M", help="ISO-8601 duration (default PT5M)")
    listing.set_defaults(handler=_unsettled)
    release = commands.add_parser("release", help="give a claim back, once you know the message did not go out")
    release.add_argument("event_id", type=int)
    release.add_argument("--channel", choices=("email", "sms"), default="email")
    release.set_defaults(handler=_release)
