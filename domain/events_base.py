"""The base of every domain event: when it happened and who made it happen."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: datetime
    actor: str = "system"
