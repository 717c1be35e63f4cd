"""What every `oms` command shares: the settings, loaded on first use, and how a command that acts through the
HTTP API is declared, sent and answered (the calls themselves are in starter/client.py)."""

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import httpx

from starter.client import OmsApiError, OmsClient, OmsUnreachable

if TYPE_CHECKING:
    from starter.settings import Settings


def get_settings() -> "Settings":
    """The settings, loaded on first use: pydantic-settings costs half a second of start-up, which a command
    given --api-url (a script's or an agent's every call) never needs."""
    from starter.settings import get_settings as load

    return load()


DEFAULT_TOKEN = "dev-agent"  # the development agent token (settings.DEV_TOKENS); never valid in production

ApiCall = Callable[[argparse.Namespace, OmsClient], object]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """The command cannot be sent as given; nothing reached the API."""


def call_api(args: argparse.Namespace, call: ApiCall, transport: httpx.BaseTransport | None) -> int:
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


def _api_options() -> argparse.ArgumentParser:
    """--api-url and --token, shared by every command that talks to the API."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url", "--api", dest="api_url", help="API base URL (default from OMS_API_URL or OMS_API_PORT)"
    )
    common.add_argument("--token", help=f"bearer token (default OMS_TOKEN, else {DEFAULT_TOKEN})")
    return common


def api_command(sub: SubParsers, name: str, call: ApiCall, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, parents=[_api_options()])
    p.set_defaults(api_call=call)
    return p
