"""The partners the worker and the API talk to, built one way from the settings."""

from sqlalchemy import Engine

from integrations.own_ledger import OwnLedger, PaymentRouter
from integrations.payments import PaymentGateway, SimulatedGateway
from starter.settings import Settings


def payment_gateway(settings: Settings, engine: Engine) -> PaymentGateway:
    """Cards go to the gateway (simulated, its ledger and vault in the order database; a real one would be an HTTP
    client); what is on account or prepaid on a platform goes to the OMS's own ledger, in the same database."""
    cards = SimulatedGateway(engine, settings.gateway_latency_ms, failure_rate=settings.simulator_failure_rate)
    return PaymentRouter(cards, OwnLedger(engine))
