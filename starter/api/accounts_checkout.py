"""A checkout on account: the account must exist, keep the order's currency and count the customer among its
buyers; the order keeps the account's terms, and waits for an approver when it is above the account's threshold.
The credit limit is the ledger's to hold (integrations/own_ledger.py), at the authorization, so that two orders at
once never both fit into what one alone would."""

import asyncio
from dataclasses import dataclass

from fastapi import HTTPException

from domain.models import InvoicePayment, PlaceOrder
from starter.api.deps import Services
from workflows.messages import ApprovalPolicy


@dataclass(frozen=True)
class OnAccount:
    order: PlaceOrder
    approval: ApprovalPolicy | None


async def on_account(svc: Services, order: PlaceOrder, payment: InvoicePayment) -> OnAccount:
    account = await asyncio.to_thread(svc.accounts.get, payment.account_id)
    if account is None:
        raise HTTPException(422, f"no account {payment.account_id}: an order is invoiced to an account that exists")
    if order.customer.id not in account.buyers:
        raise HTTPException(403, f"customer {order.customer.id} is not a buyer of account {account.id}")
    if order.currency != account.currency:
        raise HTTPException(422, f"account {account.id} is invoiced in {account.currency}, not {order.currency}")
    kept = order.model_copy(update={"payment": payment.model_copy(update={"terms": account.terms})})
    if not account.needs_approval(order.total):
        return OnAccount(kept, None)
    assert account.approval_threshold is not None
    escalate, expire = svc.settings.approval_seconds
    policy = ApprovalPolicy(
        account_id=account.id,
        threshold=account.approval_threshold,
        escalate_after_seconds=escalate,
        expire_after_seconds=expire,
    )
    return OnAccount(kept, policy)
