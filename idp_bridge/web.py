"""The login pages: choosing eID or itsme, the two bridges' endpoints, the session, logout.

Routes (all under ``/login`` except ``/logout`` and ``/me``):

- ``GET /login?next=PATH``: the page offering "Carte d'identité électronique" and "itsme";
- ``GET /login/eid`` and ``GET /login/itsme``: start a login, send the browser upstream;
- ``POST /login/eid/acs``: the SAML assertion consumer service (HTTP-POST binding);
- ``GET /login/eid/metadata``: our SAML service provider metadata;
- ``GET /login/itsme/callback``: itsme's redirect back, with the code;
- ``GET /login/itsme/jwks``: our JWK Set for itsme (one ``sig`` and one ``enc`` key);
- ``POST /logout``: ends the session (with the page's CSRF token);
- ``GET /me``: who is logged in, how, until when.

**Binding a login to its browser.** Starting a login sets a short-lived cookie holding the SAML
request id or the itsme state; the answer is accepted only from the browser that holds it, so
nobody can log a victim in as themselves by sending them a callback URL (login CSRF). FAS posts
its answer from another site: in production (https) that cookie is ``SameSite=None; Secure``
so the browser sends it with that cross-site POST; the demo's simulator is on the same site,
where ``Lax`` suffices.

**The session** lives in the database (``idp_bridge.sessions``): the cookie holds a random id,
``HttpOnly``, ``SameSite=Lax``, ``Secure`` outside the plain-http demo, replaced at every login.

Every refused login is logged with its reason by the upstream module, shown to the person in
their language, and leaves no session and no cookie behind.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from stdnum.be import nn

from authz import constant_time
from idp_bridge import wiring
from idp_bridge.sessions import SessionPolicy, current_session, end_session, open_session
from idp_bridge.upstreams.base import UpstreamError
from idp_bridge.upstreams.eid import sp_metadata

logger = logging.getLogger(__name__)

EXTENSION = "monespace.logins"
# Callables given the LoginSession that just ended (the OpenID provider's back-channel logout).
LOGOUT_HOOKS = "monespace.logout_hooks"
SESSION_COOKIE = "monespace_session"
BINDING_COOKIE = "monespace_login"
DEFAULT_NEXT = "/me"

bp = Blueprint("login", __name__, template_folder="templates")


class Logins:
    """What the login routes share: the upstreams, the session rules, the cookie settings."""

    def __init__(self, upstreams: wiring.Upstreams, policy: SessionPolicy, config: Any):
        self.upstreams = upstreams
        self.policy = policy
        self.secure = config.secure_cookies
        self.binding_ttl = 900
        self.secret = config.secret_key.encode()
        self.eid_metadata: str | None = None


def init_app(app: Flask) -> None:
    config = app.config["MONESPACE"]
    policy = SessionPolicy(
        idle_timeout=config.session_idle_timeout,
        absolute_timeout=config.session_absolute_timeout,
    )
    app.extensions[EXTENSION] = Logins(wiring.build(app, config), policy, config)
    app.register_blueprint(bp)


def _logins() -> Logins:
    return current_app.extensions[EXTENSION]


def current_login():
    """The request's live login session (with its person), or None; read once per request."""
    if "login_session" not in g:
        g.login_session = current_session(request.cookies.get(SESSION_COOKIE), _logins().policy)
    return g.login_session


def csrf_token(login_session, purpose: str = "") -> str:
    """A token bound to the login session, for the forms of logged-in pages; a ``purpose``
    binds it to one form as well (one login's espace chooser, a logout confirmation)."""
    message = "csrf:" + (f"{purpose}:" if purpose else "") + login_session.id_hash
    return hmac.new(_logins().secret, message.encode(), hashlib.sha256).hexdigest()


def safe_next(value: str | None) -> str:
    """A path on this site to go to after login; anything else (another site) is replaced."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
        or len(value) > 2000
    ):
        return DEFAULT_NEXT
    return value


# -- the login page -----------------------------------------------------------------------


@bp.get("/login")
def login_page() -> Any:
    upstreams = _logins().upstreams
    return render_template(
        "login/choose.html",
        next=safe_next(request.args.get("next")),
        eid=upstreams.eid is not None,
        itsme=upstreams.itsme is not None,
        logged_out="logged_out" in request.args,
    )


def _start(kind: str, url: str, binding: str) -> Response:
    response = redirect(url, 303)
    logins = _logins()
    # The session this browser holds now (its hash), ended when the new login succeeds: FAS's
    # cross-site POST does not carry the SameSite=Lax session cookie itself.
    current = current_login()
    previous = current.id_hash if current is not None else ""
    response.set_cookie(
        BINDING_COOKIE,
        f"{kind}:{binding}:{previous}",
        max_age=logins.binding_ttl,
        path="/login/",
        secure=logins.secure,
        httponly=True,
        # FAS answers with a cross-site POST: only a SameSite=None cookie goes with it, and
        # browsers accept SameSite=None on Secure cookies only.
        samesite="None" if logins.secure else "Lax",
    )
    return response


def _binding(kind: str) -> str | None:
    """The request id or state of the login this browser started with ``kind``."""
    parts = request.cookies.get(BINDING_COOKIE, "").split(":", 2)
    return parts[1] if len(parts) >= 2 and parts[0] == kind and parts[1] else None


def _previous_session() -> str | None:
    """The hash of the session the browser held when it started this login."""
    parts = request.cookies.get(BINDING_COOKIE, "").split(":", 2)
    return parts[2] if len(parts) == 3 and parts[2] else None


def _upstream(name: str) -> Any:
    """The upstream of that name; 404 when this service does not offer it."""
    upstream = getattr(_logins().upstreams, name)
    if upstream is None:
        abort(404)
    return upstream


@bp.get("/login/eid")
def eid_start() -> Response:
    eid = _upstream("eid")
    start = eid.start(safe_next(request.args.get("next")))
    return _start("eid", start.url, start.request_id)


@bp.post("/login/eid/acs")
def eid_acs() -> Response:
    eid = _upstream("eid")
    try:
        identity = eid.complete(request.form)
    except UpstreamError as exc:
        return _refused(exc)
    binding = _binding("eid")
    if binding is None or not constant_time.equal(binding, identity.extra["request_id"]):
        logger.warning("eID login not accepted (invalid): the answer is for another browser")
        return _refused(UpstreamError("invalid", "the answer is for a login started elsewhere"))
    return _logged_in(identity)


@bp.get("/login/eid/metadata")
def eid_metadata() -> Response:
    logins = _logins()
    if logins.upstreams.eid_config is None:
        abort(404)
    if logins.eid_metadata is None:  # built once: it loads the SP key
        logins.eid_metadata = sp_metadata(logins.upstreams.eid_config)
    return Response(logins.eid_metadata, mimetype="application/samlmetadata+xml")


@bp.get("/login/itsme")
def itsme_start() -> Response:
    itsme = _upstream("itsme")
    try:
        start = itsme.start(safe_next(request.args.get("next")))
    except UpstreamError as exc:  # itsme's discovery or keys could not be read
        # The upstream module logs refused answers only; a login that cannot start is ours.
        logger.warning("itsme login not started (%s): %s", exc.reason, exc.message)
        return _refused(exc)
    return _start("itsme", start.url, start.state)


@bp.get("/login/itsme/callback")
def itsme_callback() -> Response:
    itsme = _upstream("itsme")
    # Without the browser's binding cookie, no state can match: refused as started elsewhere.
    expected = _binding("itsme") or "-"
    try:
        identity = itsme.complete(request.args, expected_state=expected)
    except UpstreamError as exc:
        return _refused(exc)
    return _logged_in(identity)


@bp.get("/login/itsme/jwks")
def itsme_jwks() -> Response:
    itsme = _upstream("itsme")
    response = current_app.json.response(itsme.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- the outcome ----------------------------------------------------------------------------

MESSAGES = {
    "refused": lambda: _(
        "Le service de connexion a refusé la connexion. Réessayez, ou choisissez une autre "
        "méthode de connexion."
    ),
    "cancelled": lambda: _("Vous avez annulé la connexion. Vous n'êtes pas connecté."),
    "timed_out": lambda: _("La connexion a pris trop de temps et a expiré. Veuillez recommencer."),
    "invalid": lambda: _(
        "La réponse du service de connexion n'a pas pu être vérifiée. Pour votre sécurité, la "
        "connexion a été interrompue. Veuillez recommencer."
    ),
}
STATUS = {"refused": 403, "cancelled": 400, "timed_out": 400, "invalid": 400}


def _refused(exc: UpstreamError) -> Response:
    # Logged where the login was refused (the upstream modules, the binding check above).
    reason = exc.reason if exc.reason in MESSAGES else "invalid"
    page = render_template("login/refused.html", message=MESSAGES[reason](), reason=reason)
    response = Response(page, STATUS[reason], mimetype="text/html")
    response.delete_cookie(BINDING_COOKIE, path="/login/")
    return response


def _logged_in(identity) -> Response:
    logins = _logins()
    raw_id, _session = open_session(
        identity,
        logins.policy,
        replaces=request.cookies.get(SESSION_COOKIE),
        replaces_hash=_previous_session(),
        on_replaced=_session_ended,
    )
    response = redirect(safe_next(identity.extra.get("return_to")), 303)
    response.set_cookie(
        SESSION_COOKIE,
        raw_id,
        max_age=logins.policy.absolute_timeout,
        path="/",
        secure=logins.secure,
        httponly=True,
        samesite="Lax",
    )
    response.delete_cookie(BINDING_COOKIE, path="/login/")
    return response


def _session_ended(session) -> None:
    """A session ended by a logout or replaced by a new login: the same consequences."""
    for hook in current_app.extensions.get(LOGOUT_HOOKS, ()):
        hook(session)


# -- the session ----------------------------------------------------------------------------


@bp.get("/me")
def me() -> Any:
    session = current_login()
    if session is None:
        response = redirect(url_for("login.login_page", next="/me"), 303)
        if SESSION_COOKIE in request.cookies:  # ended or expired: forget it
            response.delete_cookie(SESSION_COOKIE, path="/", secure=_logins().secure)
        return response
    page = render_template(
        "login/me.html",
        session=session,
        person=session.person,
        nrn=nn.format(session.person.nrn),
        operator=session.person.nrn in current_app.config["MONESPACE"].operators,
        csrf=csrf_token(session),
    )
    # Personal data: never kept by a shared cache or the browser's history cache.
    return Response(page, headers={"Cache-Control": "no-store"})


@bp.post("/logout")
def logout() -> Response:
    session = current_login()
    if session is not None:
        sent = request.form.get("csrf_token", "")
        if not constant_time.equal(sent, csrf_token(session)):
            abort(400, _("Le formulaire a expiré. Rechargez la page et réessayez."))
        end_session(request.cookies.get(SESSION_COOKIE))
        _session_ended(session)
    response = redirect(url_for("login.login_page", logged_out=1), 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_logins().secure, samesite="Lax")
    return response
