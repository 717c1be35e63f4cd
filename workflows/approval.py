"""The account's approval: a B2B order above its account's threshold is reserved but handed to no location until
one of the account's approvers (or an agent) decides. Nobody deciding by the escalation deadline asks agents too
(the order needs attention); nobody deciding by the expiry rejects it, and the order is canceled."""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import events as ev
    from workflows.messages import ApprovalPolicy
    from workflows.recording import OrderRecord

APPROVAL_STEP = "account approval"


class AccountApproval:
    def __init__(self, policy: ApprovalPolicy | None, record: OrderRecord) -> None:
        self._policy = policy
        self._record = record
        self._escalates_at: datetime | None = None
        self._expires_at: datetime | None = None
        self.rejection: str | None = None  # why the order is to be canceled, once an approver or the deadline says no

    @property
    def wanted(self) -> bool:
        return self._policy is not None

    def hold_until(self, now: datetime) -> datetime | None:
        return now + timedelta(seconds=self._policy.expire_after_seconds) if self._policy else None

    def request(self, now: datetime) -> None:
        """Recorded at checkout, once the order is reserved."""
        assert self._policy is not None
        self._escalates_at = now + timedelta(seconds=self._policy.escalate_after_seconds)
        self._expires_at = now + timedelta(seconds=self._policy.expire_after_seconds)
        self._record(
            ev.ApprovalRequested(
                at=now,
                actor="system",
                account_id=self._policy.account_id,
                threshold=self._policy.threshold,
                until=self._expires_at,
            )
        )

    def decide(self, approved: bool, reason: str, actor: str) -> None:
        self._record(ev.ApprovalDecided(at=workflow.now(), actor=actor, approved=approved, reason=reason))
        if not approved:
            self.rejection = f"rejected for account {self._account_id} by {actor}: {reason}"

    async def wait(self) -> None:
        """Until an approver decides, the order is canceled, or the approval expires."""
        order = self._record.order
        assert self._escalates_at is not None and self._expires_at is not None
        if await self._decided_by(self._escalates_at, "approval escalation"):
            return
        self._record(
            ev.ApprovalEscalated(at=workflow.now(), actor="system", account_id=self._account_id, until=self._expires_at)
        )
        self._record(
            ev.AttentionNeeded(
                at=workflow.now(),
                step=APPROVAL_STEP,
                reason=f"no approver of account {self._account_id} has decided; approve or reject it by "
                f"{self._expires_at:%Y-%m-%d %H:%M} UTC, or it is canceled",
            )
        )
        await self._record.flush()
        decided = await self._decided_by(self._expires_at, "approval expiry")
        if not decided:
            self.decide(False, "no approval before the deadline", "system")
        if order.attention is not None and order.attention.reason.startswith(APPROVAL_STEP):
            self._record(ev.AttentionCleared(at=workflow.now(), actor="system", reason="the approval is decided"))

    async def _decided_by(self, deadline: datetime, summary: str) -> bool:
        order = self._record.order
        try:
            await workflow.wait_condition(
                lambda: not order.awaiting_approval or order.status == "canceled",
                timeout=max(deadline - workflow.now(), timedelta(seconds=1)),
                timeout_summary=summary,
            )
        except TimeoutError:
            return False
        return True

    @property
    def _account_id(self) -> str:
        assert self._policy is not None
        return self._policy.account_id
