"""Signing in and out of a portal: its sign-in form takes one token, and a session cookie is set in its place."""

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from starter.api.auth import ROLES, find_principal
from starter.web.portals import Portal
from starter.web.session import (
    ANONYMOUS_SECONDS,
    CSRF_FIELD,
    SIGNED_IN_SECONDS,
    PostedForm,
    app_key,
    clear_session,
    csrf_token,
    encode_session,
    form_user,
    new_session,
    read_session,
    safe_next,
    same,
    session_cookie,
    set_session,
)
from starter.web.templating import flash, render


def _roles_in_words(portal: Portal) -> str:
    return " or ".join(sorted(portal.roles))


def _form(
    request: Request, portal: Portal, next_path: str, message: str | None, status_code: int, renew: bool = False
) -> HTMLResponse:
    """The sign-in form, tied to the visitor's session (a new one if the browser has none, or `renew`)."""
    session = None if renew else read_session(request, portal)
    fresh = session is None
    if session is None:
        session = new_session(None, app_key(request))
    page = render(
        request,
        "login.html",
        status_code=status_code,
        portal=portal,
        csrf_token=csrf_token(app_key(request), portal, session),
        next_path=next_path,
        roles=_roles_in_words(portal),
        refusal=message,
    )
    if fresh:
        set_session(page, request, portal, encode_session(app_key(request), portal, session), ANONYMOUS_SECONDS)
    return page


def login_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(portal.login_path, response_class=HTMLResponse)
    async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
        return _form(request, portal, safe_next(portal, next), None, 200)

    @router.post(portal.login_path)
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        token, sent, wanted = (form.get(name) for name in ("token", CSRF_FIELD, "next"))
        next_path = safe_next(portal, wanted if isinstance(wanted, str) else None)
        session = read_session(request, portal)
        expected = csrf_token(app_key(request), portal, session) if session else None
        if expected is None or not isinstance(sent, str) or not same(sent, expected):
            # a form from another site, or one left open past its session: shown again with a new session
            return _form(request, portal, next_path, "This sign-in form had expired: sign in again.", 403, renew=True)
        token = token.strip() if isinstance(token, str) else ""
        who = find_principal(request.app.state.tokens, token)
        if who is None or who.role not in portal.roles:
            return _form(request, portal, next_path, f"That is not a valid {_roles_in_words(portal)} token.", 401)
        response = RedirectResponse(next_path, status_code=303)
        # a new session, with a new nonce: what was known of the visitor's session is worth nothing now
        value = session_cookie(app_key(request), portal, token)
        set_session(response, request, portal, value, SIGNED_IN_SECONDS)
        return response

    # whoever holds a session may end it, even one whose token's role has changed since it was made
    signed_in = Annotated[PostedForm, form_user(portal, *sorted(ROLES))]

    @router.post(portal.logout_path)
    async def sign_out(request: Request, posted: signed_in) -> Response:
        response = RedirectResponse(portal.login_path, status_code=303)
        clear_session(response, portal)
        flash(response, request, "You are signed out.", portal)
        return response

    return router
