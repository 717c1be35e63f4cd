"""Transient partner failures at a chosen rate, from a seedable random source so a test sees the same ones.

``OMS_SIMULATOR_FAILURE_RATE`` (0-1) is the share of calls that fail. A failed endpoint call either answers
503 before doing anything, does the work and loses the answer (503 after the write: the retry must be
idempotent), or is slow and then times out (504 after the write). The webhook sender uses the same source
to deliver some webhooks twice and to report some pairs of steps in the wrong order.
"""

import random
import threading
from typing import Literal

EndpointFault = Literal["unavailable", "lost_answer", "slow"]
GatewayFault = Literal["before", "after"]

_ENDPOINT_FAULTS: tuple[EndpointFault, ...] = ("unavailable", "lost_answer", "slow")
_GATEWAY_FAULTS: tuple[GatewayFault, ...] = ("before", "after")


class FaultPlan:
    """Draws which calls fail. Thread-safe: the gateway is called from activity threads."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, slow_s: float = 1.0) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"a failure rate is between 0 and 1, not {rate}")
        self.rate = rate
        self.slow_s = slow_s
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def happens(self) -> bool:
        """True for a share ``rate`` of the calls (never at 0, always at 1)."""
        if self.rate <= 0:
            return False
        with self._lock:
            return self._random.random() < self.rate

    def endpoint(self) -> EndpointFault | None:
        """How this partner call fails, or None when it goes through."""
        if not self.happens():
            return None
        with self._lock:
            return self._random.choice(_ENDPOINT_FAULTS)

    def gateway(self) -> GatewayFault | None:
        """Whether this gateway call fails before its write, after its commit (a lost answer), or not at all."""
        if not self.happens():
            return None
        with self._lock:
            return self._random.choice(_GATEWAY_FAULTS)
