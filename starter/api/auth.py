"""Bearer tokens with one role each, from OMS_TOKENS, and the partner secrets webhooks are signed with.

An entry is `token:role`, `token:customer:<customer id>`, `token:agent:<agent id>` (the timeline records
`agent:<agent id>`) or `token:partner:<partner id>` (a location id or a carrier id: the token speaks for that
partner only). A bare `token:partner` speaks for every partner, as the local simulators do. With the production
setting the development tokens, unscoped partner tokens and tokens shorter than MIN_PRODUCTION_TOKEN_LENGTH are
refused at start. A presented token is compared with every configured one in constant time.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.ids import agent_actor, customer_actor, partner_actor
from starter.settings import DEV_TOKENS

ROLES = frozenset({"storefront", "agent", "customer", "partner", "operator"})
# The roles whose tokens name who holds them: required for a customer, optional for an agent and a partner.
_SCOPED_ROLES = frozenset({"customer", "agent", "partner"})
MIN_PRODUCTION_TOKEN_LENGTH = 32
_DEV_TOKEN_VALUES = frozenset(item.split(":", 1)[0] for item in DEV_TOKENS.split(","))


@dataclass(frozen=True)
class Principal:
    role: str
    customer_id: str | None = None
    agent_id: str | None = None
    # the location or carrier a partner token speaks for; None: every partner
    partner_id: str | None = None

    @property
    def actor(self) -> str:
        """Who did it, as the order's timeline records it."""
        if self.customer_id:
            return customer_actor(self.customer_id)
        if self.agent_id:
            return agent_actor(self.agent_id)
        if self.partner_id:
            return partner_actor(self.partner_id)
        return self.role

    def may_see_customer(self, customer_id: str) -> bool:
        return self.role != "customer" or self.customer_id == customer_id

    def speaks_for(self, partner_id: str) -> bool:
        """Whether this partner token may act for `partner_id` (an unscoped one speaks for every partner)."""
        return self.role == "partner" and (self.partner_id is None or self.partner_id == partner_id)


def parse_tokens(spec: str, production: bool) -> dict[str, Principal]:
    """OMS_TOKENS as token -> who holds it. Raises ValueError naming the entry that is wrong (in production,
    by its position and role, never by the token itself)."""
    if production and spec == DEV_TOKENS:
        raise ValueError("the development tokens are refused in production: set OMS_TOKENS")
    tokens: dict[str, Principal] = {}
    for position, item in enumerate(filter(None, (part.strip() for part in spec.split(","))), start=1):
        token, _, rest = item.partition(":")
        role, has_id, subject = rest.partition(":")
        named = f"OMS_TOKENS entry {position}" if production else f"OMS_TOKENS entry {item!r}"
        if not token or role not in ROLES:
            raise ValueError(f"{named} is not token:role with a role in {sorted(ROLES)}")
        if role == "customer" and not subject:
            raise ValueError(f"{named}: a customer token carries a customer id")
        if has_id and (role not in _SCOPED_ROLES or not subject.strip()):
            raise ValueError(f"{named}: only customer, agent and partner tokens carry an id, and it is not empty")
        if token in tokens:
            raise ValueError(f"OMS_TOKENS entry {position} (role {role}): the same token is given twice")
        who = Principal(
            role=role,
            customer_id=subject if role == "customer" else None,
            agent_id=subject if role == "agent" and subject else None,
            partner_id=subject if role == "partner" and subject else None,
        )
        if production:
            _refuse_in_production(position, token, who)
        tokens[token] = who
    return tokens


def _refuse_in_production(position: int, token: str, who: Principal) -> None:
    if token.startswith("dev-") or token in _DEV_TOKEN_VALUES:
        raise ValueError(f"development token {token!r} is refused in production")
    entry = f"OMS_TOKENS entry {position} (role {who.role})"
    if len(token) < MIN_PRODUCTION_TOKEN_LENGTH:
        raise ValueError(
            f"{entry}: a token shorter than {MIN_PRODUCTION_TOKEN_LENGTH} characters is refused in production"
        )
    if who.role == "partner" and who.partner_id is None:
        raise ValueError(
            f"{entry}: an unscoped partner token is refused in production; name the partner it speaks for "
            "(token:partner:<location or carrier id>)"
        )


def parse_partner_secrets(spec: str) -> dict[str, str]:
    """OMS_PARTNER_SECRETS (`<partner id>:<secret>,...`) as partner id -> secret."""
    secrets: dict[str, str] = {}
    for position, item in enumerate(filter(None, (part.strip() for part in spec.split(","))), start=1):
        partner_id, _, secret = item.partition(":")
        partner_id = partner_id.strip()
        if not partner_id or not secret:
            raise ValueError(f"OMS_PARTNER_SECRETS entry {position} is not <partner id>:<secret>")
        if partner_id in secrets:
            raise ValueError(f"OMS_PARTNER_SECRETS names partner {partner_id!r} twice")
        secrets[partner_id] = secret
    return secrets


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def find_principal(tokens: Mapping[str, Principal], presented: str) -> Principal | None:
    """Who holds `presented`: compared with every configured token, each in constant time and of one length
    (their SHA-256), so neither a match nor its position nor a token's length shows in the time taken."""
    given = _digest(presented)
    found: Principal | None = None
    for token, who in tokens.items():
        if hmac.compare_digest(_digest(token), given):
            found = who
    return found


_bearer = HTTPBearer(auto_error=False)


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    tokens: Mapping[str, Principal] = request.app.state.tokens
    found = find_principal(tokens, credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return found


def require(*roles: str) -> Any:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"role {who.role!r} may not do this; allowed: {', '.join(roles)}")
        return who

    return Depends(check)


def require_speaks_for(who: Principal, partner_id: str, what: str) -> None:
    """403 unless the partner token `who` may act for `partner_id`, the partner `what` belongs to."""
    if not who.speaks_for(partner_id):
        raise HTTPException(403, f"this partner token speaks for {who.partner_id}, not for {what}")
