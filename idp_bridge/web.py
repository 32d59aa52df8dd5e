"""The login pages: choosing an upstream login, starting it, its answer, the session, logout.

Routes (all under ``/login`` except ``/logout`` and ``/me``):

- ``GET /login?next=PATH``: the page offering the configured upstream logins;
- ``GET /login/<name>``: start a login with that upstream, send the browser there;
- the URLs each upstream declares under ``/login/<name>`` (``Upstream.routes``): where its
  answer comes back (eID: ``POST /login/eid/acs``; itsme: ``GET /login/itsme/callback``) and
  the documents it publishes (``/login/eid/metadata``, ``/login/itsme/jwks``);
- ``POST /logout``: ends the session (with the page's CSRF token);
- ``GET /me``: who is logged in, how, until when.

**Binding a login to its browser.** Starting a login sets a short-lived cookie holding the
upstream's name and its binding (the SAML request id, the itsme state); the answer is accepted
only from the browser that holds it, so nobody can log a victim in as themselves by sending
them a callback URL (login CSRF). FAS posts its answer from another site: in production
(https) that cookie is ``SameSite=None; Secure`` so the browser sends it with that cross-site
POST; the demo's simulator is on the same site, where ``Lax`` suffices.

**The session** is read and written through ``idp_bridge.browser_session`` (its cookie, the
CSRF tokens) and ``idp_bridge.sessions`` (its rows).

Every refused login is logged with its reason by the upstream module, shown to the person in
their language, and leaves no session and no cookie behind.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from stdnum.be import nn

from authz import constant_time, db
from idp_bridge import browser_session, metrics, wiring
from idp_bridge.browser_session import (
    SESSION_COOKIE,
    csrf_token,
    current_login,
    safe_next,
    session_ended,
)
from idp_bridge.sessions import end_session, open_session
from idp_bridge.upstreams.base import Upstream, UpstreamError

logger = logging.getLogger(__name__)

EXTENSION = "monespace.logins"
BINDING_COOKIE = "monespace_login"
BINDING_TTL = 900  # seconds: the longest a person may take upstream

bp = Blueprint("login", __name__, template_folder="templates")


class Logins:
    """What the login routes share: the upstreams, by name."""

    def __init__(self, upstreams: wiring.Upstreams):
        self.upstreams = upstreams


def init_app(app: Flask) -> None:
    upstreams = wiring.init_app(app)
    app.extensions[EXTENSION] = Logins(upstreams)
    app.register_blueprint(bp)
    for name, upstream in upstreams.items():
        app.register_blueprint(_upstream_blueprint(name, upstream))
    metrics.expect_logins(list(upstreams))


def _upstream_blueprint(name: str, upstream: Upstream) -> Blueprint:
    """The URLs the upstream declares, under ``/login/<name>``."""
    upstream_bp = Blueprint(f"login_{name}", __name__, url_prefix=f"/login/{name}")
    for route in upstream.routes():
        endpoint = route.path.strip("/").replace("/", "_") or "index"
        view = route.view or _answer_view(name)
        upstream_bp.add_url_rule(route.path, endpoint, view, methods=list(route.methods))
    return upstream_bp


def _logins() -> Logins:
    return current_app.extensions[EXTENSION]


# -- the login page -----------------------------------------------------------------------


@bp.get("/login")
def login_page() -> Any:
    return render_template(
        "login/choose.html",
        next=safe_next(request.args.get("next")),
        upstreams=list(_logins().upstreams.values()),
        logged_out="logged_out" in request.args,
    )


def _upstream(name: str) -> Upstream:
    """The upstream of that name; 404 when this service does not offer it."""
    upstream = _logins().upstreams.get(name)
    if upstream is None:
        abort(404)
    return upstream


@bp.get("/login/<name>")
def start(name: str) -> Response:
    upstream = _upstream(name)
    try:
        started = upstream.start(safe_next(request.args.get("next")))
    except UpstreamError as exc:  # the upstream's discovery or keys could not be read
        # The upstream module logs refused answers only; a login that cannot start is ours.
        logger.warning("%s login not started (%s): %s", name, exc.reason, exc.message)
        metrics.count_login(name, "not_started")
        return _refused(exc)
    response = redirect(started.url, 303)
    sessions = browser_session.settings()
    # The session this browser holds now (its hash), ended when the new login succeeds: FAS's
    # cross-site POST does not carry the SameSite=Lax session cookie itself.
    current = current_login()
    previous = current.id_hash if current is not None else ""
    response.set_cookie(
        BINDING_COOKIE,
        f"{name}:{started.binding}:{previous}",
        max_age=BINDING_TTL,
        path="/login/",
        secure=sessions.secure,
        httponly=True,
        # FAS answers with a cross-site POST: only a SameSite=None cookie goes with it, and
        # browsers accept SameSite=None on Secure cookies only.
        samesite="None" if sessions.secure else "Lax",
    )
    return response


def _binding(name: str) -> str:
    """The binding of the login this browser started with ``name``; "" when none."""
    parts = request.cookies.get(BINDING_COOKIE, "").split(":", 2)
    return parts[1] if len(parts) >= 2 and parts[0] == name else ""


def _previous_session() -> str | None:
    """The hash of the session the browser held when it started this login."""
    parts = request.cookies.get(BINDING_COOKIE, "").split(":", 2)
    return parts[2] if len(parts) == 3 and parts[2] else None


def _answer_view(name: str):
    def answer() -> Response:
        """The upstream's answer (a form posted, or a redirect's query): the login ends."""
        params = request.form if request.method == "POST" else request.args
        upstream = _upstream(name)
        # One transaction, one commit: the pending login taken, the assertion recorded as
        # used, the person and the session. A refused answer leaves the block normally, so
        # what it spent (the pending login, the assertion) is committed: it cannot be tried
        # again. Anything else undoes it all: no login happened.
        with db.connection(), db.transaction():
            try:
                identity = upstream.complete(params, binding=_binding(name))
            except UpstreamError as exc:
                refused = exc
            else:
                refused = None
                response = _logged_in(identity)
        if refused is not None:
            metrics.count_login(name, refused.reason)
            return _refused(refused)
        metrics.count_login(name, "success")
        return response

    answer.__name__ = f"{name}_answer"
    return answer


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
    sessions = browser_session.settings()
    raw_id, _session = open_session(
        identity,
        sessions.policy,
        replaces=request.cookies.get(SESSION_COOKIE),
        replaces_hash=_previous_session(),
        on_replaced=session_ended,
    )
    response = redirect(safe_next(identity.extra.get("return_to")), 303)
    response.set_cookie(
        SESSION_COOKIE,
        raw_id,
        max_age=sessions.policy.absolute_timeout,
        path="/",
        secure=sessions.secure,
        httponly=True,
        samesite="Lax",
    )
    response.delete_cookie(BINDING_COOKIE, path="/login/")
    return response


# -- the session ----------------------------------------------------------------------------


@bp.get("/me")
def me() -> Any:
    session = current_login()
    if session is None:
        response = redirect(url_for("login.login_page", next="/me"), 303)
        if SESSION_COOKIE in request.cookies:  # ended or expired: forget it
            response.delete_cookie(
                SESSION_COOKIE, path="/", secure=browser_session.settings().secure
            )
        return response
    upstream = _logins().upstreams.get(session.upstream)
    page = render_template(
        "login/me.html",
        session=session,
        method=upstream.label if upstream is not None else session.upstream,
        person=session.person,
        nrn=nn.format(session.person.nrn),
        operator=session.person.nrn in current_app.config["MONESPACE"].operators,
        helpdesk=session.person.nrn in current_app.config["MONESPACE"].helpdesk,
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
        session_ended(session)
    response = redirect(url_for("login.login_page", logged_out=1), 303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=browser_session.settings().secure, samesite="Lax"
    )
    return response
