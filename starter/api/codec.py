"""The codec server: `POST /codec/encode` and `POST /codec/decode` in Temporal's remote codec protocol, so the
Temporal Web UI and `temporal --codec-endpoint` show an order's payloads decrypted to an operator.

Both take and answer `{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}` (the JSON
form of Temporal's `Payloads`). The caller is an operator: a bearer token (the CLI's `--codec-auth "Bearer ..."`),
or the session cookie `GET /codec/login` sets in the browser, which the Web UI sends when its codec setting
"Include cross-origin credentials" is on. The UI's origin (its port on 127.0.0.1 or localhost) may call them
from the browser; a preflight needs no token.
"""

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from starter.api.auth import Principal, find_principal
from starter.api.orders import Svc
from starter.codec import CodecError, EncryptionCodec, codec_for

router = APIRouter(prefix="/codec", tags=["operations"])

SESSION_COOKIE = "oms_codec_session"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def ui_origins(ui_port: int) -> frozenset[str]:
    return frozenset({f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"})


def _cors(request: Request, svc: Svc) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin is None or origin not in ui_origins(svc.settings.ui_port):
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _operator(request: Request, cors: dict[str, str]) -> Principal:
    tokens: dict[str, Principal] = request.app.state.tokens
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else request.cookies.get(SESSION_COOKIE, "")
    who = find_principal(tokens, token)
    if who is None:
        raise HTTPException(401, "a valid operator token is required", headers={**cors, "WWW-Authenticate": "Bearer"})
    if who.role != "operator":
        raise HTTPException(403, f"role {who.role!r} may not do this; allowed: operator", headers=cors)
    return who


async def _payloads(request: Request, cors: dict[str, str]) -> Payloads:
    body = await request.body()
    try:
        return json_format.Parse(body or b"{}", Payloads())
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as err:
        raise HTTPException(
            400, f'the body is not {{"payloads": [...]}} as the codec protocol has it: {err}', headers=cors
        ) from err


def _answer(payloads: Payloads, cors: dict[str, str]) -> Response:
    return Response(json_format.MessageToJson(payloads), media_type="application/json", headers=cors)


def _codec(svc: Svc) -> EncryptionCodec:
    return codec_for(svc.settings.codec_keys, svc.settings.env)


@router.post("/encode")
async def encode(request: Request, svc: Svc) -> Response:
    cors = _cors(request, svc)
    _operator(request, cors)
    payloads = await _payloads(request, cors)
    encoded = await _codec(svc).encode(payloads.payloads)
    return _answer(Payloads(payloads=encoded), cors)


@router.post("/decode")
async def decode(request: Request, svc: Svc) -> Response:
    cors = _cors(request, svc)
    _operator(request, cors)
    payloads = await _payloads(request, cors)
    try:
        decoded = await _codec(svc).decode(payloads.payloads)
    except CodecError as err:
        raise HTTPException(400, str(err), headers=cors) from err
    return _answer(Payloads(payloads=decoded), cors)


@router.options("/encode", include_in_schema=False)
@router.options("/decode", include_in_schema=False)
async def preflight(request: Request, svc: Svc) -> Response:
    cors = _cors(request, svc)
    if "Access-Control-Allow-Origin" not in cors:
        return Response(status_code=403, headers=cors)
    return Response(
        status_code=204,
        headers={
            **cors,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        },
    )


_LOGIN_PAGE = """<!doctype html><title>OMS codec: operator sign-in</title>
<h1>Decode payloads in the Temporal Web UI</h1>
<p>{message}</p>
<form method="post" action="/codec/login">
<label>Operator token <input type="password" name="token" autocomplete="off"></label>
<button type="submit">Sign in</button>
</form>"""


@router.get("/login", include_in_schema=False)
async def login_page() -> HTMLResponse:
    return HTMLResponse(
        _LOGIN_PAGE.format(
            message="Sign in with an operator token; this browser then sends it to "
            "the codec endpoints when the Web UI asks them to decode."
        )
    )


@router.post("/login", include_in_schema=False)
async def login(request: Request, svc: Svc) -> HTMLResponse:
    form = parse_qs((await request.body()).decode(errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    who = find_principal(request.app.state.tokens, token)
    if who is None or who.role != "operator":
        page = _LOGIN_PAGE.format(message="That is not an operator token.")
        return HTMLResponse(page, status_code=401)
    ui = f"http://127.0.0.1:{svc.settings.ui_port}"
    page = _LOGIN_PAGE.format(
        message=f'Signed in. Open <a href="{html.escape(ui)}">the Temporal Web UI</a>: payloads show decoded.'
    )
    response = HTMLResponse(page)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=svc.settings.production, path="/codec"
    )
    return response
