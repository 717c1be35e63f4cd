"""Signing in to the pages: the session cookie, its CSRF token, and what ends a session."""

import pytest
from fastapi.testclient import TestClient

from starter.api.app import create_app
from starter.api.auth import parse_tokens
from starter.settings import Settings
from starter.web.portals import CONSOLE, MY
from starter.web.session import decode_session, safe_next, session_cookie, session_key
from tests.pages import csrf_of, page_app, sign_in


@pytest.fixture
def http() -> TestClient:
    app, _ = page_app()
    return TestClient(app)


def test_an_agent_signs_in_with_the_token_and_the_cookie_never_holds_it(http: TestClient) -> None:
    # given the console's sign-in page
    page = http.get("/console/login")
    assert page.status_code == 200
    assert 'name="token"' in page.text
    # when an agent posts their token
    answer = http.post(
        "/console/login", data={"token": "t-agent", "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    # then they are sent to the console with an HttpOnly, SameSite=Strict session that does not carry the token
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{CONSOLE.session_cookie}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "t-agent" not in cookie
    # and the console answers them by name
    assert "Signed in as agent:A-7" in http.get("/console").text


def test_a_token_of_another_role_or_none_at_all_gets_no_session(http: TestClient) -> None:
    for token in ("t-c1", "t-store", "nope", ""):
        # given the sign-in page, when a token that is not an agent's or an operator's is posted
        page = http.get("/console/login")
        answer = http.post("/console/login", data={"token": token, "csrf_token": csrf_of(page.text)})
        # then the form is shown again with why, and no page of the console opens
        assert answer.status_code == 401
        assert "That is not a valid agent or operator token." in answer.text
        assert http.get("/console", follow_redirects=False).status_code == 303


def test_signing_in_without_the_forms_csrf_token_is_refused(http: TestClient) -> None:
    # given a browser that has the sign-in page's session, and a form posted from elsewhere without its token
    http.get("/console/login")
    # when the agent's token is posted that way
    answer = http.post("/console/login", data={"token": "t-agent", "csrf_token": "forged"}, follow_redirects=False)
    # then nobody is signed in, and the form is shown again
    assert answer.status_code == 403
    assert "This sign-in form had expired" in answer.text
    assert http.get("/console", follow_redirects=False).status_code == 303


def test_a_form_without_the_sessions_csrf_token_changes_nothing() -> None:
    # given an agent signed in
    app, services = page_app()
    http = TestClient(app)
    sign_in(http, CONSOLE, "t-agent")
    # when a cancel is posted without the session's CSRF token (or with another session's, or one not even ASCII)
    for token in ("", "0" * 64, "é" * 64):
        answer = http.post("/console/orders/W-1/cancel", data={"everything": "yes", "reason": "x", "csrf_token": token})
        # then it is refused and nothing reached the order
        assert answer.status_code == 403
        assert "This form has expired or did not come from this site" in answer.text
    assert services.client.updates == []


def test_a_session_whose_token_changed_role_can_still_sign_out() -> None:
    # given an agent signed in, whose token is then configured as a customer's
    app, _ = page_app()
    http = TestClient(app)
    sign_in(http, CONSOLE, "t-agent")
    app.state.tokens = parse_tokens("t-agent:customer:C-1", production=False)
    refused = http.get("/console")
    assert refused.status_code == 403
    # when they sign out from the refusal's page, then the session ends
    answer = http.post("/console/logout", data={"csrf_token": csrf_of(refused.text)}, follow_redirects=False)
    assert answer.status_code == 303
    assert f'{CONSOLE.session_cookie}=""' in answer.headers["set-cookie"]


def test_signing_out_ends_the_session(http: TestClient) -> None:
    # given an agent signed in
    sign_in(http, CONSOLE, "t-agent")
    page = http.get("/console")
    # when they sign out with the page's form
    answer = http.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    # then the sign-in page says so, and the console asks to sign in again
    assert answer.status_code == 200
    assert "You are signed out." in answer.text
    assert http.get("/console", follow_redirects=False).headers["location"] == "/console/login?next=%2Fconsole"


def test_a_token_taken_out_of_the_configuration_ends_its_sessions() -> None:
    # given an agent signed in
    app, _ = page_app()
    http = TestClient(app)
    sign_in(http, CONSOLE, "t-agent")
    assert http.get("/console").status_code == 200
    # when the API's tokens no longer hold theirs
    app.state.tokens = parse_tokens("t-operator:operator", production=False)
    # then the same cookie opens nothing
    assert http.get("/console", follow_redirects=False).status_code == 303


def test_a_token_given_another_role_is_held_to_the_new_one() -> None:
    # given an agent signed in, whose token is then configured as a storefront's
    app, _ = page_app()
    http = TestClient(app)
    sign_in(http, CONSOLE, "t-agent")
    app.state.tokens = parse_tokens("t-agent:storefront", production=False)
    # when the console is asked, then the page refuses the storefront
    answer = http.get("/console")
    assert answer.status_code == 403
    assert "A storefront may not see this page" in answer.text


def test_a_cookie_changed_by_hand_or_made_for_the_other_portal_opens_nothing() -> None:
    app, _ = page_app()
    key = app.state.session_key
    good = session_cookie(key, CONSOLE, "t-agent")
    body, _, signature = good.partition(".")
    # given a cookie whose body was changed, one signed with another key, and one made for the customer pages
    forged = [
        f"{body[:-2]}xx.{signature}",
        session_cookie(b"k" * 32, CONSOLE, "t-agent"),
        session_cookie(key, MY, "t-agent"),
    ]
    for value in forged:
        # when it is read as a console session, then it is not one
        assert decode_session(key, CONSOLE, value) is None
        http = TestClient(app)
        http.cookies.set(CONSOLE.session_cookie, value)
        assert http.get("/console", follow_redirects=False).status_code == 303
    assert decode_session(key, CONSOLE, good) is not None


def test_an_ended_session_opens_nothing() -> None:
    app, _ = page_app()
    key = app.state.session_key
    value = session_cookie(key, CONSOLE, "t-agent")
    session = decode_session(key, CONSOLE, value)
    assert session is not None
    # given the session's end, when it is read after it, then it is none
    assert decode_session(key, CONSOLE, value, now=session.expires + 1) is None


def test_after_signing_in_the_agent_goes_where_they_were_going_and_never_to_another_site(http: TestClient) -> None:
    # given the order page asked for without a session
    asked = http.get("/console/orders/W-1", follow_redirects=False)
    assert asked.headers["location"] == "/console/login?next=%2Fconsole%2Forders%2FW-1"
    # when the agent signs in from there
    page = http.get(asked.headers["location"])
    answer = http.post(
        "/console/login",
        data={"token": "t-agent", "csrf_token": csrf_of(page.text), "next": "/console/orders/W-1"},
        follow_redirects=False,
    )
    # then they land on the order
    assert answer.headers["location"] == "/console/orders/W-1"
    # and a next page elsewhere is never followed
    for elsewhere in (
        "https://evil.example/console",
        "//evil.example/console",
        "/my/orders",
        "/console/login",
        "/console/../my/orders",
        "/console\\..\\evil",
    ):
        assert safe_next(CONSOLE, elsewhere) == "/console"


def test_production_needs_a_long_session_secret() -> None:
    # given production settings with tokens it accepts
    tokens = f"{'a' * 40}:agent"
    codec = "k1:" + "A" * 43 + "="
    # when the API is built without a session secret, or with a short one, then it refuses to start
    with pytest.raises(ValueError, match="OMS_SESSION_SECRET is required"):
        create_app(Settings(env="prod", tokens=tokens, codec_keys=codec))
    with pytest.raises(ValueError, match="OMS_SESSION_SECRET shorter"):
        session_key(Settings(env="prod", tokens=tokens, session_secret="short"))
    # and a long one signs sessions the same way each time the API starts
    long = Settings(env="prod", tokens=tokens, session_secret="s" * 40)
    assert session_key(long) == session_key(long)
