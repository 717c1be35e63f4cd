"""`oms bench`: full-lifecycle orders per second through the HTTP API, against Temporal's floor and a naive design."""
