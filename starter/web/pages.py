"""Everything the pages add to the API app: their session key, static files, sign-in routes, page routers, and
the answers a page gives when nobody is signed in (the sign-in form) or the person may not see it (a 403 page).

Every page route is left out of the OpenAPI document: the JSON API is the contract, the pages are its screens.
"""

from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from starter.settings import Settings
from starter.web import console_actions, console_pages, console_place, insights_page, my_pages
from starter.web.login import login_router
from starter.web.portals import PORTALS
from starter.web.session import PageRefused, SignInRequired, session_key
from starter.web.templating import STATIC, render

# Page routers besides sign-in: each portal's pages add theirs here.
PAGE_ROUTERS = (
    console_pages.router,
    console_actions.router,
    console_place.router,
    insights_page.router,
    my_pages.router,
)


def mount_pages(app: FastAPI, settings: Settings) -> None:
    """Serve the pages on `app`. Raises ValueError in production without OMS_SESSION_SECRET."""
    app.state.settings = settings
    app.state.session_key = session_key(settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for portal in PORTALS:
        app.include_router(login_router(portal))
    for router in PAGE_ROUTERS:
        app.include_router(router, include_in_schema=False)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        query = f"?{urlencode({'next': exc.next_path})}" if exc.next_path else ""
        return RedirectResponse(f"{exc.portal.login_path}{query}", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefused)
        return render(
            request,
            "refused.html",
            status_code=exc.status_code,
            portal=exc.portal,
            reason=exc.message,
            status=exc.status_code,
        )

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(PageRefused, refused)
