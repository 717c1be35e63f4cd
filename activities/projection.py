"""Write the order read model from a batch of the workflow's events."""

from temporalio import activity

from activities.contracts import PROJECT_ORDER, ProjectionBatch
from store.order_projection import OrderProjection


class ProjectionActivities:
    def __init__(self, projection: OrderProjection) -> None:
        self._projection = projection

    @activity.defn(name=PROJECT_ORDER)
    def project(self, batch: ProjectionBatch) -> None:
        """The read model never holds the order up: a row it cannot write is skipped and the order flagged in the
        read model (logged here for an operator); only a transient database error fails the step, to be retried."""
        problem = self._projection.project(batch)
        if problem is not None:
            activity.logger.error(
                "Read model incomplete: rows skipped, order flagged",
                extra={"order_id": batch.order.order_id, "workflow_id": batch.workflow_id, "problem": problem},
            )
