"""The authorization endpoint (OpenID Connect Core 1.0, section 3.1.2), with the login and the
espace chooser.

``GET|POST /authorize``: the client and its exact redirect URI are checked first; until both
are known, errors are shown to the person, never redirected (Core 3.1.2.6, RFC 6749
4.1.2.1). Then pyop checks the request, PKCE is checked (RFC 7636: S256 only, required for
public clients), and the person logs in if needed (``prompt``, ``max_age``, ``acr_values``);
the request waits in the database meanwhile, so any node can resume it. With the
``enterprise`` scope the person picks an espace (``/authorize/espace``), checked again
against the policy when it comes back. The answer carries ``code``, ``state`` and ``iss``
(RFC 9207).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pyop.exceptions import InvalidAuthenticationRequest

from authz import constant_time
from authz.errors import InvalidInput
from authz.identifiers import normalize_nrn
from authz.models import Client
from idp_bridge.oidc import claims, pkce
from idp_bridge.oidc.edge import ESPACE, LOA_RANK, LOGIN, PENDING_TTL, current_edge
from idp_bridge.oidc.errors import OAuthError
from idp_bridge.oidc.logout import remember_client, sid_of
from idp_bridge.oidc.provider import enabled_client
from idp_bridge.sessions import LANGUAGES
from idp_bridge.web import csrf_token, current_login

bp = Blueprint("oidc", __name__)  # templates: idp_bridge/templates/oidc/


class _PageError(Exception):
    """An authorization request that cannot be answered at its redirect URI."""


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    params = request.form if request.method == "POST" else request.args
    repeated = [name for name in params if len(params.getlist(name)) > 1]
    single = {name: params[name] for name in params}
    try:
        client = _client_and_redirect(single)
    except _PageError as exc:
        return _error_page(str(exc))
    if repeated:
        return _redirect_error(single, "invalid_request", f"{repeated[0]} is repeated")
    return _proceed(single, client, asked_at=time.time())


@bp.get("/authorize/resume")
def resume() -> Any:
    """Back from the login page: the request waited under its id."""
    pending_id = request.args.get("request", "")
    stored = current_edge().pending.pop(pending_id) if pending_id else None
    if stored is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    params = dict(stored)
    asked_at = float(params.pop("_asked_at", "0"))
    try:
        client = _client_and_redirect(params)
    except _PageError as exc:
        return _error_page(str(exc))
    return _proceed(params, client, asked_at=asked_at)


def _client_and_redirect(params: dict[str, str]) -> Client:
    client = enabled_client(params.get("client_id"))
    redirect_uri = params.get("redirect_uri")
    if client is None:
        raise _PageError(_("Le service qui vous envoie ici n'est pas connu."))
    if redirect_uri not in client.redirect_uri_list:
        raise _PageError(_("L'adresse de retour de ce service n'est pas enregistrée."))
    return client


def _proceed(params: dict[str, str], client: Client, *, asked_at: float) -> Any:
    edge = current_edge()
    pyop = edge.provider.provider()
    # Request objects are not supported (Core 6.1, 6.2: say so); the claims parameter is not
    # passed to pyop (it could ask for the NRN past the scope check).
    for name in ("request", "request_uri"):
        if name in params:
            return _redirect_error(params, f"{name}_not_supported", f"{name} is not supported")
    params = {k: v for k, v in params.items() if k != "claims"}
    # A client gets the scopes it was registered for, fewer if it asks for others (RFC 6749
    # 3.3), and the NRN only if it may receive it.
    allowed = set(client.allowed_scopes.split()) | {"openid"}
    if not client.may_receive_nrn:
        allowed.discard("nrn")
    params["scope"] = " ".join(s for s in params.get("scope", "").split() if s in allowed)
    if params.get("response_type") != "code":
        return _redirect_error(params, "unsupported_response_type", "only the code flow")
    scopes = set(params.get("scope", "").split())
    if "openid" not in scopes:
        return _redirect_error(params, "invalid_scope", "the openid scope is required")
    try:
        auth_req = pyop.parse_authentication_request(urlencode(params))
        pkce.check_challenge(params, public_client=client.auth_method == "none")
    except InvalidAuthenticationRequest as exc:
        return _redirect_error(params, exc.oauth_error or "invalid_request", str(exc))
    except OAuthError as exc:
        return _redirect_error(params, exc.error, exc.description)
    prompts = set(params.get("prompt", "").split())
    session = current_login()
    reason = _login_needed(session, params, prompts, asked_at)
    if reason is not None:
        if "none" in prompts:
            return _redirect_error(params, "login_required", reason)
        resume_url = url_for("oidc.resume", request=_wait(params, asked_at))
        return redirect(url_for("login.login_page", next=resume_url, lang=_language(params)), 303)
    if "enterprise" in scopes:
        espace_url = url_for("oidc.espace", request=_wait(params, asked_at), lang=_language(params))
        return redirect(espace_url, 303)
    return _answer(auth_req, params, client, session, bce=None)


def _wait(params: dict[str, str], asked_at: float) -> str:
    """Keep the request in the database while the person logs in or chooses; its id."""
    pending_id = secrets.token_urlsafe(24)
    current_edge().pending.put(pending_id, {**params, "_asked_at": str(asked_at)}, PENDING_TTL)
    return pending_id


def _login_needed(session, params, prompts, asked_at: float) -> str | None:
    """Why the person must log in (again) before an answer, or None."""
    if session is None:
        return "no login session"
    logged_at = session.created_at.timestamp()
    if "login" in prompts and logged_at < asked_at:
        return "prompt=login asks for a new login"
    max_age = params.get("max_age")
    if max_age is not None and max_age.isdigit() and time.time() - logged_at > int(max_age):
        return "the login is older than max_age"
    wanted = [LOA_RANK[a] for a in params.get("acr_values", "").split() if a in LOA_RANK]
    if wanted and LOA_RANK.get(session.acr, 0) < min(wanted):
        return "the login's level of assurance is lower than acr_values"
    hinted = _hinted_nrn(params.get("login_hint"))
    if hinted is not None and hinted != session.person.nrn:
        return "login_hint names another person than the one logged in"
    return None


def _hinted_nrn(hint: str | None) -> str | None:
    """A ``login_hint`` that is a national register number (any spelling), else None: the
    person is then asked to log in again rather than be answered as someone else."""
    try:
        return normalize_nrn(hint) if hint else None
    except InvalidInput:
        return None


def _language(params: dict[str, str]) -> str | None:
    """The first of ``ui_locales`` the pages speak (``fr-BE`` counts for ``fr``)."""
    for tag in params.get("ui_locales", "").split():
        language = tag.split("-")[0].lower()
        if language in LANGUAGES:
            return language
    return None


def _answer(auth_req, params, client: Client, session, bce: str | None) -> Response:
    edge = current_edge()
    pyop = edge.provider.provider()
    auth_req[LOGIN] = {
        "nrn": session.person.nrn,
        "acr": session.acr,
        "amr": session.amr.split(),
        "auth_time": int(session.created_at.timestamp()),
        "sid": sid_of(edge, session.id_hash),
    }
    if bce is not None:
        auth_req[ESPACE] = bce
    response = pyop.authorize(auth_req, session.person.nrn)
    sub = pyop.authz_state.get_subject_identifier_for_code(response["code"])
    remember_client(edge, session, client.client_id, sub)
    response["iss"] = edge.issuer  # RFC 9207
    return redirect(response.request(auth_req["redirect_uri"]), 303)


def _redirect_error(params: dict[str, str], error: str, description: str) -> Response:
    query = {"error": error, "error_description": description[:200], "iss": current_edge().issuer}
    if params.get("state"):
        query["state"] = params["state"]
    target = params["redirect_uri"]
    separator = "&" if urlsplit(target).query else "?"
    return redirect(target + separator + urlencode(query), 303)


def _error_page(message: str) -> Response:
    page = render_template("oidc/error.html", message=message)
    return Response(page, 400, mimetype="text/html")


# -- the espace chooser ---------------------------------------------------------------------


@bp.route("/authorize/espace", methods=["GET", "POST"])
def espace() -> Any:
    edge = current_edge()
    pending_id = request.values.get("request", "")
    session = current_login()
    # Read, not taken: the person may reload the page, search, or go and add an enterprise.
    stored = edge.pending.peek(pending_id) if pending_id else None
    if stored is None or session is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    params = dict(stored)
    try:
        client = _client_and_redirect(params)
    except _PageError as exc:
        return _error_page(str(exc))
    token = csrf_token(session, f"espace:{pending_id}")
    if request.method == "GET":
        query = request.args.get("q") or None
        choices = claims.espace_choices(session.person.nrn, client.service_domain, query=query)
        return render_template(
            "oidc/espace.html",
            client=client,
            choices=choices,
            query=query or "",
            request_id=pending_id,
            token=token,
        )
    if not constant_time.equal(request.form.get("token", ""), token):
        return _error_page(_("Le formulaire a expiré. Rechargez la page et réessayez."))
    choice = request.form.get("espace", "")
    bce = None
    if choice != "citoyen":
        if not claims.may_represent(session.person.nrn, choice, client.service_domain):
            return _error_page(
                _("Vous ne pouvez pas agir pour cette entreprise auprès de ce service.")
            )
        bce = claims.represents_claim(
            session.person.nrn, choice, client.service_domain, edge.issuer
        )["sub"]
    if edge.pending.pop(pending_id) is None:  # one answer per request, even from two tabs
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    auth_req = edge.provider.provider().parse_authentication_request(urlencode(_public(params)))
    return _answer(auth_req, params, client, session, bce)


def _public(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if not k.startswith("_")}
