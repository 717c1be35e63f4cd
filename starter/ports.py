"""Where the stack's parts listen: a port free to give one, whether something listens, whether the API is healthy."""

import socket

import httpx


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now; `avoid` names ports already promised to other parts that are not listening yet."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in avoid:
            return port


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
