"""Every order workflow type a worker runs and a replay knows: today's, and the one older orders finish as."""

from workflows.legacy.order import LegacyOrderWorkflow
from workflows.order import OrderWorkflow

ORDER_WORKFLOWS: list[type] = [OrderWorkflow, LegacyOrderWorkflow]
