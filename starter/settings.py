"""Configuration from the environment (prefix OMS_), shared by the API, the worker and the CLI."""

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from pydantic import PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.fraud import FraudRules

DEV_TOKENS = (
    "dev-storefront:storefront,dev-agent:agent,dev-operator:operator,dev-partner:partner,dev-customer:customer:C-1"
)

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """ISO-8601 durations in days and time (P30D, PT5S, P1DT12H); weeks, months and years are ambiguous here."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration of days/hours/minutes/seconds: {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    env: str = "development"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    # unset: `oms up` runs the embedded dev server on temporal_port; set: an existing server
    temporal_address: str | None = None
    temporal_port: int = 7233
    temporal_namespace: str = "default"
    task_queue: str = "orders"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_url: str | None = None
    ui_port: int = 8233
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8100
    simulator_url: str | None = None
    # customer mail (events_out/notifications): unset host, no mail is sent; `oms up` points it at the
    # simulators' mail catcher (listening on mail_catcher_port, its own pick when unset) unless a server is named
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "OMS <no-reply@oms.example>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_catcher_port: int | None = None
    # the SMS provider customer texts go through; the simulator unless set
    sms_url: str | None = None
    sms_sender: str = "OMS"
    # the warehouse system fulfillment orders are released to; the simulator unless set
    warehouse_url: str | None = None
    # the carrier asked where a parcel is; the simulator unless set
    carrier_url: str | None = None
    tokens: str = DEV_TOKENS
    # `<key id>:<base64 32-byte key>,...` (starter/codec.py): the first encrypts, all decrypt; unset, the
    # development key, which production (any env but development/test) refuses
    codec_keys: str | None = None
    # signs the pages' session cookies (starter/web/session.py); required in production, unset in development:
    # a random key per process
    session_secret: str | None = None
    # `<partner id>:<secret>,...`: the webhooks of a partner named here must carry X-OMS-Signature made with its secret
    partner_secrets: str = ""
    simulate: str = "auto"
    # `oms up` places a handful of demo orders through the API once it is up (starter/demo_orders.py)
    demo_orders: bool = True
    simulate_delay: float = 2.0
    # comma-separated location ids whose simulated warehouse/store rejects every fulfillment order (demo rerouting)
    simulate_reject: str = ""
    return_window: str = "P30D"
    # units nothing can fill: these channels wait for stock up to backorder_limit, the others cancel them
    backorder_channels: str = "web,app,agent,b2b"
    backorder_limit: str = "P14D"
    # a pickup order not collected within this is canceled, refunded and restocked
    pickup_hold: str = "P7D"
    # an order held for fraud review is canceled if no agent decides within this
    review_window: str = "P2D"
    # a B2B order above its account's approval threshold waits for an approver: past the first, agents are asked
    # (the order needs attention); past the second, it is canceled
    approval_escalation: str = "P1D"
    approval_expiry: str = "P3D"
    # Shopify's webhook signing secret: `X-Shopify-Hmac-Sha256` of every POST /v1/intake/shopify is checked with it
    shopify_webhook_secret: str | None = None
    # the routing policy's weights (domain/routing.py RoutingPolicy)
    routing_split_penalty_km: float = 200.0
    routing_same_day_radius_km: float = 50.0
    routing_max_fulfillment_orders: int = 3
    gateway_latency_ms: int = 30
    # the fraud screen's rules: the score from which an order waits for review, per currency what a large
    # order is, and each currency's home country (an address elsewhere scores higher)
    fraud_review_threshold: int = 70
    fraud_large_orders: str = "JPY:500000,USD:5000,EUR:5000"
    fraud_home_countries: str = "JPY:JP"
    # 0-1: the share of partner calls and webhooks the simulators fail transiently (errors, timeouts, repeats)
    simulator_failure_rate: float = 0.0
    # how long a location may take to ship a released fulfillment order, and a carrier to deliver a parcel,
    # before the order asks the partner again and then flags itself for a person
    fulfillment_sla: str = "P3D"
    delivery_sla: str = "P14D"
    # an order's run continues as new past this many history events (or when Temporal suggests it)
    max_history_events: int = 10_000
    # the longest an HTTP request waits for an order's workflow before answering 504
    update_timeout: float = 10.0
    # a request body above this many bytes is refused with 413 before anything reads it
    max_body_bytes: int = 1_048_576
    # availability below this many units (in total, and per location) shows as low_stock
    low_stock_threshold: int = 5
    log_json: bool = False
    # the workflow sandbox guards determinism at a cost in CPU per order; see worker.workflow_runner
    workflow_sandbox: bool = False
    log_level: str = "INFO"
    # events out (events_out/, `oms relay`): where set, every order event is also published to NATS JetStream, on
    # `<nats_subject_prefix>.<order token>.<type>` in the stream `nats_stream`
    nats_url: str | None = None
    nats_stream: str = "OMS_ORDERS"
    nats_subject_prefix: str = "oms.orders"
    # how often the relay looks for new events when it has nothing to do, in seconds
    relay_poll_interval: float = 1.0
    # a delivery that fails is tried again after relay_first_retry_delay seconds, doubled each time up to
    # relay_max_retry_delay; it gives up (a failure, replayable) after relay_max_attempts or relay_give_up_after
    relay_first_retry_delay: float = 1.0
    relay_max_retry_delay: float = 300.0
    relay_max_attempts: int = 12
    relay_give_up_after: str = "P1D"
    relay_webhook_timeout: float = 10.0
    # outbox rows every destination has taken are deleted after this long; until then they can be sent again
    outbox_retention: str = "P7D"
    _fraud_rules: FraudRules = PrivateAttr()

    @field_validator(
        "return_window",
        "backorder_limit",
        "pickup_hold",
        "review_window",
        "approval_escalation",
        "approval_expiry",
        "fulfillment_sla",
        "delivery_sla",
        "relay_give_up_after",
        "outbox_retention",
    )
    @classmethod
    def _valid_window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("low_stock_threshold")
    @classmethod
    def _valid_threshold(cls, value: int) -> int:
        if value < 0:
            raise ValueError("OMS_LOW_STOCK_THRESHOLD is a number of units, 0 or more")
        return value

    @model_validator(mode="after")
    def _parse_fraud_rules(self) -> "Settings":
        """OMS_FRAUD_* are parsed once, as the settings load: a typo fails at start, and checkouts reuse the rules."""
        try:
            self._fraud_rules = FraudRules(
                review_threshold=self.fraud_review_threshold,
                large_order={code: Decimal(amount) for code, amount in _pairs(self.fraud_large_orders, "large orders")},
                home_country=dict(_pairs(self.fraud_home_countries, "home countries")),
            )
        except (ValueError, InvalidOperation) as err:
            raise ValueError(f"the fraud rules do not parse: {err}") from err
        return self

    @field_validator("simulator_failure_rate")
    @classmethod
    def _valid_failure_rate(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError("OMS_SIMULATOR_FAILURE_RATE is a share between 0 and 1")
        return value

    @field_validator("simulate")
    @classmethod
    def _valid_simulate(cls, value: str) -> str:
        if value not in ("auto", "off"):
            raise ValueError("OMS_SIMULATE is 'auto' or 'off'")
        return value

    @property
    def production(self) -> bool:
        """Every OMS_ENV but `development` and `test` is production (`prod`, `staging`, a typo ...)."""
        return self.env not in ("development", "test")

    @property
    def return_window_delta(self) -> timedelta:
        return parse_duration(self.return_window)

    def backorder_seconds(self, channel: str) -> float | None:
        """How long the channel's orders wait for stock; None: the channel cancels unfillable units at once."""
        channels = {c.strip() for c in self.backorder_channels.split(",") if c.strip()}
        return parse_duration(self.backorder_limit).total_seconds() if channel in channels else None

    @property
    def pickup_hold_seconds(self) -> float:
        return parse_duration(self.pickup_hold).total_seconds()

    @property
    def review_seconds(self) -> float:
        return parse_duration(self.review_window).total_seconds()

    @property
    def approval_seconds(self) -> tuple[float, float]:
        """(escalate after, expire after) for an order waiting for its account's approver."""
        escalation, expiry = parse_duration(self.approval_escalation), parse_duration(self.approval_expiry)
        return escalation.total_seconds(), max(expiry, escalation).total_seconds()

    @property
    def fulfillment_sla_seconds(self) -> float:
        return parse_duration(self.fulfillment_sla).total_seconds()

    @property
    def delivery_sla_seconds(self) -> float:
        return parse_duration(self.delivery_sla).total_seconds()

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def own_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def own_simulator_url(self) -> str:
        return self.simulator_url or f"http://127.0.0.1:{self.simulator_port}"

    @property
    def warehouse_target(self) -> str:
        return self.warehouse_url or self.own_simulator_url

    @property
    def fraud_rules(self) -> FraudRules:
        """OMS_FRAUD_* as the rules every new order is screened by (at checkout and at an address change)."""
        return self._fraud_rules

    @property
    def sms_target(self) -> str:
        return self.sms_url or self.own_simulator_url

    @property
    def carrier_target(self) -> str:
        return self.carrier_url or self.own_simulator_url

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("OMS_DATABASE_URL is not set (oms up sets it for the processes it starts)")
        return self.database_url


def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    """`"JPY:500000, USD:5000"` -> [("JPY", "500000"), ("USD", "5000")]."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, sep, value = item.partition(":")
        if not sep or len(code.strip()) != 3 or not value.strip():
            raise ValueError(f"OMS_FRAUD_{what.upper().replace(' ', '_')}: {item!r} is not CURRENCY:VALUE")
        pairs.append((code.strip().upper(), value.strip()))
    return pairs


@lru_cache
def get_settings() -> Settings:
    return Settings()
