"""Sessions for the pages: signed in by a token, re-checked against the configured tokens on every request.

The session cookie never carries the token. It carries a keyed digest of it (HMAC-SHA256 with the session key),
a random nonce, and when it ends, all signed with the session key. Every request looks the digest up among the
tokens the API was started with (each compared in constant time), so a token taken out of OMS_TOKENS ends every
session made with it, and a token given another role is held to the new one.

Every form POST carries a CSRF token in a hidden field: a keyed digest of the session's nonce, so it is good for
that session only. A visitor who has not signed in gets a session without a token, whose nonce the sign-in form's
CSRF token is tied to; signing in starts a new session with a new nonce.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from starter.api.auth import Principal
from starter.settings import Settings
from starter.web.portals import Portal

CSRF_FIELD = "csrf_token"
SIGNED_IN_SECONDS = 12 * 3600
# a sign-in form left open longer than this is refused and shown again
ANONYMOUS_SECONDS = 2 * 3600
MIN_PRODUCTION_SECRET_LENGTH = 32


def session_key(settings: Settings) -> bytes:
    """The key sessions are signed with: OMS_SESSION_SECRET, required (and long) in production. In development
    without one, a random key per process: sessions then end when the API restarts."""
    secret = settings.session_secret
    if secret is None or not secret.strip():
        if settings.production:
            raise ValueError("OMS_SESSION_SECRET is required in production: the pages' sessions are signed with it")
        return secrets.token_bytes(32)
    if settings.production and len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
        raise ValueError(
            f"OMS_SESSION_SECRET shorter than {MIN_PRODUCTION_SECRET_LENGTH} characters is refused in production"
        )
    return hashlib.sha256(b"oms-session:" + secret.encode()).digest()


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time equality of what a browser sent and what was made here; as bytes, since `compare_digest`
    raises on a str that is not ASCII, and a browser may send anything."""
    return hmac.compare_digest(given.encode(), expected.encode())


def token_digest(key: bytes, token: str) -> str:
    return _mac(key, "token", token)


@dataclass(frozen=True)
class Session:
    nonce: str
    # the keyed digest of the token signed in with; None before signing in
    token_digest: str | None
    expires: int


def encode_session(key: bytes, portal: Portal, session: Session) -> str:
    payload = json.dumps({"n": session.nonce, "k": session.token_digest, "e": session.expires}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{body}.{_mac(key, 'session', portal.name, body)}"


def decode_session(key: bytes, portal: Portal, value: str, now: float | None = None) -> Session | None:
    """The session a cookie holds, or None when it is not one this key signed for this portal, or it has ended."""
    body, _, signature = value.partition(".")
    if not same(signature, _mac(key, "session", portal.name, body)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = Session(nonce=str(data["n"]), token_digest=data["k"], expires=int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (time.time() if now is None else now) else None


def new_session(token: str | None, key: bytes) -> Session:
    lifetime = SIGNED_IN_SECONDS if token is not None else ANONYMOUS_SECONDS
    digest = token_digest(key, token) if token is not None else None
    return Session(nonce=secrets.token_urlsafe(16), token_digest=digest, expires=int(time.time()) + lifetime)


def session_cookie(key: bytes, portal: Portal, token: str | None) -> str:
    """A new session's cookie value: signed in with `token`, or (None) a visitor's."""
    return encode_session(key, portal, new_session(token, key))


def csrf_token(key: bytes, portal: Portal, session: Session) -> str:
    return _mac(key, "csrf", portal.name, session.nonce)


def set_session(response: Response, request: Request, portal: Portal, value: str, max_age: int) -> None:
    settings: Settings = request.app.state.settings
    response.set_cookie(
        portal.session_cookie,
        value,
        max_age=max_age,
        path=portal.prefix,
        httponly=True,
        samesite="strict",
        secure=settings.production,
    )


def clear_session(response: Response, portal: Portal) -> None:
    response.delete_cookie(portal.session_cookie, path=portal.prefix, httponly=True, samesite="strict")


def app_key(request: Request) -> bytes:
    key: bytes = request.app.state.session_key
    return key


def read_session(request: Request, portal: Portal) -> Session | None:
    value = request.cookies.get(portal.session_cookie)
    return decode_session(app_key(request), portal, value) if value else None


def principal_of(key: bytes, tokens: Mapping[str, Principal], session: Session) -> Principal | None:
    """Who the session is signed in as, looked up again among the configured tokens: every token's digest is
    computed and compared in constant time, so neither a match nor its position shows in the time taken."""
    if session.token_digest is None:
        return None
    found: Principal | None = None
    for token, who in tokens.items():
        if same(token_digest(key, token), session.token_digest):
            found = who
    return found


class SignInRequired(Exception):
    """Nobody is signed in to the portal: the page answers with its sign-in form."""

    def __init__(self, portal: Portal, next_path: str | None) -> None:
        super().__init__(f"sign in to {portal.title}")
        self.portal = portal
        self.next_path = next_path


class PageRefused(Exception):
    """The page answers with a page saying why (403: a role that may not see it, a form that failed its CSRF
    check; 404: no such thing for this person)."""

    def __init__(self, portal: Portal, status_code: int, message: str) -> None:
        super().__init__(message)
        self.portal = portal
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class PageUser:
    """Who is signed in to a page, and the CSRF token its forms carry."""

    principal: Principal
    portal: Portal
    csrf_token: str

    @property
    def role(self) -> str:
        return self.principal.role


@dataclass(frozen=True)
class PostedForm:
    """A form POST that passed its CSRF check, and who sent it."""

    user: PageUser
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str)]


def safe_next(portal: Portal, candidate: str | None) -> str:
    """Where to go after signing in: a path of this portal only (never another site, nor the sign-in page)."""
    if not candidate:
        return portal.home
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or candidate.startswith("//") or "\\" in candidate:
        return portal.home
    if ".." in parts.path.split("/") or not portal.owns(parts.path):
        return portal.home
    if parts.path in (portal.login_path, portal.logout_path):
        return portal.home
    return candidate


def _signed_in(request: Request, portal: Portal, roles: frozenset[str]) -> PageUser:
    session = read_session(request, portal)
    who = principal_of(app_key(request), request.app.state.tokens, session) if session else None
    if session is None or who is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(portal, wanted if request.method == "GET" else None)
    user = PageUser(principal=who, portal=portal, csrf_token=csrf_token(app_key(request), portal, session))
    # kept for the page, a refusal's too: it shows who is signed in, and the way out
    request.state.page_user = user
    if who.role not in roles:
        article = "An" if who.role[0] in "aeiou" else "A"
        raise PageRefused(
            portal, 403, f"{article} {who.role} may not see this page; it is for: {', '.join(sorted(roles))}."
        )
    return user


def page_user(portal: Portal, *roles: str) -> Any:
    """A page's dependency: who is signed in, with one of `roles` (all the portal's roles when none are named).
    Nobody signed in: the sign-in page; another role: a 403 page."""
    allowed = frozenset(roles) or portal.roles

    async def check(request: Request) -> PageUser:
        return _signed_in(request, portal, allowed)

    return Depends(check)


def form_user(portal: Portal, *roles: str) -> Any:
    """A form POST's dependency: as `page_user`, and the form's CSRF token must be this session's (403 otherwise)."""
    allowed = frozenset(roles) or portal.roles

    async def check(request: Request) -> PostedForm:
        user = _signed_in(request, portal, allowed)
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not same(sent, user.csrf_token):
            raise PageRefused(portal, 403, "This form has expired or did not come from this site: reload the page.")
        return PostedForm(user=user, form=form)

    return Depends(check)
