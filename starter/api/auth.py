"""Bearer tokens with one role each, from OMS_TOKENS (`token:role` or `token:customer:<customer id>`)."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from starter.settings import DEV_TOKENS

ROLES = frozenset({"storefront", "agent", "customer", "partner", "operator"})


@dataclass(frozen=True)
class Principal:
    role: str
    customer_id: str | None = None

    @property
    def actor(self) -> str:
        """Who did it, as the order's timeline records it."""
        return f"customer:{self.customer_id}" if self.customer_id else self.role

    def may_see_customer(self, customer_id: str) -> bool:
        return self.role != "customer" or self.customer_id == customer_id


def parse_tokens(spec: str, production: bool) -> dict[str, Principal]:
    if production and spec == DEV_TOKENS:
        raise ValueError("the development tokens are refused in production: set OMS_TOKENS")
    tokens: dict[str, Principal] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        token, _, rest = item.partition(":")
        role, _, customer_id = rest.partition(":")
        if not token or role not in ROLES:
            raise ValueError(f"OMS_TOKENS entry {item!r} is not token:role with a role in {sorted(ROLES)}")
        if (role == "customer") != bool(customer_id):
            raise ValueError(f"OMS_TOKENS entry {item!r}: only a customer token carries a customer id")
        if production and token.startswith("dev-"):
            raise ValueError(f"development token {token!r} is refused in production")
        tokens[token] = Principal(role=role, customer_id=customer_id or None)
    return tokens


_bearer = HTTPBearer(auto_error=False)


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    tokens: dict[str, Principal] = request.app.state.tokens
    found = tokens.get(credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return found


def require(*roles: str) -> Any:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"role {who.role!r} may not do this; allowed: {', '.join(roles)}")
        return who

    return Depends(check)
