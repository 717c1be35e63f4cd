"""The naive reference workload's activity: a step that does nothing, so only Temporal's cost is measured."""

from temporalio import activity

NAIVE_STEP = "naive_step"


@activity.defn(name=NAIVE_STEP)
async def naive_step(step: str) -> str:
    return step
