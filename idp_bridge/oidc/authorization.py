"""The authorization endpoint (OpenID Connect Core 1.0, section 3.1.2), with the login and the
espace chooser.

``GET|POST /authorize``: the client and its exact redirect URI are checked first; until both
are known, errors are shown to the person, never redirected (Core 3.1.2.6, RFC 6749
4.1.2.1). Then pyop checks the request, PKCE is checked (RFC 7636: S256 only, required for
public clients), and the person logs in if needed (``prompt``, ``max_age``, ``acr_values``,
``login_hint``, ``id_token_hint``); the request waits in the database meanwhile, so any node
can resume it: one row from the request to its answer, read (not rewritten) on the way back
from the login and by the chooser, taken in the transaction that writes the code (a request
gets one code; its wait costs one commit). A login made after the request was received
answers it whatever it asked (Core 3.1.2.1: ``prompt=login`` and ``max_age`` ask for one
fresh login, not for a login newer than the answer). With the ``enterprise`` scope the
person picks an espace (``/authorize/espace``), checked again against the policy when it
comes back; under ``prompt=none`` the choice is made only when there is just one (the
citizen espace), else ``interaction_required`` (Core 3.1.2.6). The answer carries ``code``,
``state`` and ``iss`` (RFC 9207), in the query or, with ``response_mode=form_post``, in a
form the browser posts to the redirect URI (OAuth 2.0 Form Post Response Mode); errors go
back the same way.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from jwkest import JWKESTException
from oic.exception import PyoidcError
from pyop.exceptions import InvalidAuthenticationRequest

from authz import catalogue, constant_time, db, espaces
from authz.clients import RegisteredClient
from authz.errors import InvalidInput
from authz.identifiers import normalize_nrn
from idp_bridge.browser_session import csrf_token, current_login
from idp_bridge.oidc import claims, id_token_hint, pkce
from idp_bridge.oidc.edge import ESPACE, LOA_RANK, LOGIN, PENDING_TTL, current_edge
from idp_bridge.oidc.errors import OAuthError, single_params
from idp_bridge.oidc.logout import remember_client, sid_of
from idp_bridge.oidc.provider import person_known, request_client
from idp_bridge.oidc.storage import reads_remembered
from idp_bridge.sessions import LANGUAGES

if TYPE_CHECKING:
    pass

bp = Blueprint("oidc", __name__)  # templates: idp_bridge/templates/oidc/

PROMPTS = frozenset({"none", "login", "consent", "select_account"})  # Core 3.1.2.1
MAX_AGE = re.compile(r"[0-9]{1,10}")  # seconds; a non-negative integer (Core 3.1.2.1)
RESPONSE_MODES = ("query", "form_post")  # the code flow's default, and Form Post
# Seconds a person has at least to choose an espace once back from the login: a request that
# waited longer than PENDING_TTL minus this is given a new life when it reaches the chooser.
CHOOSER_TIME = 300
# Not passed to pyop: ``claims`` could ask for the NRN past the scope check; oic would verify
# ``id_token_hint`` with keys it does not have (this module verifies it).
_KEPT_FROM_PYOP = ("claims", "id_token_hint")
# The form post page's one script, allowed by its hash in the page's CSP.
FORM_POST_SCRIPT = "document.forms[0].submit();"
_FORM_POST_SCRIPT_HASH = base64.b64encode(hashlib.sha256(FORM_POST_SCRIPT.encode()).digest())


class _PageError(Exception):
    """An authorization request that cannot be answered at its redirect URI."""


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    params = request.form if request.method == "POST" else request.args
    single = {name: params[name] for name in params}
    try:
        client = _client_and_redirect(single)
    except _PageError as exc:
        return _error_page(str(exc))
    try:
        single_params(params)  # names a repeated parameter only if it is a plain word
    except OAuthError as exc:
        return _redirect_error(single, exc.error, exc.description)
    return _proceed(single, client, asked_at=time.time())


@bp.get("/authorize/resume")
def resume() -> Any:
    """Back from the login page: the request waited under its id. It is read, not taken: it
    goes on waiting under the same id for the chooser or a new login, and is taken with the
    code it is answered with."""
    pending_id = request.args.get("request", "")
    stored = current_edge().pending.peek(pending_id) if pending_id else None
    if stored is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    params = dict(stored)
    asked_at = float(params.pop("_asked_at", "0"))
    try:
        client = _client_and_redirect(params)
    except _PageError as exc:
        return _error_page(str(exc))
    return _proceed(params, client, asked_at=asked_at, pending_id=pending_id)


def _client_and_redirect(params: dict[str, str]) -> RegisteredClient:
    client = request_client(params.get("client_id"))
    redirect_uri = params.get("redirect_uri")
    if client is None:
        raise _PageError(_("Le service qui vous envoie ici n'est pas connu."))
    if redirect_uri not in client.redirect_uris:
        raise _PageError(_("L'adresse de retour de ce service n'est pas enregistrée."))
    return client


def _proceed(
    params: dict[str, str],
    client: RegisteredClient,
    *,
    asked_at: float,
    pending_id: str | None = None,
) -> Any:
    """Check the request and answer it, or send the person to log in or to choose.
    ``pending_id``: the id the request waits under (resumed), taken when it is answered."""
    edge = current_edge()
    pyop = edge.provider.provider()

    def _redirect_error(params, error, description):  # a resumed request is answered too
        return _refuse(params, error, description, pending_id)

    if params.get("response_mode", "query") not in RESPONSE_MODES:
        return _redirect_error(params, "invalid_request", "response_mode: query or form_post")
    # Request objects are not supported (Core 6.1, 6.2: say so).
    for name in ("request", "request_uri"):
        if name in params:
            return _redirect_error(params, f"{name}_not_supported", f"{name} is not supported")
    params = {k: v for k, v in params.items() if k != "claims"}
    # A client gets the scopes it was registered for, fewer if it asks for others (RFC 6749
    # 3.3), and the NRN only if it may receive it. offline_access is not offered: every
    # token ends with the login session it came from (idp_bridge.oidc.logout).
    allowed = set(client.scopes) | {"openid"}
    allowed.discard("offline_access")
    if not client.may_receive_nrn:
        allowed.discard("nrn")
    params["scope"] = " ".join(s for s in params.get("scope", "").split() if s in allowed)
    if params.get("response_type") != "code":
        return _redirect_error(params, "unsupported_response_type", "only the code flow")
    scopes = set(params.get("scope", "").split())
    if "openid" not in scopes:
        return _redirect_error(params, "invalid_scope", "the openid scope is required")
    try:
        prompts = _prompts(params)
        auth_req = _parse(pyop, params)
        pkce.check_challenge(params, public_client=client.auth_method == "none")
        hint = _hint(params, client)
    except OAuthError as exc:
        return _redirect_error(params, exc.error, exc.description)
    session = current_login()
    reason = _login_needed(session, params, prompts, asked_at, hint)
    if reason is not None:
        if "none" in prompts:
            return _redirect_error(params, "login_required", reason)
        resume_url = url_for("oidc.resume", request=_wait(params, asked_at, pending_id))
        return redirect(url_for("login.login_page", next=resume_url, lang=_language(params)), 303)
    if "enterprise" in scopes:
        if "none" in prompts:
            # No page may be shown: answer only when there is nothing to choose.
            # Clients through a firm need no look: acting for them takes a role in the firm
            # that acts for the firm itself, so the firm is a choice already.
            if espaces.espace_choices(session.person.nrn, client.service_domain, limit=1):
                return _redirect_error(
                    params, "interaction_required", "the person must choose an espace"
                )
            return _answer_once(pending_id, auth_req, params, client, session, bce=None)
        espace_url = url_for(
            "oidc.espace", request=_wait(params, asked_at, pending_id), lang=_language(params)
        )
        return redirect(espace_url, 303)
    return _answer_once(pending_id, auth_req, params, client, session, bce=None)


def _prompts(params: dict[str, str]) -> set[str]:
    """The ``prompt`` values, and ``max_age`` checked (Core 3.1.2.1): ``invalid_request`` for
    an unknown value, ``none`` with another, or a ``max_age`` that is not a non-negative
    integer."""
    prompts = set(params.get("prompt", "").split())
    if not prompts <= PROMPTS:
        raise OAuthError("invalid_request", "prompt: none, login, consent or select_account")
    if "none" in prompts and len(prompts) > 1:
        raise OAuthError("invalid_request", "prompt=none cannot be combined with another value")
    if "max_age" in params and not MAX_AGE.fullmatch(params["max_age"]):
        raise OAuthError("invalid_request", "max_age must be a non-negative integer")
    return prompts


def _for_pyop(params: dict[str, str]) -> str:
    return urlencode({k: v for k, v in params.items() if k not in _KEPT_FROM_PYOP})


def _parse(pyop, params: dict[str, str]):
    """pyop's checks of the request; whatever oic cannot read is ``invalid_request``."""
    try:
        return pyop.parse_authentication_request(_for_pyop(params))
    except InvalidAuthenticationRequest as exc:
        raise OAuthError(exc.oauth_error or "invalid_request", "invalid request") from None
    except (PyoidcError, JWKESTException, ValueError, TypeError, KeyError):
        raise OAuthError("invalid_request", "a parameter has an invalid value") from None


def _hint(params: dict[str, str], client: RegisteredClient) -> dict | None:
    """The verified ``id_token_hint`` (Core 3.1.2.1), issued to this client; None without
    one; ``invalid_request`` for one this provider did not issue to this client."""
    if not params.get("id_token_hint"):
        return None
    edge = current_edge()
    try:
        hint = id_token_hint.verify(
            params["id_token_hint"], issuer=edge.issuer, jwks=edge.keys.jwks()
        )
    except id_token_hint.InvalidHint as exc:
        raise OAuthError("invalid_request", str(exc)) from None
    if hint["client_id"] != client.client_id:
        raise OAuthError("invalid_request", "the id_token_hint was issued to another client")
    return hint


def _wait(params: dict[str, str], asked_at: float, pending_id: str | None = None) -> str:
    """Keep the request in the database while the person logs in or chooses; its id.

    A request already waiting (``pending_id``) goes on waiting under its id, unwritten,
    unless less than :data:`CHOOSER_TIME` of its life is left: it then gets a new one."""
    pending = current_edge().pending
    if pending_id is not None and time.time() - asked_at < PENDING_TTL - CHOOSER_TIME:
        return pending_id
    pending_id = pending_id or secrets.token_urlsafe(24)
    pending.put(pending_id, {**params, "_asked_at": str(asked_at)}, PENDING_TTL)
    return pending_id


def _login_time(session) -> float:
    """When the session's login happened (POSIX time; the database holds naive UTC)."""
    return session.created_at.replace(tzinfo=UTC).timestamp()


def _login_needed(session, params, prompts, asked_at: float, hint: dict | None) -> str | None:
    """Why the person must log in (again) before an answer, or None."""
    if session is None:
        return "no login session"
    logged_at = _login_time(session)
    if logged_at >= asked_at:
        # A login made for this request (or since it came): the person has just proven who
        # they are, at the level the upstream gave. Asking again would never end.
        return None
    if "login" in prompts:
        return "prompt=login asks for a new login"
    max_age = params.get("max_age")
    if max_age is not None and asked_at - logged_at > int(max_age):
        return "the login is older than max_age"
    wanted = [LOA_RANK[a] for a in params.get("acr_values", "").split() if a in LOA_RANK]
    if wanted and LOA_RANK.get(session.acr, 0) < min(wanted):
        return "the login's level of assurance is lower than acr_values"
    hinted = _hinted_nrn(params.get("login_hint"))
    if hinted is not None and hinted != session.person.nrn:
        return "login_hint names another person than the one logged in"
    if hint is not None and hint["sub"] != _subject(session, params):
        return "id_token_hint names another person than the one logged in"
    return None


def _subject(session, params: dict[str, str]) -> str:
    """The ``sub`` the logged-in person has for the requesting client (pairwise or public,
    as pyop gives it in ID tokens)."""
    pyop = current_edge().provider.provider()
    return pyop._create_subject_identifier(
        session.person.nrn, params["client_id"], params["redirect_uri"]
    )


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


class _Refused(Exception):
    """A page refusing the request; raised inside a transaction to undo it."""

    def __init__(self, response: Response):
        super().__init__()
        self.response = response


def _answer_once(
    pending_id: str | None, auth_req, params, client: RegisteredClient, session, bce: str | None
) -> Response:
    """:func:`_answer`, the waiting request (if any) taken in the transaction that writes the
    code: of two answers to one request (two tabs, a replayed URL), one gets a code."""
    with db.connection(), db.transaction():
        if pending_id is not None and current_edge().pending.pop(pending_id) is None:
            return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
        return _answer(auth_req, params, client, session, bce)


def _answer(auth_req, params, client: RegisteredClient, session, bce: str | None) -> Response:
    edge = current_edge()
    pyop = edge.provider.provider()
    auth_req[LOGIN] = {
        "nrn": session.person.nrn,
        "acr": session.acr,
        "amr": session.amr.split(),
        "auth_time": int(_login_time(session)),
        "session_expires": int(session.expires_at.replace(tzinfo=UTC).timestamp()),
        "sid": sid_of(edge, session.id_hash),
    }
    if bce is not None:
        auth_req[ESPACE] = bce
    # The code just written is read back from what was written, the person from the session
    # (both read or written by this request); the session's record of clients is changed by
    # compare-and-swap.
    with reads_remembered(), person_known(session.person):
        response = pyop.authorize(auth_req, session.person.nrn)
        code = response["code"]
        sub = pyop.authz_state.get_subject_identifier_for_code(code)
        family = pyop.authz_state.family_of_code(code)
        remember_client(edge, session, client.client_id, sub, family)
    return _respond(params, {**response.to_dict(), "iss": edge.issuer})  # iss: RFC 9207


def _refuse(params: dict[str, str], error: str, description: str, pending_id: str | None):
    """:func:`_redirect_error`, the waiting request (if any) taken: it has its answer."""
    if pending_id is not None and current_edge().pending.pop(pending_id) is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    return _redirect_error(params, error, description)


def _redirect_error(params: dict[str, str], error: str, description: str) -> Response:
    answer = {"error": error, "error_description": description[:200], "iss": current_edge().issuer}
    if params.get("state"):
        answer["state"] = params["state"]
    return _respond(params, answer)


def _respond(params: dict[str, str], answer: dict[str, str]) -> Response:
    """The authorization response at the redirect URI, in the requested response mode: the
    query (RFC 6749 4.1.2) or a form post; any other mode was refused in the query."""
    target = params["redirect_uri"]
    if params.get("response_mode") == "form_post":
        return _form_post(target, answer)
    separator = "&" if urlsplit(target).query else "?"
    return redirect(target + separator + urlencode(answer), 303)


def _form_post(target: str, answer: dict[str, str]) -> Response:
    """OAuth 2.0 Form Post Response Mode, section 2: a page whose form the browser posts to
    the redirect URI, by its script or by the person's click when scripts are off. Its CSP
    allows that one script and a form sent to the redirect URI's origin, nothing else."""
    page = render_template(
        "oidc/form_post.html", action=target, fields=answer, script=FORM_POST_SCRIPT
    )
    parts = urlsplit(target)
    destination = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    policy = (
        f"default-src 'none'; script-src 'sha256-{_FORM_POST_SCRIPT_HASH.decode()}'; "
        f"style-src 'self'; img-src data:; form-action {destination}; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return Response(
        page,
        200,
        mimetype="text/html",
        headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"},
    )


def _error_page(message: str) -> Response:
    page = render_template("oidc/error.html", message=message)
    return Response(page, 400, mimetype="text/html")


# -- the espace chooser ---------------------------------------------------------------------


CLIENTS_PER_PAGE = 20  # clients reached through a firm, per page of the chooser


@bp.route("/authorize/espace", methods=["GET", "POST"])
def espace() -> Any:
    edge = current_edge()
    pending_id = request.values.get("request", "")
    session = current_login()
    if not pending_id or session is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    if request.method == "POST":
        return _choose(edge, pending_id, session)
    # Read, not taken: the person may reload the page, search, or go and add an enterprise.
    stored = edge.pending.peek(pending_id)
    if stored is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    try:
        client = _client_and_redirect(dict(stored))
    except _PageError as exc:
        return _error_page(str(exc))
    token = csrf_token(session, f"espace:{pending_id}")
    query = request.args.get("q") or None
    after = request.args.get("after", type=int)
    if after is not None and not 0 < after < 2**31:
        after = None  # not a cursor this page gave: the first page
    nrn, domain = session.person.nrn, client.service_domain
    choices, clients = espaces.chooser_lists(
        nrn, domain, query=query, after=after, clients_limit=CLIENTS_PER_PAGE
    )
    return render_template(
        "oidc/espace.html",
        client=client,
        service=catalogue.display_name(client, str(get_locale() or "fr")),
        choices=choices,
        clients=clients,
        after=after,
        query=query or "",
        request_id=pending_id,
        token=token,
    )


def _choose(edge, pending_id: str, session) -> Response:
    """The chooser's form: the request is taken in the transaction that writes its code.
    A refusal undoes the taking (the person may choose again); of two posts (two tabs), the
    second waits for the first and finds the request gone."""
    try:
        with db.connection(), db.transaction():
            stored = edge.pending.pop(pending_id)
            if stored is None:
                raise _Refused(
                    _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
                )
            return _chosen(edge, pending_id, dict(stored), session)
    except _Refused as refused:
        return refused.response


def _chosen(edge, pending_id: str, params: dict[str, str], session) -> Response:
    """The chooser's form checked again (its token, the policy); the code for the espace."""
    try:
        client = _client_and_redirect(params)
    except _PageError as exc:
        raise _Refused(_error_page(str(exc))) from None
    token = csrf_token(session, f"espace:{pending_id}")
    if not constant_time.equal(request.form.get("token", ""), token):
        raise _Refused(_error_page(_("Le formulaire a expiré. Rechargez la page et réessayez.")))
    choice = request.form.get("espace", "")
    bce = None
    if choice != "citoyen":
        # The policy's answer through the decision point (cached under the enterprise's
        # epoch, so a revocation on any node is seen): the code carries the espace only.
        represents = claims.represents_claim(
            session.person.nrn, choice, client.service_domain, edge.issuer, edge.acting_for
        )
        if represents is None:
            raise _Refused(
                _error_page(
                    _("Vous ne pouvez pas agir pour cette entreprise auprès de ce service.")
                )
            )
        bce = represents["sub"]
    public = {k: v for k, v in params.items() if not k.startswith("_")}
    auth_req = edge.provider.provider().parse_authentication_request(_for_pyop(public))
    return _answer(auth_req, params, client, session, bce)
