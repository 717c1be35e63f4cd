"""`oms inventory ...` and `oms locations`: stock levels and the fulfillment network, through the API."""

import argparse

from starter.cli_common import SubParsers, api_command
from starter.client import OmsClient


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


def add_inventory_commands(sub: SubParsers) -> None:
    inventory = sub.add_parser("inventory", help="stock levels through the API").add_subparsers(
        dest="action", required=True
    )
    adjust = api_command(
        inventory, "adjust", _inventory_adjust, "receive, remove or count stock (operator or partner token)"
    )
    adjust.add_argument("--location", required=True)
    adjust.add_argument("--sku", required=True)
    how = adjust.add_mutually_exclusive_group(required=True)
    how.add_argument("--delta", type=int, help="units to add (a receipt) or, when negative, remove")
    how.add_argument("--on-hand", type=int, help="the counted units on hand")
    adjust.add_argument("--reason")
    adjust.add_argument("--adjustment-id", help="idempotency key: repeating the command changes nothing twice")
    available = api_command(
        inventory, "availability", _inventory_availability, "available to sell per location and in total"
    )
    available.add_argument(
        "--sku", dest="skus", action="extend", nargs="+", metavar="SKU", required=True, help="repeatable"
    )
    available.add_argument("--latitude", type=float)
    available.add_argument("--longitude", type=float)
    available.add_argument("--channel", help="only the locations that serve this channel")
    api_command(sub, "locations", _locations, "fulfillment locations: kind, position, capabilities, capacity")
