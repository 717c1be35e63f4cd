"""Asking a carrier where a parcel is, when it has been silent past the delivery deadline."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import TRACK_PARCEL
from integrations.carrier import CarrierClient, CarrierRefused


class TrackingActivities:
    def __init__(self, carrier: CarrierClient) -> None:
        self._carrier = carrier

    @activity.defn(name=TRACK_PARCEL)
    def track(self, tracking_number: str) -> str | None:
        """The parcel's latest event; asking also makes the carrier send it again."""
        try:
            return self._carrier.track(tracking_number)
        except CarrierRefused as refused:
            raise ApplicationError(str(refused), type="CarrierRefused", non_retryable=True) from refused
