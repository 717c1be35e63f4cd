"""Named domain errors; the API maps them to HTTP status codes at its edge."""


class DomainError(Exception):
    """A rule of the order domain refused something."""


class InvariantViolation(DomainError):
    """An event would break an invariant of the Order aggregate."""


class PaymentDeclined(DomainError):
    """The payment gateway declined the authorization."""


class OutOfStock(DomainError):
    """No location can fill the order's lines."""


class UnknownLocation(DomainError):
    """A location id that the network does not have."""
