"""What the order 360 view's action forms need: which of them a person sees, and reading their fields back.

Each action is offered to the roles its JSON route allows (an operator may only retry); the order's workflow
decides whether it is allowed now, and its refusal is shown at the form.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from starter.web.session import PostedForm
from store.read_model import OrderSummary

AGENT_ACTIONS = ("cancel", "return", "exchange", "appeasement", "reship", "address", "review", "pickup", "retry")
OPERATOR_ACTIONS = ("retry",)


class FormProblem(Exception):
    """A form that cannot be an action as it was filled in (nothing chosen, say): said to the person at the form."""


@dataclass(frozen=True)
class ActionRefusal:
    """An action refused (by the order, or for its fields): which form, and why."""

    action: str
    reason: str


def action_forms(summary: OrderSummary, role: str) -> dict[str, bool]:
    """Per action, whether its form is shown: the review while the order is on hold, the counter pickup while a
    fulfillment order waits at its store, the retry while the order needs a person; the rest always."""
    offered = AGENT_ACTIONS if role == "agent" else OPERATOR_ACTIONS
    now = {
        "review": summary.status == "on_hold",
        "pickup": any(fo.status == "ready_for_pickup" for fo in summary.fulfillment_orders),
        "retry": summary.attention is not None,
    }
    return {action: action in offered and now.get(action, True) for action in AGENT_ACTIONS}


def lines_of(posted: PostedForm, prefix: str = "") -> list[dict[str, Any]]:
    """`{prefix}sku` and `{prefix}quantity` fields, pairwise, as request lines; a blank or zero quantity is left
    out. A quantity that is not a whole number is kept as written, so the request names it as invalid."""
    skus = posted.texts(f"{prefix}sku")
    quantities = posted.texts(f"{prefix}quantity")
    lines: list[dict[str, Any]] = []
    for sku, quantity in zip(skus, quantities, strict=False):
        if not quantity or quantity == "0":
            continue
        lines.append({"sku": sku, "quantity": int(quantity) if quantity.isdigit() else quantity})
    return lines


def optional(posted: PostedForm, name: str) -> str | None:
    return posted.text(name) or None


def in_words(err: ValidationError) -> str:
    """A validation error as a person reads it: each field that is wrong, and why."""
    problems = []
    for problem in err.errors():
        where = " ".join(str(part) for part in problem["loc"] if not isinstance(part, int))
        message = str(problem["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems) or str(err)


def detail_in_words(detail: Any) -> str:
    """An HTTPException's detail (a sentence, or FastAPI's list of field errors) as one sentence."""
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return str(detail)
