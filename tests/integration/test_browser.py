"""The agent console and the customer pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The stack is this module's own, with the partner simulators off, so each order is exactly where the test puts
it (accepted, shipped, delivered) when the page opens. Pages are found the way a person finds them: by
headings, labels and button names (roles), which also proves those names are there. Each test saves a
screenshot of the page it ends on under test-artifacts/screenshots/ (passed or failed).

`make browser` installs the Chromium these tests drive (`OMS_TEST_CHROMIUM`, default /usr/bin/chromium).
"""

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from starter.settings import DEV_TOKENS
from tests.integration.conftest import RunningStack, wait_for_order, wait_for_status
from tests.integration.test_service_by_hand import ship, ship_and_deliver_all
from tests.orders import checkout_body

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("OMS_TEST_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# the order 360 view as the README shows it
README_SCREENSHOT = ROOT / "docs" / "console-order.png"
# set to 1 to write the README's screenshot again (it is kept under test-artifacts/ on every run)
UPDATE_DOCS = os.environ.get("OMS_TEST_UPDATE_DOCS") == "1"

# a customer of this module's own, with a token for the customer pages
CUSTOMER_ID = "C-BROWSER"
CUSTOMER_TOKEN = "browser-customer"
AGENT_TOKEN = "dev-agent"

# no wait for something on a page is longer than this
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def by_hand_settings() -> dict[str, str]:
    return {"OMS_TOKENS": f"{DEV_TOKENS},{CUSTOMER_TOKEN}:customer:{CUSTOMER_ID}"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium by path; never a browser Playwright downloads, and never a quiet skip without one."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium package (as root with apt-get), "
            "or set OMS_TEST_CHROMIUM to a Chromium or Chrome binary"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, by_hand: RunningStack) -> Iterator[BrowserContext]:
    """A fresh browser profile (no session cookie) on the module's stack."""
    opened = browser.new_context(base_url=by_hand.api_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened.set_default_timeout(20_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page whose last view is saved as the test's screenshot artifact, whatever the outcome."""
    opened = context.new_page()
    yield opened
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    opened.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


# -- orders in the state a scenario needs ----------------------------------------------------------------
def customer(tag: str, customer_id: str | None = None) -> dict[str, str]:
    """A customer whose e-mail address no other order in the stack has, so a search for it finds only theirs."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "id": customer_id or f"C-{tag}-{suffix}",
        "email": f"{tag.lower()}-{suffix}@example.com",
        "name": "Aiko Sato",
        "locale": "en",
    }


def place(storefront: httpx.Client, agent: httpx.Client, body: dict[str, Any], status: str) -> dict[str, Any]:
    """Check the order out and wait until the read model (which the pages read) has it in `status`."""
    response = storefront.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return wait_for_status(agent, body["order_id"], status, timeout=30)


def released(agent: httpx.Client, order_id: str) -> dict[str, Any]:
    """Wait until the order's fulfillment orders are in the read model."""
    return wait_for_order(agent, order_id, lambda s: bool(s["fulfillment_orders"]), "its fulfillment orders")


def line(summary: dict[str, Any], sku: str) -> dict[str, Any]:
    found: dict[str, Any] = next(ln for ln in summary["lines"] if ln["sku"] == sku)
    return found


def sign_in(page: Page, portal: str, token: str) -> None:
    """Sign in through the portal's form with the mouse, and land on the page it leads to."""
    page.goto(f"/{portal}/login")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def table_of(page: Page, section: str) -> Locator:
    """The table of the page's section (a region) headed `section`."""
    return page.get_by_role("region", name=section).get_by_role("table")


def cell(table: Locator, row_text: str, column: str) -> Locator:
    """The table's cell in the row naming `row_text`, under the column header `column`."""
    headers = table.get_by_role("columnheader").all_inner_texts()
    row = table.get_by_role("row").filter(has_text=row_text)
    return row.get_by_role("cell").nth(headers.index(column))


# -- the agent console -----------------------------------------------------------------------------------
def test_an_agent_finds_an_order_by_e_mail_opens_its_360_view_and_cancels_a_line(
    page: Page, storefront: httpx.Client, agent: httpx.Client
) -> None:
    # given an accepted order of two lines, released to its location, for a customer known by e-mail
    shopper = customer("FIND")
    lines = [
        {"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"},
        {"sku": "TEA-MATCHA-100", "quantity": 2, "unit_price": "2400"},
    ]
    body = checkout_body(customer=shopper, lines=lines)
    order_id = body["order_id"]
    place(storefront, agent, body, "accepted")
    released(agent, order_id)

    # when an agent signs in and searches the orders by the customer's e-mail
    sign_in(page, "console", AGENT_TOKEN)
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    search = page.get_by_role("search", name="Search orders")
    search.get_by_label("E-mail").fill(shopper["email"].upper())
    search.get_by_role("button", name="Search").click()

    # then the one order of that customer is found, and its link opens the order 360 view
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("table")).to_contain_text(shopper["id"])
    expect(results.get_by_role("row")).to_have_count(2)  # the header and the order
    results.get_by_role("link", name=order_id).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
    expect(page.get_by_role("region", name="Summary")).to_contain_text(shopper["email"])

    # when the agent cancels both units of the tea in the Cancel lines form
    cancel = page.get_by_role("form", name="Cancel lines")
    cancel.get_by_label("Quantity of TEA-MATCHA-100 to cancel").fill("2")
    cancel.get_by_label("Reason").fill("the customer no longer wants the tea")
    cancel.get_by_role("button", name="Cancel lines").click()

    # then the page says it is done and the order stays accepted with the castle alone
    expect(page.get_by_role("status")).to_contain_text("Canceled. The order is accepted.")
    summary = wait_for_order(agent, order_id, lambda s: line(s, "TEA-MATCHA-100")["canceled"] == 2, "tea canceled")
    assert summary["status"] == "accepted"
    assert line(summary, "LEGO-76419")["canceled"] == 0
    assert summary["timeline"][-1]["actor"].startswith("agent")
    page.reload()
    expect(cell(table_of(page, "Lines"), "TEA-MATCHA-100", "Canceled")).to_have_text("2")
    expect(cell(table_of(page, "Lines"), "LEGO-76419", "Canceled")).to_have_text("0")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "console-order.png", full_page=True)
    if UPDATE_DOCS:
        page.screenshot(path=README_SCREENSHOT, full_page=True)


def test_a_cancel_of_an_order_that_has_shipped_is_refused_in_place(
    page: Page, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client
) -> None:
    # given an order whose one parcel has left the warehouse
    body = checkout_body(customer=customer("SHIPPED"))
    order_id = body["order_id"]
    place(storefront, agent, body, "accepted")
    [fo] = released(agent, order_id)["fulfillment_orders"]
    ship(partner, agent, order_id, fo["id"])
    wait_for_status(agent, order_id, "shipped")

    # when an agent asks to cancel its line on the order 360 view
    sign_in(page, "console", AGENT_TOKEN)
    page.goto(f"/console/orders/{order_id}")
    cancel = page.get_by_role("form", name="Cancel lines")
    cancel.get_by_label("Quantity of LEGO-76419 to cancel").fill("1")
    cancel.get_by_label("Reason").fill("the customer changed their mind")
    with page.expect_response(f"**/console/orders/{order_id}/cancel") as answer:
        cancel.get_by_role("button", name="Cancel lines").click()

    # then the order refuses, and the reason is shown at the form itself, with a link to it at the top
    assert answer.value.status == 409
    expect(cancel.get_by_role("alert")).to_contain_text(re.compile(r"Refused: .*ship", re.IGNORECASE))
    expect(page.get_by_role("link", name=re.compile("cancel was refused"))).to_have_attribute("href", "#cancel-refusal")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
    # and nothing was canceled
    summary = wait_for_status(agent, order_id, "shipped")
    assert line(summary, "LEGO-76419")["canceled"] == 0
    expect(cell(table_of(page, "Lines"), "LEGO-76419", "Canceled")).to_have_text("0")


def test_an_agent_approves_an_order_held_for_fraud_review(
    page: Page, storefront: httpx.Client, agent: httpx.Client
) -> None:
    # given an order the fraud screen holds: large (40), bulk (25) and shipped to another name (10) = 75 >= 70
    shopper = customer("HELD")
    body = checkout_body(
        customer=shopper,
        lines=[{"sku": "TEA-MATCHA-100", "quantity": 20, "unit_price": "30000"}],
        shipping_address={**checkout_body()["shipping_address"], "name": "Ken Tanaka"},
    )
    order_id = body["order_id"]
    place(storefront, agent, body, "on_hold")

    # when an agent opens the customer's record and, from it, the order
    sign_in(page, "console", AGENT_TOKEN)
    page.goto(f"/console/customers/{shopper['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Customer {shopper['id']}")
    expect(page.get_by_role("region", name="Profile")).to_contain_text(shopper["email"])
    page.get_by_role("region", name="Orders").get_by_role("link", name=order_id).click()

    # then the order shows its hold and the fraud review form with its score
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
    review = page.get_by_role("form", name="Fraud review")
    expect(review).to_contain_text("fraud score 75")

    # when the agent approves it, giving a reason
    review.get_by_label("Reason").fill("called the customer: a gift for the office")
    review.get_by_role("button", name="Approve").click()

    # then the page says it is approved, and the order goes on to be accepted without the review form
    expect(page.get_by_role("status")).to_contain_text("Approved.")
    wait_for_status(agent, order_id, "accepted")
    page.reload()
    expect(page.get_by_role("region", name="Summary")).to_contain_text("accepted")
    expect(page.get_by_role("form", name="Fraud review")).to_have_count(0)
    expect(page.get_by_role("form", name="Cancel lines")).to_be_visible()


# -- the customer pages ----------------------------------------------------------------------------------
def test_a_customer_starts_a_return_on_their_pages_and_gets_its_label(
    page: Page, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client
) -> None:
    # given a delivered order of the signed-in customer's
    body = checkout_body(customer=customer("RETURN", customer_id=CUSTOMER_ID))
    order_id = body["order_id"]
    place(storefront, agent, body, "accepted")
    ship_and_deliver_all(partner, agent, order_id)

    # when the customer signs in, opens the order from their list and asks to return the castle by mail
    sign_in(page, "my", CUSTOMER_TOKEN)
    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    page.get_by_role("link", name=order_id).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
    returning = page.get_by_role("group", name="Return items")
    returning.get_by_label("How many LEGO-76419 to return").fill("1")
    returning.get_by_label("Why are you returning them?").fill("it arrived with a dent")
    returning.get_by_label("By mail, with a prepaid label").check()
    returning.get_by_role("button", name="Start the return").click()

    # then the return's page shows its label, the same the order records
    summary = wait_for_order(agent, order_id, lambda s: bool(s["returns"]), "its return")
    [started] = summary["returns"]
    assert started["method"] == "mail" and started["label"]
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Return {started['rma']}")
    expect(page.get_by_role("status")).to_contain_text(f"Your return {started['rma']} has started")
    expect(page.get_by_role("heading", name="Your return label")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(started["label"])
    expect(page.get_by_role("img", name=re.compile(f"Return label {started['label']}"))).to_be_visible()

    # and the label downloads as a printable file naming the return
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the label").click()
    assert download.value.suggested_filename == f"{started['rma']}-label.svg"
    label = Path(download.value.path()).read_text()
    assert label.startswith("<svg") and started["label"] in label and started["rma"] in label


# -- keyboard and labels ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("portal", "token", "home"), [("console", AGENT_TOKEN, "Orders"), ("my", CUSTOMER_TOKEN, "My orders")]
)
def test_signing_in_takes_only_the_keyboard(page: Page, portal: str, token: str, home: str) -> None:
    # given the portal's sign-in page, nothing focused yet
    page.goto(f"/{portal}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    # when the first Tab reaches the skip link and Enter follows it to the page's content
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")

    # then the next Tab is in the token field, and the one after on the Sign in button
    page.keyboard.press("Tab")
    expect(page.get_by_label("Token")).to_be_focused()
    page.keyboard.type(token)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()

    # when Enter presses it, the portal's home page opens, signed in
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(home)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


FORM_FIELDS = "input:not([type=hidden]), select, textarea"


def label_problems(page: Page) -> list[str]:
    """What keeps the page's forms from being used by their labels: a field no <label>, aria-label or
    aria-labelledby names (a placeholder or a title is not a label), a field or button whose accessible name is
    empty, or not exactly one top-level heading."""
    problems: list[str] = page.eval_on_selector_all(
        FORM_FIELDS,
        """fields => fields
            .filter(f => !(f.labels && f.labels.length) && !f.getAttribute('aria-label')
                         && !f.getAttribute('aria-labelledby'))
            .map(f => 'no label: ' + f.outerHTML)""",
    )
    for control in [*page.locator(FORM_FIELDS).all(), *page.get_by_role("button").all()]:
        try:
            expect(control).to_have_accessible_name(re.compile(r"\w"), timeout=1_000)
        except AssertionError:
            problems.append(f"no accessible name: {control.evaluate('el => el.outerHTML')}")
    if (headings := page.get_by_role("heading", level=1).count()) != 1:
        problems.append(f"{headings} level-1 headings")
    return problems


def test_every_form_field_of_every_page_has_a_label(
    page: Page, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client
) -> None:
    # given orders that show every form there is: one accepted (every service action, and the customer's address
    # change), one held for review, one delivered (the customer's return), all the module customer's
    accepted = checkout_body(customer=customer("LABELS", customer_id=CUSTOMER_ID))
    place(storefront, agent, accepted, "accepted")
    held = checkout_body(
        customer=customer("LABELS", customer_id=CUSTOMER_ID),
        lines=[{"sku": "TEA-MATCHA-100", "quantity": 20, "unit_price": "30000"}],
        shipping_address={**accepted["shipping_address"], "name": "Ken Tanaka"},
    )
    place(storefront, agent, held, "on_hold")
    delivered = checkout_body(customer=customer("LABELS", customer_id=CUSTOMER_ID))
    place(storefront, agent, delivered, "accepted")
    ship_and_deliver_all(partner, agent, delivered["order_id"])

    # when each page is opened by whoever may see it: nobody, an agent, the customer, an operator
    problems: dict[str, list[str]] = {}

    def audit(path: str, heading: str) -> None:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        if found := label_problems(page):
            problems[path] = found

    audit("/console/login", "Sign in")
    audit("/my/login", "Sign in")
    sign_in(page, "console", AGENT_TOKEN)
    audit("/console", "Orders")
    audit(f"/console/orders/{accepted['order_id']}", f"Order {accepted['order_id']}")
    for form in ("Cancel lines", "Return", "Exchange", "Appeasement", "Reship", "Change address"):
        expect(page.get_by_role("form", name=form)).to_be_visible()
    audit(f"/console/orders/{held['order_id']}", f"Order {held['order_id']}")
    expect(page.get_by_role("form", name="Fraud review")).to_be_visible()
    audit(f"/console/customers/{CUSTOMER_ID}", f"Customer {CUSTOMER_ID}")
    audit("/console/place", "Place an order")
    sign_in(page, "my", CUSTOMER_TOKEN)
    audit("/my/orders", "My orders")
    audit(f"/my/orders/{accepted['order_id']}", f"Order {accepted['order_id']}")
    expect(page.get_by_role("group", name="Change the delivery address")).to_be_visible()
    audit(f"/my/orders/{delivered['order_id']}", f"Order {delivered['order_id']}")
    expect(page.get_by_role("group", name="Return items")).to_be_visible()
    page.context.clear_cookies()
    sign_in(page, "console", "dev-operator")
    audit("/console/insights", "Insights")

    # then every field on them is named by its label, and every button by its text
    assert problems == {}


CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea"
MAX_TAB_STOPS = 300


def keyboard_gaps(page: Page) -> list[str]:
    """Press Tab from the top of the page until focus leaves its last control (or comes round to the first again),
    marking each control focused on the way (a date field takes a Tab per part); returns every visible control the
    keyboard never reached (of a group of radio buttons, the checked one is the group's stop), every stop that
    showed no focus outline, and a focus that never left the page's controls."""
    page.locator("body").focus()
    gaps: list[str] = []
    for stop in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """stop => {
                const el = document.activeElement;
                if (!el || el === document.body || (stop > 0 && el.dataset.tabStop === '0')) return null;
                if (el.dataset.tabStop) return '';
                el.dataset.tabStop = String(stop);
                const style = getComputedStyle(el);
                const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
                return ring ? '' : 'no focus outline: ' + el.outerHTML.slice(0, 200);
            }""",
            stop,
        )
        if focused is None:
            break
        if focused:
            gaps.append(focused)
    else:
        gaps.append(f"focus still among the controls after {MAX_TAB_STOPS} presses of Tab")
    unreached: list[str] = page.eval_on_selector_all(
        CONTROLS,
        """controls => controls
            .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
            .filter(el => !(el.type === 'radio' && !el.checked))
            .filter(el => !el.dataset.tabStop)
            .map(el => 'not reached by Tab: ' + el.outerHTML.slice(0, 200))""",
    )
    return gaps + unreached


def test_the_keyboard_reaches_every_control_of_the_order_pages_with_a_visible_focus(
    page: Page, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client
) -> None:
    # given an accepted order (every service action offered) and a delivered one of the customer's (a return form)
    accepted = checkout_body(customer=customer("KEYS", customer_id=CUSTOMER_ID))
    place(storefront, agent, accepted, "accepted")
    delivered = checkout_body(customer=customer("KEYS", customer_id=CUSTOMER_ID))
    place(storefront, agent, delivered, "accepted")
    ship_and_deliver_all(partner, agent, delivered["order_id"])

    # when Tab walks the console's search, the order 360 view, and the customer's own order page
    gaps: dict[str, list[str]] = {}
    sign_in(page, "console", AGENT_TOKEN)
    sign_in(page, "my", CUSTOMER_TOKEN)
    for path in ("/console", f"/console/orders/{accepted['order_id']}", f"/my/orders/{delivered['order_id']}"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        if found := keyboard_gaps(page):
            gaps[path] = found

    # then every control was a stop on the way, and each stop showed where the focus was
    assert gaps == {}


# -- insights --------------------------------------------------------------------------------------------
def test_an_operator_reads_the_orders_by_status_and_phase_as_charts_that_an_agent_may_not_see(
    page: Page, storefront: httpx.Client, agent: httpx.Client, partner: httpx.Client, operator: httpx.Client
) -> None:
    # given a delivered order (so every phase has one) among the module's others
    delivered = checkout_body(customer=customer("INSIGHTS"))
    place(storefront, agent, delivered, "accepted")
    ship_and_deliver_all(partner, agent, delivered["order_id"])

    # when an agent asks for the insights, the page refuses them
    sign_in(page, "console", AGENT_TOKEN)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Insights")).to_have_count(0)
    with page.expect_response("**/console/insights") as refused:
        page.goto("/console/insights")
    assert refused.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")

    # when an operator signs in and follows the navigation to them
    page.context.clear_cookies()
    sign_in(page, "console", "dev-operator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Insights")

    # then each chart is an image named by its title, with its figures in words and in a table beside it
    for chart in ("Orders by status", "Orders by channel", "Time spent per phase"):
        image = page.get_by_role("img", name=re.compile(f"^{chart}"))
        expect(image).to_be_visible()
        expect(image.locator("desc")).not_to_be_empty()
        expect(page.get_by_role("table", name=chart)).to_be_visible()
    status_chart = page.get_by_role("img", name=re.compile("^Orders by status"))
    expect(status_chart.locator("desc")).to_have_text(re.compile(r"^\d+ orders by status: "))
    # and the orders by status are the orders the API lists, status by status
    listed = operator.get("/v1/orders", params={"limit": 500})
    assert listed.status_code == 200, listed.text
    expected: dict[str, int] = {}
    for order in listed.json():
        status = order["status"].replace("_", " ")
        expected[status] = expected.get(status, 0) + 1
    rows = page.get_by_role("table", name="Orders by status").locator("tbody tr")
    shown = {row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(1).inner_text()) for row in rows.all()}
    assert {status: count for status, count in shown.items() if count} == expected
    # and the delivered order is counted in the time from placed to delivered
    phases = page.get_by_role("table", name="Time spent per phase")
    expect(cell(phases, "placed → delivered", "Orders")).not_to_have_text("0")
