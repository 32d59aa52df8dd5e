"""The OpenID provider's endpoints: discovery, JWK Set, authorization (with the login and the
espace chooser), token, userinfo.

Only HTTP is handled here; pyop builds and checks the protocol messages (``provider``), the
login session comes from ``idp_bridge.web``, the enterprise claims from ``claims``.

- ``GET /.well-known/openid-configuration`` (Discovery 1.0, section 4) and ``GET /jwks``;
- ``GET|POST /authorize`` (Core 3.1.2): the client and its exact redirect URI are checked first;
  until both are known, errors are shown to the person, never redirected (Core 3.1.2.6,
  RFC 6749 4.1.2.1). Then pyop checks the request, PKCE is checked (S256 only; required for
  public clients), and the person logs in if needed (``prompt``, ``max_age``, ``acr_values``).
  The request waits in the database meanwhile (any node can resume it). With the
  ``enterprise`` scope the person picks an espace. The answer carries ``code``, ``state`` and
  ``iss`` (RFC 9207);
- ``POST /token`` (Core 3.1.3): client authentication by ``client_auth``, the code redeemed
  once, the PKCE verifier checked, the ``represents`` claim computed now from the policy;
- ``GET|POST /userinfo`` (Core 5.3) with a bearer access token.

Errors at the token and userinfo endpoints are OAuth JSON (``error``, ``error_description``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from pyop.access_token import extract_bearer_token_from_http_request
from pyop.exceptions import (
    BearerTokenError,
    InvalidAccessToken,
    InvalidAuthenticationRequest,
    InvalidAuthorizationCode,
    InvalidTokenRequest,
)
from pyop.exceptions import OAuthError as PyopOAuthError

from authz.api import register_bearer_tokens
from authz.models import Client
from idp_bridge.db_stores import DatabaseRequestStore, DatabaseSeenStore
from idp_bridge.oidc import claims, pkce
from idp_bridge.oidc.client_auth import ClientAuthenticator
from idp_bridge.oidc.errors import OAuthError
from idp_bridge.oidc.keys import KeyStore
from idp_bridge.oidc.provider import (
    OpenIdProvider,
    SubjectIdentifiers,
    discovery,
    subject_salt,
)
from idp_bridge.oidc.state import ProviderAuthorizationState
from idp_bridge.oidc.storage import DatabaseStorage
from idp_bridge.web import current_login

logger = logging.getLogger(__name__)

EXTENSION = "monespace.oidc"
PENDING_TTL = 900  # seconds a person may take to log in and choose
CODE_TTL = 60
ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 8 * 3600
LOA_RANK = {"http://eidas.europa.eu/LoA/substantial": 1, "http://eidas.europa.eu/LoA/high": 2}
# Stashed in the authentication request pyop stores with the code and the access token, so the
# token and userinfo endpoints know how the person logged in and which enterprise they chose.
LOGIN = "monespace_login"
ESPACE = "monespace_espace"

bp = Blueprint("oidc", __name__)  # templates: idp_bridge/templates/oidc/


class Edge:
    """What the provider's routes share. The keys and pyop's provider are made on first use:
    the first start of a node creates the signing keys, and an app that never serves the
    provider (a CLI command, the decision API alone) pays nothing for it."""

    def __init__(self, config: Any):
        self.issuer = config.base_url
        self.secret = config.secret_key.encode()
        self.keys = KeyStore(config.secret_key, max_token_lifetime=REFRESH_TOKEN_TTL)
        self.pending = DatabaseRequestStore("authorize")
        self.authenticator = ClientAuthenticator(
            self.issuer + "/token", self.issuer, DatabaseSeenStore("client_assertion")
        )
        self._provider: OpenIdProvider | None = None
        self._lock = threading.Lock()
        # Access tokens of the client credentials grant (callers of the decision API).
        self.client_tokens = DatabaseStorage("client_tokens", ttl=ACCESS_TOKEN_TTL)

    def client_of_token(self, token_value: str) -> str | None:
        """The client a live client-credentials access token was issued to, else None."""
        record = self.client_tokens.get(token_value) if token_value else None
        if record is None or record["exp"] < time.time():
            return None
        return record["client_id"]

    @property
    def provider(self) -> OpenIdProvider:
        with self._lock:
            if self._provider is None:
                self.keys.ensure()
                state = ProviderAuthorizationState(
                    SubjectIdentifiers(subject_salt()),
                    authorization_code_lifetime=CODE_TTL,
                    access_token_lifetime=ACCESS_TOKEN_TTL,
                    refresh_token_lifetime=REFRESH_TOKEN_TTL,
                )
                self._provider = OpenIdProvider(self.issuer, self.keys, state)
            return self._provider


def init_app(app: Flask) -> None:
    edge = Edge(app.config["MONESPACE"])
    app.extensions[EXTENSION] = edge
    app.register_blueprint(bp)
    # The decision API takes the access tokens of the client credentials grant.
    register_bearer_tokens(app, edge.client_of_token)


def _edge() -> Edge:
    return current_app.extensions[EXTENSION]


# -- discovery and keys ---------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def configuration() -> Response:
    response = jsonify(discovery(_edge().issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(_edge().provider.jwks())
    # Well under a key's time as "next": relying parties see a new key before it signs.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- authorization ----------------------------------------------------------------------------


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
    return _proceed(single, client, pending_id=None, asked_at=time.time())


@bp.get("/authorize/resume")
def resume() -> Any:
    """Back from the login page: the request waited under its id."""
    pending_id = request.args.get("request", "")
    stored = _edge().pending.pop(pending_id) if pending_id else None
    if stored is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    params = dict(stored)
    asked_at = float(params.pop("_asked_at", "0"))
    try:
        client = _client_and_redirect(params)
    except _PageError as exc:
        return _error_page(str(exc))
    return _proceed(params, client, pending_id=None, asked_at=asked_at, resumed=True)


def _client_and_redirect(params: dict[str, str]) -> Client:
    client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
    client = Client.get_or_none(
        (Client.client_id == (client_id or "")) & Client.disabled_at.is_null()
    )
    if client is None:
        raise _PageError(_("Le service qui vous envoie ici n'est pas connu."))
    if redirect_uri not in client.redirect_uri_list:
        raise _PageError(_("L'adresse de retour de ce service n'est pas enregistrée."))
    return client


def _proceed(
    params: dict[str, str], client: Client, *, pending_id, asked_at: float, resumed=False
) -> Any:
    edge = _edge()
    pyop = edge.provider.provider()
    # What this provider does not offer is not passed to pyop: the claims parameter (it could
    # ask for the NRN past the scope check), and the nrn scope for clients not allowed it.
    params = {k: v for k, v in params.items() if k not in ("claims", "request", "request_uri")}
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
    reason = _login_needed(session, params, prompts, asked_at, resumed)
    if reason is not None:
        if "none" in prompts:
            return _redirect_error(params, "login_required", reason)
        pending = secrets.token_urlsafe(24)
        edge.pending.put(pending, {**params, "_asked_at": str(asked_at)}, PENDING_TTL)
        resume_url = url_for("oidc.resume", request=pending)
        return redirect(url_for("login.login_page", next=resume_url), 303)
    if "enterprise" in scopes:
        pending = secrets.token_urlsafe(24)
        edge.pending.put(pending, {**params, "_asked_at": str(asked_at)}, PENDING_TTL)
        return redirect(url_for("oidc.espace", request=pending), 303)
    return _answer(auth_req, params, client, session, bce=None)


def _login_needed(session, params, prompts, asked_at: float, resumed: bool) -> str | None:
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
    return None


def _answer(auth_req, params, client: Client, session, bce: str | None) -> Response:
    edge = _edge()
    pyop = edge.provider.provider()
    auth_req[LOGIN] = {
        "nrn": session.person.nrn,
        "acr": session.acr,
        "amr": session.amr.split(),
        "auth_time": int(session.created_at.timestamp()),
    }
    if bce is not None:
        auth_req[ESPACE] = bce
    response = pyop.authorize(auth_req, session.person.nrn)
    response["iss"] = edge.issuer  # RFC 9207
    return redirect(response.request(auth_req["redirect_uri"]), 303)


def _redirect_error(params: dict[str, str], error: str, description: str) -> Response:
    query = {"error": error, "error_description": description[:200], "iss": _edge().issuer}
    if params.get("state"):
        query["state"] = params["state"]
    target = params["redirect_uri"]
    separator = "&" if urlsplit(target).query else "?"
    return redirect(target + separator + urlencode(query), 303)


def _error_page(message: str) -> Response:
    page = render_template("oidc/error.html", message=message)
    return Response(page, 400, mimetype="text/html")


# -- the espace chooser ---------------------------------------------------------------------


def _chooser_token(pending_id: str, session) -> str:
    message = f"espace:{pending_id}:{session.id_hash}".encode()
    return hmac.new(_edge().secret, message, hashlib.sha256).hexdigest()


@bp.route("/authorize/espace", methods=["GET", "POST"])
def espace() -> Any:
    edge = _edge()
    pending_id = request.values.get("request", "")
    session = current_login()
    # Peek without taking: the person may reload the page or search.
    stored = edge.pending.pop(pending_id) if pending_id else None
    if stored is None or session is None:
        return _error_page(_("Cette demande de connexion a expiré. Retournez au service."))
    params = dict(stored)
    client = _client_and_redirect(params)
    if request.method == "GET":
        edge.pending.put(pending_id, params, PENDING_TTL)
        query = request.args.get("q") or None
        choices = claims.espace_choices(session.person.nrn, client.service_domain, query=query)
        return render_template(
            "oidc/espace.html",
            client=client,
            choices=choices,
            query=query or "",
            request_id=pending_id,
            token=_chooser_token(pending_id, session),
        )
    if not hmac.compare_digest(request.form.get("token", ""), _chooser_token(pending_id, session)):
        return _error_page(_("Le formulaire a expiré. Rechargez la page et réessayez."))
    choice = request.form.get("espace", "")
    bce = None
    if choice != "citoyen":
        if not claims.may_represent(session.person.nrn, choice, client.service_domain):
            edge.pending.put(pending_id, params, PENDING_TTL)
            return _error_page(
                _("Vous ne pouvez pas agir pour cette entreprise auprès de ce service.")
            )
        bce = claims.represents_claim(
            session.person.nrn, choice, client.service_domain, edge.issuer
        )["sub"]
    auth_req = edge.provider.provider().parse_authentication_request(urlencode(_public(params)))
    return _answer(auth_req, params, client, session, bce)


def _public(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if not k.startswith("_")}


# -- token and userinfo ---------------------------------------------------------------------


def _oauth_json(error: OAuthError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    response.headers.update(error.headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def _id_token_claims(auth_req, client: Client) -> dict[str, Any]:
    edge = _edge()
    login = dict(auth_req.get(LOGIN) or {})
    extra = {k: login[k] for k in ("acr", "amr", "auth_time") if k in login}
    if "enterprise" in auth_req.get("scope", []):
        bce = auth_req.get(ESPACE)
        if bce is None:
            extra.update(claims.citizen_claims())
        else:
            nrn = _nrn_of(auth_req)
            represents = claims.represents_claim(nrn, bce, client.service_domain, edge.issuer)
            if represents is None:
                raise OAuthError(
                    "invalid_grant", "the person may no longer act for this enterprise"
                )
            extra.update(claims.professional_claims(represents))
    return extra


def _nrn_of(auth_req) -> str:
    return auth_req[LOGIN]["nrn"]


@bp.post("/token")
def token() -> Response:
    edge = _edge()
    try:
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
        form = {name: request.form[name] for name in request.form}
        form["client_id"] = client.client_id  # pyop checks the code was issued to it
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            response = _redeem_code(edge, client, form)
        elif grant_type == "refresh_token":
            response = _refresh(edge, client, form)
        elif grant_type == "client_credentials":
            return _client_credentials(edge, client)
        else:
            raise OAuthError(
                "unsupported_grant_type",
                "grant types: authorization_code, refresh_token, client_credentials",
            )
    except OAuthError as exc:
        return _oauth_json(exc)
    except (InvalidAuthorizationCode, InvalidTokenRequest, PyopOAuthError) as exc:
        logger.warning("token request refused: %s", exc)
        error = getattr(exc, "oauth_error", None) or "invalid_grant"
        return _oauth_json(OAuthError(error, "the grant cannot be used"))
    answer = jsonify(response.to_dict())
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _client_credentials(edge: Edge, client: Client) -> Response:
    """RFC 6749 section 4.4: an access token for the client itself, to call the decision API
    (its answers stay limited to the client's service domain). Confidential clients only."""
    if client.auth_method == "none":
        raise OAuthError("unauthorized_client", "a public client cannot use client credentials")
    now = int(time.time())
    token_value = secrets.token_urlsafe(32)
    edge.client_tokens[token_value] = {
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL,
        "scope": "decisions",
    }
    answer = jsonify(
        {
            "access_token": token_value,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": "decisions",
        }
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _redeem_code(edge: Edge, client: Client, form: dict[str, str]):
    pyop = edge.provider.provider()
    try:
        auth_req = pyop.authz_state.get_authorization_request_for_code(form.get("code", ""))
    except (InvalidAuthorizationCode, KeyError):
        raise OAuthError("invalid_grant", "unknown, expired or used code") from None
    if auth_req["client_id"] != client.client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    pkce.verify(form.get("code_verifier"), auth_req.get("code_challenge"))
    return pyop._do_code_exchange(form, _id_token_claims(auth_req, client))


def _refresh(edge: Edge, client: Client, form: dict[str, str]):
    """RFC 6749 section 6: only the client the token was issued to; the representation it
    carries must still be allowed (else the whole grant is revoked)."""
    pyop = edge.provider.provider()
    state = pyop.authz_state
    refresh_token = form.get("refresh_token", "")
    record = state.active_refresh_token(refresh_token) if refresh_token else None
    if record is None or record.get("client_id") != client.client_id:
        # A used one is also caught by pyop's state below, which revokes its grant.
        if record is None and refresh_token:
            pyop._do_token_refresh(form)
        raise OAuthError("invalid_grant", "unknown, expired, used or revoked refresh token")
    grant = state.families.live(record.get("family"))
    auth_req = grant[state.KEY_AUTHORIZATION_REQUEST] if grant else {}
    try:
        _id_token_claims(auth_req, client)
    except OAuthError:
        state.revoke_refresh_token(refresh_token)
        raise
    return pyop._do_token_refresh(form)


# -- revocation and introspection -------------------------------------------------------------


@bp.post("/revoke")
def revoke() -> Response:
    """RFC 7009: the client's own access or refresh token (a refresh token with its whole
    grant). Unknown tokens and tokens of other clients get the same 200, so the answer tells
    nothing of tokens the caller does not hold (section 2.2)."""
    edge = _edge()
    try:
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
        token_value = request.form.get("token") or ""
        if not token_value:
            raise OAuthError("invalid_request", "token is required")
    except OAuthError as exc:
        return _oauth_json(exc)
    own = edge.client_tokens.get(token_value)
    if own is not None and own["client_id"] == client.client_id:
        edge.client_tokens.pop(token_value, None)
        return _no_store(Response(status=200))
    state = edge.provider.provider().authz_state
    access = state.active_access_token(token_value)
    if access is not None and access["client_id"] == client.client_id:
        state.revoke_access_token(token_value)
    else:
        refresh = state.active_refresh_token(token_value)
        if refresh is not None and refresh.get("client_id") == client.client_id:
            state.revoke_refresh_token(token_value)
    return _no_store(Response(status=200))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/introspect")
def introspect() -> Response:
    """RFC 7662, for the client the token was issued to: ``active`` is false for a token
    revoked, expired, of another client, or whose representation the policy no longer
    allows; when active, what the token is for, the ``represents`` claim included."""
    edge = _edge()
    try:
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
    except OAuthError as exc:
        return _oauth_json(exc)
    token_value = request.form.get("token") or ""
    answer: dict[str, Any] = {"active": False}
    own = edge.client_tokens.get(token_value) if token_value else None
    if own is not None and own["client_id"] == client.client_id and own["exp"] >= time.time():
        answer = {"active": True, "token_type": "Bearer", "iss": edge.issuer, **own}
        return _no_store(jsonify(answer))
    state = edge.provider.provider().authz_state
    record = state.active_access_token(token_value) if token_value else None
    kind = "access_token"
    if record is None and token_value:
        record, kind = state.active_refresh_token(token_value), "refresh_token"
    if record is not None and record.get("client_id") == client.client_id:
        if kind == "access_token":
            auth_req = record.get(state.KEY_AUTHORIZATION_REQUEST) or {}
        else:
            grant = state.families.live(record.get("family")) or {}
            auth_req = grant.get(state.KEY_AUTHORIZATION_REQUEST) or {}
        try:
            extra = _id_token_claims(auth_req, client)
        except OAuthError:
            extra = None  # the representation is no longer allowed
        if extra is not None:
            scope = record.get("scope")
            answer = {
                "active": True,
                "scope": " ".join(scope) if isinstance(scope, list) else scope,
                "client_id": client.client_id,
                "token_type": "Bearer" if kind == "access_token" else "refresh_token",
                "exp": record.get("exp"),
                "iss": edge.issuer,
                **({"iat": record["iat"]} if "iat" in record else {}),
                **({"sub": record["sub"]} if "sub" in record else {}),
                **{k: v for k, v in extra.items() if k in ("espace", "represents", "acr")},
            }
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    edge = _edge()
    pyop = edge.provider.provider()
    body = request.get_data(as_text=True)
    headers = {"Authorization": request.headers.get("Authorization", "")}
    try:
        response = pyop.handle_userinfo_request(body, headers)
        access_token = extract_bearer_token_from_http_request(body, headers["Authorization"])
        auth_req = pyop.authz_state.get_authorization_request_for_access_token(access_token)
        client = Client.get(Client.client_id == auth_req["client_id"])
        answer = response.to_dict()
        answer.update(_id_token_claims(auth_req, client))
    except (BearerTokenError, InvalidAccessToken, KeyError):
        return _oauth_json(
            OAuthError(
                "invalid_token",
                "the access token is unknown, expired or revoked",
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        )
    except OAuthError as exc:  # the representation is no longer allowed
        return _oauth_json(
            OAuthError("invalid_token", exc.description, 401, {"WWW-Authenticate": "Bearer"})
        )
    for name in ("acr", "amr", "auth_time"):  # ID token claims, not userinfo
        answer.pop(name, None)
    result = jsonify(answer)
    result.headers["Cache-Control"] = "no-store"
    return result
