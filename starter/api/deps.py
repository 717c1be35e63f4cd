"""What route handlers share: the Temporal client, the read model and the settings."""

from dataclasses import dataclass

from sqlalchemy import Engine
from temporalio.client import Client

from starter.settings import Settings
from store.read_model import OrderQueries


@dataclass
class Services:
    settings: Settings
    client: Client
    engine: Engine
    queries: OrderQueries
