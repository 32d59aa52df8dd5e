"""Logout at the provider: OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

``GET|POST /logout/rp`` (the ``end_session_endpoint``): a relying party sends the person here
to end their session. An ``id_token_hint`` must be an ID token this provider signed (its
signature checked against our keys, RS256 only: a hint with ``alg: none`` is refused, the trap
pyop's own ``logout_user`` falls into); a ``post_logout_redirect_uri`` must be one the client
registered, exactly. With a hint naming the current session (``sid``) the session ends at once;
otherwise the person confirms with a button (a form with a token bound to the session), so
that no other site can log a person out.

When a session ends (here, with the logout button of ``/me``, or replaced by a new login in
the same browser), every token issued in it ends with it: codes, access tokens and refresh
tokens, whatever their remaining lifetime. ``offline_access`` is not offered (the scope is
never granted): a relying party that needs to act for the person again sends them to log in.
Then every client that received tokens in the session and registered a
``backchannel_logout_uri`` is sent a logout token (Back-Channel Logout 1.0, section 2.4: a JWT
of type ``logout+jwt`` with ``sid``, ``sub`` and the logout event), so it can end its own
session. A client that cannot be reached is logged, not retried.

Sessions and clients are linked by ``sid``, an HMAC of the login session, in the ID tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from joserfc import jwt

from authz import constant_time
from authz.clients import RegisteredClient, enabled_client, find_client
from idp_bridge.browser_session import LOGOUT_HOOKS, SESSION_COOKIE, csrf_token, current_login
from idp_bridge.oidc import id_token_hint
from idp_bridge.oidc.edge import Edge, current_edge
from idp_bridge.sessions import end_session
from idp_bridge.shared.transport import Transport

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = 120

bp = Blueprint("oidc_logout", __name__)


def init_app(app: Flask, edge: Edge) -> None:
    app.register_blueprint(bp)
    app.extensions.setdefault(LOGOUT_HOOKS, []).append(lambda session: notify(edge, session))


def sid_of(edge: Edge, id_hash: str, secret: bytes | None = None) -> str:
    """The ``sid`` of a login session, as clients see it: it reveals nothing of the cookie."""
    key = edge.secret if secret is None else secret
    return hmac.new(key, b"sid:" + id_hash.encode(), hashlib.sha256).hexdigest()[:32]


def sids_of(edge: Edge, id_hash: str) -> list[str]:
    """Every ``sid`` the session may have had: under the secret key, then under the ones it
    replaced (a session opened before the secret key changed)."""
    return [sid_of(edge, id_hash, secret) for secret in edge.secrets]


def remember_client(edge: Edge, session, client_id: str, sub: str, family: str) -> str:
    """Note that ``client_id`` got a code in this session, as ``sub`` (for back-channel
    logout), and the token family the code opened (revoked when the session ends)."""
    sid = sid_of(edge, session.id_hash)

    def add(record: dict) -> dict:
        return {
            "clients": {**record.get("clients", {}), client_id: sub},
            "families": [*record.get("families", []), family],
        }

    # A session's first client is the common case (a login, then its code).
    edge.session_clients.modify(sid, add, create={"clients": {}, "families": []}, new_first=True)
    return sid


# -- RP-initiated logout ----------------------------------------------------------------------


@bp.route("/logout/rp", methods=["GET", "POST"])
def end_session_endpoint() -> Any:
    edge = current_edge()
    params = request.form if request.method == "POST" else request.args
    hint = _verified_hint(edge, params.get("id_token_hint"))
    if hint is False:
        return _page_error(_("La demande de déconnexion n'a pas pu être vérifiée."))
    client_id = params.get("client_id") or (hint or {}).get("client_id")
    if hint and params.get("client_id") and params["client_id"] != hint["client_id"]:
        return _page_error(_("La demande de déconnexion n'a pas pu être vérifiée."))
    target = params.get("post_logout_redirect_uri")
    if target:
        client = enabled_client(client_id)
        if client is None or target not in client.post_logout_redirect_uris:
            return _page_error(_("L'adresse de retour de ce service n'est pas enregistrée."))
        if params.get("state"):
            separator = "&" if urlsplit(target).query else "?"
            target += separator + urlencode({"state": params["state"]})
    session = current_login()
    if session is None:
        return _after(target)
    known_sids = sids_of(edge, session.id_hash)
    confirmed = request.method == "POST" and constant_time.equal(
        params.get("confirm", ""), csrf_token(session, "logout")
    )
    if not confirmed and not (hint and hint.get("sid") in known_sids):
        return render_template(
            "oidc/logout.html",
            params={k: params[k] for k in params if k != "confirm"},
            token=csrf_token(session, "logout"),
        )
    end_session(request.cookies.get(SESSION_COOKIE))
    notify(edge, session)
    response = _after(target)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _verified_hint(edge: Edge, hint: str | None) -> dict | bool | None:
    """The hint's claims (``client_id`` from its audience); None without a hint; False for
    a hint this provider did not sign."""
    if not hint:
        return None
    try:
        return id_token_hint.verify(hint, issuer=edge.issuer, jwks=edge.keys.jwks())
    except id_token_hint.InvalidHint:
        return False


def _after(target: str | None) -> Response:
    return redirect(target or url_for("login.login_page", logged_out=1), 303)


def _page_error(message: str) -> Response:
    return Response(render_template("oidc/error.html", message=message), 400)


# -- back-channel logout ----------------------------------------------------------------------


def notify(edge: Edge, session) -> None:
    """The session has ended: revoke every token issued in it (its codes, access and refresh
    tokens, rotations included), then send a logout token to each client that got tokens in
    it and asked for them."""
    for sid in sids_of(edge, session.id_hash):
        record = edge.session_clients.pop(sid, None)
        if not record:
            continue
        state = edge.provider.provider().authz_state
        for family in record.get("families", []):
            state.revoke_family(family)
        for client_id, sub in record.get("clients", {}).items():
            client = find_client(client_id)
            if client is None or not client.backchannel_logout_uri or not client.is_enabled:
                continue
            _send(edge, edge.backchannel_transport, client, sub, sid)


def logout_token(edge: Edge, client_id: str, sub: str, sid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": edge.issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    key = edge.keys.signing_key()
    header = {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key)


def _send(edge: Edge, transport: Transport, client: RegisteredClient, sub: str, sid: str) -> None:
    token = logout_token(edge, client.client_id, sub, sid)
    try:
        answer = transport("POST", client.backchannel_logout_uri, {"logout_token": token})
    except (OSError, TimeoutError) as exc:
        logger.warning("back-channel logout to %s failed: %s", client.client_id, exc)
        return
    if answer.status not in (200, 204):
        logger.warning("back-channel logout to %s answered %s", client.client_id, answer.status)
