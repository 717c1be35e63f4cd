"""Named domain errors; the API maps them to HTTP status codes at its edge."""


class DomainError(Exception):
    """A rule of the order domain refused something."""


class InvariantViolation(DomainError):
    """An event would break an invariant of the Order aggregate."""


class Refusal(DomainError):
    """A service action the order's rules refuse as it stands now; `str()` is the reason a person reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CancelRefused(Refusal):
    """Lines that cannot be canceled now: nothing left to cancel, or shipped, or an exchange's replacement."""


class ReturnRefused(Refusal):
    """Units that cannot be returned: not delivered, or returned or on a return already."""


class ReshipRefused(Refusal):
    """Units that cannot be sent again: the order is not delivered, or its service window has closed."""


class ExchangeRefused(Refusal):
    """Replacement lines an exchange cannot carry: priced unlike the order, too precise, or too much."""


class AddressChangeRefused(Refusal):
    """The delivery address cannot change: a pickup order, a settled or held one, or units already left."""


class AppeasementRefused(Refusal):
    """A goodwill refund the order cannot give: not positive, too precise, or more than is refundable."""


class ReviewRefused(Refusal):
    """A fraud review of an order that waits for none."""


class ApprovalRefused(Refusal):
    """An approval of an order that waits for no approver of its account."""
