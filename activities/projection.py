"""Write the order read model from a batch of the workflow's events."""

from temporalio import activity

from activities.contracts import PROJECT_ORDER
from store.read_model import OrderProjection, ProjectionBatch


class ProjectionActivities:
    def __init__(self, projection: OrderProjection) -> None:
        self._projection = projection

    @activity.defn(name=PROJECT_ORDER)
    def project(self, batch: ProjectionBatch) -> None:
        self._projection.project(batch)
