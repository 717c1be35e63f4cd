"""Search attributes every order carries, so operators filter orders in the Temporal UI."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
# "true" while the order waits for a person (a step failed for good, a partner silent past its deadline)
NEEDS_ATTENTION = SearchAttributeKey.for_keyword("NeedsAttention")

# name -> type, as `temporal server start-dev --search-attribute NAME=TYPE` and the operator API take them
REGISTRY: dict[str, str] = {
    "OrderStatus": "Keyword",
    "CustomerId": "Keyword",
    "Channel": "Keyword",
    "OrderTotal": "Double",
    "NeedsAttention": "Keyword",
}
