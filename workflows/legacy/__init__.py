"""The order workflow as it ran before its parts were composed (type `Order`, process versions 1 and 2).

Orders started under it finish under it: its code stays as it ran, so their histories replay. New orders
start the composed workflow in `workflows/order.py` (type `OrderLifecycle`). Remove this package once no
open order of type `Order` is left (`temporal workflow count --query 'WorkflowType="Order" AND
ExecutionStatus="Running"'`).
"""
