"""Bind every activity's log lines to its order, workflow and step."""

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.ids import order_id_of_workflow


class _BindOrderContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        order_id = order_id_of_workflow(info.workflow_id) if info.workflow_id else None
        with structlog.contextvars.bound_contextvars(
            order_id=order_id, workflow_id=info.workflow_id, activity=info.activity_type, attempt=info.attempt
        ):
            return await super().execute_activity(input)


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindOrderContext(next)
