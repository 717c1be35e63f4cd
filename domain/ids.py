"""Every id and key the system makes, and how an id is read back to its order.

These formats are stored: in workflow histories, the read model, the gateway's idempotency keys, the inventory
ledger and partners' systems. A format never changes once an order carries it; a new one gets a new function.
Ids a partner mints (the gateway's transactions, a carrier's tracking numbers) are the partner's, not here.
"""

from uuid import NAMESPACE_URL, UUID, uuid5

_WORKFLOW_PREFIX = "order-"


# -- the order's workflow -------------------------------------------------------------------------
def workflow_id_for(order_id: str) -> str:
    return f"{_WORKFLOW_PREFIX}{order_id}"


def order_id_of_workflow(workflow_id: str) -> str:
    """The order id in an order's workflow id; any other workflow id is returned as it is."""
    return workflow_id.removeprefix(_WORKFLOW_PREFIX)


# -- fulfillment orders, returns and exchanges: numbered within their order, and carrying its id so a
# partner's event finds its order without a lookup ------------------------------------------------
def fulfillment_order_id(order_id: str, n: int) -> str:
    return f"{order_id}-F{n}"


def _numbered(id_: str, marker: str) -> tuple[str, int] | None:
    """(order id, n) of an id made as `{order_id}{marker}{n}`, else None."""
    order_id, sep, n = id_.rpartition(marker)
    # ASCII digits only: "²".isdigit() holds, and int("²") raises
    return (order_id, int(n)) if sep and order_id and n.isascii() and n.isdigit() else None


def fulfillment_order_number(fo_id: str) -> int | None:
    parts = _numbered(fo_id, "-F")
    return parts[1] if parts else None


def order_of_fulfillment_order(fo_id: str) -> str | None:
    parts = _numbered(fo_id, "-F")
    return parts[0] if parts else None


def return_id_for(order_id: str, n: int) -> str:
    return f"{order_id}-R{n}"


def order_of_return(return_id: str) -> str | None:
    parts = _numbered(return_id, "-R")
    return parts[0] if parts else None


def exchange_id_for(order_id: str, n: int) -> str:
    return f"{order_id}-X{n}"


def rma_number(order_id: str, n: int) -> str:
    """The return's number as the customer and the returns desk read it."""
    return f"RMA-{order_id}-{n}"


def return_label(carrier: str, token: UUID) -> str:
    """A mail return's label; `token` comes from the workflow's own (replay-safe) uuid4."""
    return f"{carrier}-RET-{token.hex[:10].upper()}"


def untracked_parcel(fo_id: str) -> str:
    """The parcel number of a shipment its location reported without a tracking number."""
    return f"{fo_id}-NT"


# -- money ----------------------------------------------------------------------------------------
def invoice_id_for(fo_id: str) -> str:
    return f"INV-{fo_id}"


def refund_id_for(return_id: str) -> str:
    return f"RF-{return_id}"


def appeasement_id_for(order_id: str, n: int) -> str:
    return f"AP-{order_id}-{n}"


# The payment references the OMS's own ledger answers for (an account's credit, a platform's prepayment); any
# other reference is the card gateway's.
_ACCOUNT_PAYMENT = "account:"
_PREPAID_PAYMENT = "prepaid:"
LEDGER_TRANSACTION_PREFIX = "own_"


def account_payment_reference(account_id: str) -> str:
    return f"{_ACCOUNT_PAYMENT}{account_id}"


def prepaid_payment_reference(platform: str, reference: str) -> str:
    return f"{_PREPAID_PAYMENT}{platform}:{reference}"


def account_of_payment_reference(reference: str) -> str | None:
    return reference.removeprefix(_ACCOUNT_PAYMENT) if reference.startswith(_ACCOUNT_PAYMENT) else None


def is_own_ledger_reference(reference: str) -> bool:
    """A payment reference or transaction id of the OMS's own ledger, not the card gateway's."""
    return reference.startswith((_ACCOUNT_PAYMENT, _PREPAID_PAYMENT, LEDGER_TRANSACTION_PREFIX))


def void_transaction_id(authorization_id: str) -> str:
    """A void's row in the read model's payments: the gateway's void answers with its authorization's id."""
    return f"{authorization_id}:void"


def refund_part_transaction_id(refund_id: str, capture_id: str) -> str:
    """One part of a refund or appeasement in the read model's payments: each part goes back to one capture."""
    return f"{refund_id}:{capture_id}"


# -- idempotency keys: a retried step or request sends the same key, so it takes effect once -----------
def idempotency_key(workflow_id: str, step: str, n: object) -> str:
    """A workflow step's key: `n` tells apart the runs of one step (the first, a fulfillment order's id ...)."""
    return f"{workflow_id}:{step}:{n}"


def refund_part_key(refund_key: str, capture_id: str) -> str:
    """Each part of a refund is keyed against its own capture: a retry after a partial failure refunds the rest."""
    return f"{refund_key}:{capture_id}"


def payment_method_key(order_id: str) -> str:
    """The checkout's card saved with the gateway once per order, however often the checkout is repeated."""
    return f"{workflow_id_for(order_id)}:payment-method"


def restock_key(return_id: str, sku: str) -> str:
    return f"{return_id}:{sku}"


def adjustment_key(adjustment_id: str) -> str:
    """An operator's or partner's stock adjustment, keyed by the id it was sent with."""
    return f"adjustment:{adjustment_id}"


def movement_key(key: str, n: int) -> str:
    """The n-th (n >= 2) ledger row a keyed inventory call writes; the first carries the key itself."""
    return f"{key}/{n}"


def reset_request_id(run_id: str, event_id: int, reason: str) -> str:
    """The same reset of the same run asked twice (a retried call) is one reset: the server deduplicates it."""
    return str(uuid5(NAMESPACE_URL, f"oms-reset:{run_id}:{event_id}:{reason}"))


# -- who did it, as an order's timeline records it ------------------------------------------------
_AGENT_PREFIX = "agent:"


def customer_actor(customer_id: str) -> str:
    return f"customer:{customer_id}"


def agent_actor(agent_id: str) -> str:
    return f"{_AGENT_PREFIX}{agent_id}"


def partner_actor(partner_id: str) -> str:
    return f"partner:{partner_id}"


def is_agent_actor(actor: str) -> bool:
    return actor.startswith(_AGENT_PREFIX)
