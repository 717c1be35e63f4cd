"""What a customer is told when the order refuses them: the order's own reason, unless it would tell them more
than a customer reads (that a fraud review holds the order, the shop's own locations)."""


def refusal_for_customer(reason: str) -> str:
    lowered = reason.lower()
    if "review" in lowered or "fraud" in lowered:
        return "Your order is still being processed: please try again once it is confirmed."
    if "already left its location" in lowered:
        return "Part of your order has already shipped: the address can change only before shipment."
    return reason
