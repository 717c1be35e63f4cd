"""Reference workloads for the benchmark, beside the order workflow on the same server and worker settings.

- floor: the order lifecycle's waits only (start, shipped, delivered, the window timer, complete):
  what Temporal itself costs per order on this machine.
- naive: the same waits plus one regular activity per business step, as many steps as the order
  workflow performs: the shape of an order workflow built without local activities or batching.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.reference import NAIVE_STEP
    from workflows.messages import CARRIER_SIGNAL, WAREHOUSE_SIGNAL, CarrierEvent, WarehouseEvent

# The order workflow's business steps, phase by phase, each a regular activity in the naive shape.
NAIVE_STEPS: dict[str, list[str]] = {
    "checkout": ["fraud_screen", "authorize", "reserve", "release_fulfillment_order", "project"],
    "shipped": ["ship_inventory", "capture", "invoice", "project"],
    "delivered": ["project"],
    "completed": ["project"],
}


class _Lifecycle:
    """The waits every order goes through; subclasses add work at each phase."""

    def __init__(self) -> None:
        self.shipped = False
        self.delivered = False

    @workflow.signal(name=WAREHOUSE_SIGNAL)
    def warehouse_event(self, event: WarehouseEvent) -> None:
        self.shipped = self.shipped or event.event == "shipped"

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: CarrierEvent) -> None:
        self.delivered = self.delivered or event.event == "delivered"

    async def lifecycle(self, window_seconds: float) -> str:
        await self.phase("checkout")
        await workflow.wait_condition(lambda: self.shipped)
        await self.phase("shipped")
        await workflow.wait_condition(lambda: self.delivered)
        await self.phase("delivered")
        await workflow.sleep(timedelta(seconds=window_seconds))
        await self.phase("completed")
        return "completed"

    async def phase(self, name: str) -> None:
        return None


@workflow.defn(name="BenchFloor")
class FloorWorkflow(_Lifecycle):
    @workflow.run
    async def run(self, window_seconds: float) -> str:
        return await self.lifecycle(window_seconds)


@workflow.defn(name="BenchNaive")
class NaiveWorkflow(_Lifecycle):
    @workflow.run
    async def run(self, window_seconds: float) -> str:
        return await self.lifecycle(window_seconds)

    async def phase(self, name: str) -> None:
        for step in NAIVE_STEPS[name]:
            await workflow.execute_activity(
                NAIVE_STEP, f"{name}:{step}", start_to_close_timeout=timedelta(seconds=30), summary=step
            )
