"""B2B accounts: who buys and who approves for a company, on what terms it pays, how much it may owe, and above
which total an order waits for one of its approvers."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from domain.models import MAX_AMOUNT, AccountId, Strict
from domain.money import CURRENCIES, known_currency, quantize

# `net<days>`: the invoice is due that many days after it is issued (net0: on receipt)
TERMS_PATTERN = r"^net([0-9]{1,3})$"
# NUL refused: PostgreSQL cannot keep it in a text column
NO_NUL = r"^[^\x00]+$"
CustomerId = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]


def terms_days(terms: str) -> int:
    found = re.fullmatch(TERMS_PATTERN, terms)
    if found is None:
        raise ValueError(f"terms {terms!r} are not net<days>, such as net30")
    return int(found.group(1))


def due_date(issued_at: datetime, terms: str) -> date:
    return issued_at.date() + timedelta(days=terms_days(terms))


class Account(Strict):
    id: AccountId
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    terms: str = Field(pattern=TERMS_PATTERN, examples=["net30"])
    credit_limit: Decimal = Field(ge=0, le=MAX_AMOUNT)
    currency: Annotated[
        str, Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": CURRENCIES}), AfterValidator(known_currency)
    ]
    # an order above it waits for one of the approvers; none: no order does
    approval_threshold: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    # each once (checked below too: the schema's uniqueItems is a client's hint, not a validation)
    buyers: list[CustomerId] = Field(min_length=1, max_length=200, json_schema_extra={"uniqueItems": True})
    approvers: list[CustomerId] = Field(default=[], max_length=200, json_schema_extra={"uniqueItems": True})

    @model_validator(mode="after")
    def _consistent(self) -> "Account":
        for name, amount in (("credit_limit", self.credit_limit), ("approval_threshold", self.approval_threshold)):
            if amount is not None and quantize(amount, self.currency) != amount:
                raise ValueError(f"{name} {amount} has more decimals than {self.currency} allows")
        if self.approval_threshold is not None and not self.approvers:
            raise ValueError("an approval threshold needs at least one approver")
        for group in (self.buyers, self.approvers):
            if len(set(group)) != len(group):
                raise ValueError("each customer is named once per list")
        return self

    def needs_approval(self, total: Decimal) -> bool:
        return self.approval_threshold is not None and total > self.approval_threshold
