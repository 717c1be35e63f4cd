"""The partners the worker and the API talk to, built one way from the settings."""

from sqlalchemy import Engine

from integrations.payments import PaymentGateway, SimulatedGateway
from starter.settings import Settings


def payment_gateway(settings: Settings, engine: Engine) -> PaymentGateway:
    """The simulated gateway keeps its ledger and vault in the order database; a real one would be an HTTP client."""
    return SimulatedGateway(engine, settings.gateway_latency_ms, failure_rate=settings.simulator_failure_rate)
