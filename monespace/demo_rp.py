"""The demo relying party (demo mode only): one page that runs the whole OpenID Connect flow
against this service's provider and shows what a relying party receives.

``/demo-rp`` offers two buttons: log in as a citizen (``openid profile``) or for an enterprise
(``openid profile enterprise``, through the espace chooser). The relying party is the demo
client ``demo-rp``: it sends an authorization request with ``state``, ``nonce`` and PKCE
(S256), and on the way back checks ``state`` and ``iss`` (RFC 9207), redeems the code at the
token endpoint with its secret (HTTP Basic), verifies the ID token's signature against the
provider's JWK Set and its ``iss``, ``aud`` and ``nonce``, and asks the userinfo and
introspection endpoints. The page shows the decoded ID token and both answers, so a newcomer
sees the claims in a minute.

The back channel (token, keys, userinfo) reaches the provider inside the process, as the
itsme simulator's does; the browser's part goes through real redirects.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authz import clients, constant_time, db
from monespace.demo import DEMO_ACTOR, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, demo_catalogue_entry

PATH = "/demo-rp"
COOKIE = "monespace_demo_rp"
FLOW_SECONDS = 900

bp = Blueprint("demo_rp", __name__, url_prefix=PATH)


def init_app(app: Flask) -> None:
    config = app.config["MONESPACE"]
    if not config.is_demo:
        return
    # The demo client's redirect URI follows the demo's address (serve --port changes it).
    callback = config.base_url + PATH + "/callback"
    with db.connection():
        client = clients.find_client(DEMO_CLIENT_ID)
        if client is not None and client.is_enabled and callback not in client.redirect_uris:
            clients.add_redirect_uri(DEMO_CLIENT_ID, callback, allow_http=True, actor=DEMO_ACTOR)
        # Its catalogue entry starts where the demo is (set once, by the demo's seed).
        start = config.base_url + PATH
        entry = client.catalogue if client is not None and client.is_enabled else None
        if (
            entry is not None
            and entry.start_url != start
            and entry == demo_catalogue_entry(entry.start_url)
        ):
            clients.set_catalogue(DEMO_CLIENT_ID, demo_catalogue_entry(start), actor=DEMO_ACTOR)
    app.register_blueprint(bp)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="monespace-demo-rp")


def _issuer() -> str:
    return current_app.config["MONESPACE"].base_url


@bp.get("")
def page() -> str:
    return render_template("demo_rp.html", result=None)


@bp.post("/start")
def start() -> Response:
    enterprise = request.form.get("espace") == "enterprise"
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": _issuer() + PATH + "/callback",
        "scope": "openid profile enterprise" if enterprise else "openid profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    response = redirect("/authorize?" + urlencode(query), 303)
    flow = _serializer().dumps({"state": state, "nonce": nonce, "verifier": verifier})
    response.set_cookie(
        COOKIE, flow, max_age=FLOW_SECONDS, path=PATH, httponly=True, samesite="Lax"
    )
    return response


@bp.get("/callback")
def callback() -> Any:
    try:
        flow = _serializer().loads(request.cookies.get(COOKIE, ""), max_age=FLOW_SECONDS)
    except BadSignature:
        abort(400, "no login under way in this browser: start again at /demo-rp")
    result: dict[str, Any] = {"callback": dict(request.args)}
    if not constant_time.equal(request.args.get("state", ""), flow["state"]):
        result["error"] = "state mismatch: this answer is not for the login this page started"
    elif request.args.get("iss") != _issuer():
        result["error"] = "the answer does not name the expected issuer (RFC 9207)"
    elif "error" in request.args:
        result["error"] = f"{request.args['error']}: {request.args.get('error_description', '')}"
    else:
        result |= _redeem(request.args.get("code", ""), flow)
    response = Response(render_template("demo_rp.html", result=result))
    response.delete_cookie(COOKIE, path=PATH)
    return response


def _redeem(code: str, flow: dict[str, str]) -> dict[str, Any]:
    backend = current_app.test_client()
    credentials = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    token = backend.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _issuer() + PATH + "/callback",
            "code_verifier": flow["verifier"],
        },
        headers={"Authorization": f"Basic {credentials}"},
    )
    answer = token.get_json(silent=True) or {}
    if token.status_code != 200:
        error, description = answer.get("error"), answer.get("error_description")
        return {"error": f"token endpoint: {error}: {description}"}
    keys = KeySet.import_key_set(backend.get("/jwks").get_json())
    try:
        id_token = jwt.decode(answer["id_token"], keys)
    except (JoseError, ValueError) as exc:
        return {"error": f"the ID token does not verify: {exc}"}
    claims = id_token.claims
    problems = [
        name
        for name, ok in (
            ("iss", claims.get("iss") == _issuer()),
            ("aud", DEMO_CLIENT_ID in (claims.get("aud") or [])),
            ("nonce", claims.get("nonce") == flow["nonce"]),
        )
        if not ok
    ]
    if problems:
        return {"error": f"the ID token's {', '.join(problems)} is not what was expected"}
    bearer = {"Authorization": f"Bearer {answer['access_token']}"}
    userinfo = backend.get("/userinfo", headers=bearer)
    introspection = backend.post(
        "/introspect",
        data={"token": answer["access_token"]},
        headers={"Authorization": f"Basic {credentials}"},
    )
    return {
        "introspection": introspection.get_json(silent=True),
        "id_token_header": id_token.header,
        "id_token": claims,
        "userinfo": userinfo.get_json(silent=True),
        "token_response": {k: v for k, v in answer.items() if k != "id_token"},
    }
