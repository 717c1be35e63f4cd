"""The two sets of pages people sign in to, each with its own session: the agent console and the customer pages.

Each portal keeps its session in its own cookie, sent only under its own path, so a customer signed in to /my and
an agent signed in to /console in one browser never see each other's session.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    # who sees the link in the navigation (it guards nothing: the page itself checks the role)
    roles: frozenset[str]


@dataclass(frozen=True)
class Portal:
    name: str
    title: str
    prefix: str
    # the roles whose tokens may sign in here; each page may allow fewer
    roles: frozenset[str]
    nav: tuple[NavLink, ...]

    @property
    def login_path(self) -> str:
        return f"{self.prefix}/login"

    @property
    def logout_path(self) -> str:
        return f"{self.prefix}/logout"

    @property
    def home(self) -> str:
        return self.prefix

    @property
    def session_cookie(self) -> str:
        return f"oms_{self.name}_session"

    @property
    def flash_cookie(self) -> str:
        return f"oms_{self.name}_flash"

    def nav_for(self, role: str | None) -> list[NavLink]:
        return [link for link in self.nav if role in link.roles]

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


STAFF = frozenset({"agent", "operator"})

CONSOLE = Portal(
    name="console",
    title="OMS agent console",
    prefix="/console",
    roles=STAFF,
    nav=(
        NavLink("Orders", "/console", STAFF),
        NavLink("Place an order", "/console/place", frozenset({"agent"})),
        NavLink("Insights", "/console/insights", frozenset({"operator"})),
    ),
)

MY = Portal(
    name="my",
    title="My orders",
    prefix="/my",
    roles=frozenset({"customer"}),
    nav=(NavLink("My orders", "/my/orders", frozenset({"customer"})),),
)

PORTALS = (CONSOLE, MY)
# Paths served as HTML pages or their assets: not part of the JSON API, its OpenAPI document or its role matrix.
PAGE_PREFIXES = (CONSOLE.prefix, MY.prefix, "/static")


def is_page_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES)
