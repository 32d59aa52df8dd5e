"""The Flask app factory: one app wiring the packages together.

``create_app()`` with no argument reads the configuration from the environment, which makes it
the WSGI entry point as well (the shipped server settings, :mod:`monespace.server_config`, use
``create_served_app``, which turns a refusal at start-up into one ``error:`` line)::

    granian --interface wsgi --factory --workers 2 monespace.app:create_served_app

The checked :class:`~monespace.config.Config` is ``app.config["MONESPACE"]``.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import peewee
from flask import Flask, Request, Response, current_app, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_ui import limits as rate_limits
from authz import db, schema
from authz.api.edge import EXTENSION as DECISIONS
from authz.errors import AuthzError
from authz.metrics import start_flushing
from idp_bridge.oidc.edge import EXTENSION as OIDC
from idp_bridge.oidc.fastlane import FastProvider
from idp_bridge.wiring import LoginConfigError
from monespace import bootstrap, i18n, logs, metrics, server_config, wsgi
from monespace.config import Config, ConfigError, check_workers, counts_per_process, redact_url
from monespace.wsgi import DefaultHeaders, Observed, RequestGate

# Packages that plug into the app, in order. Each module exposes ``init_app(app)``, which
# registers its blueprints, error handlers and hooks (admin UI, OpenID Connect provider,
# AuthZEN decision API...). Add a module here when it gains its init_app.
PACKAGES: tuple[str, ...] = (
    "authz.api",
    "idp_bridge.browser_session",
    "idp_bridge.web",
    "idp_bridge.oidc.endpoints",
    "admin_ui.enterprises",
    "admin_ui.portal",
    "admin_ui.manage",
    "admin_ui.mandates",
    "admin_ui.representatives",
    "admin_ui.invitations",
    "admin_ui.operator",
    "admin_ui.helpdesk",
    "admin_ui.my_history",
    "admin_ui.outbox",
    "monespace.demo_rp",
)


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from a Config, from overrides of the loaded settings, or from the env.

    In an overrides mapping, lower-case keys are settings (``database_url``, ``mode``...) and
    upper-case keys are Flask settings applied as they are (``TESTING``...).
    """
    flask_settings: dict[str, Any] = {}
    if isinstance(config, Mapping):
        flask_settings = {key: value for key, value in config.items() if key.isupper()}
        config = {key: value for key, value in config.items() if not key.isupper()}
    config = bootstrap.resolve_config(config)

    app = Flask(__name__, instance_path=str(config.data_dir))
    app.session_interface = _NoSessionForApis()
    app.config.update(
        MONESPACE=config,
        SECRET_KEY=config.secret_key,
        # Cookies signed before the secret key changed stay valid (docs/runbook.md).
        SECRET_KEY_FALLBACKS=list(config.previous_secret_keys),
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="https" if config.base_url.startswith("https://") else "http",
        # The gate (monespace.wsgi) refuses larger bodies first; Flask's own limits agree.
        MAX_CONTENT_LENGTH=config.max_request_body,
        MAX_FORM_MEMORY_SIZE=config.max_request_body,
    )
    app.config.update(flask_settings)

    bootstrap.connect_database(config)
    bootstrap.register_subscribers(config)
    try:
        with db.connection():
            bootstrap.prepare_schema(config)
            bootstrap.record_policy_in_force(config)
    except peewee.OperationalError as exc:
        # Bounded (database_connect_timeout, database_statement_timeout): a node started
        # against a database that does not answer stops, saying so, rather than waiting.
        app.logger.error(
            "cannot start: the database %s does not answer: %s",
            redact_url(config.database_url),
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
        raise
    problem = rate_limits.check_storage(config.rate_limit_storage, config.rate_limit_key_prefix)
    if problem is not None:
        raise ConfigError(f"rate_limit_storage: {redact_url(config.rate_limit_storage)}: {problem}")
    if not config.is_demo and counts_per_process(config):
        # More than one worker is refused before the workers start (check_workers); several
        # nodes cannot be seen from here.
        app.logger.warning(
            "rate limits are counted in this process (rate_limit_storage memory://): with "
            "more than one node, each counts apart; set rate_limit_storage to a shared Redis"
        )

    _init_request_gate(app)  # first of the hooks: nothing reads a refused request
    app.before_request(metrics.note_rule)
    i18n.init_app(app)
    _init_database_per_request(app)
    _init_error_handlers(app)
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", readyz, methods=["GET"])
    app.add_url_rule(metrics.PATH, "metrics", metrics_page, methods=["GET"])
    app.add_url_rule("/", "home", home, methods=["GET"])

    if config.simulators:
        # The demo's logins against simulators mounted here, in demo mode only: no other
        # package imports the simulators.
        from monespace import demo_logins

        demo_logins.init_app(app)
    for module_name in PACKAGES:
        try:
            importlib.import_module(module_name).init_app(app)
        except LoginConfigError as exc:
            raise ConfigError(f"login: {exc}") from None
    # The provider's hot endpoints below Flask's dispatch, with the route's steps.
    app.wsgi_app = FastProvider(app, app.extensions[OIDC], refused=wsgi.REFUSAL)
    # Around the packages' layers (the fast lanes included), so that they
    # never see a refused request; inside the security headers, which cover its answers.
    app.wsgi_app = RequestGate(
        app.wsgi_app, config.max_request_body, retry_after=config.database_pool_wait
    )
    _init_security_headers(app)  # it covers what the packages' layers answer
    if config.trusted_proxies:
        # Outside the app's layers: every layer sees the client's address (audit log, the
        # demo outbox's loopback check) and scheme, as the trusted proxies forwarded them. Each
        # proxy appends the address it saw, so only the last trusted_proxies entries count.
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    # Outermost of all: every request counted and timed, whichever layer answers it.
    app.wsgi_app = Observed(app.wsgi_app, metrics.Requests(app.url_map))
    start_flushing()  # the request metrics' pending counts, written every second
    return app


# The exit status of a worker whose app refuses to start; granian's master then stops (exit 1)
# rather than serve without it (a worker that fails again at once is a crash loop to granian).
BOOT_REFUSED = 3


def create_served_app() -> Flask:
    """:func:`create_app` for the server's workers (granian's ``--factory``,
    :mod:`monespace.server_config`), once in each worker process.

    - the log lines in the service's format, granian's own lines too when it was started with
      the shipped ``--log-config``;
    - the metrics' multiprocess directory rid of the live gauges of workers that are gone
      (:func:`monespace.metrics.drop_dead_processes`);
    - a refusal at start-up (a setting, the schema, signing keys no secret key decrypts, and
      per-process rate-limit counters in more than one worker, however granian was started:
      :func:`monespace.server_config.served_workers`) is one ``error:`` line of the log, as the
      command line prints it, and the worker's exit;
    - the start-up's objects kept out of the garbage collector's passes
      (:func:`freeze_startup_heap`)."""
    logs.configure(server_config.log_format())
    metrics.drop_dead_processes()
    try:
        app = create_app()
        workers = server_config.served_workers()
        if workers is not None:
            check_workers(app.config["MONESPACE"], workers)
    except (ConfigError, AuthzError) as exc:
        logging.getLogger(__name__).error("error: %s", exc)
        raise SystemExit(BOOT_REFUSED) from None
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Keep what the worker has built so far (the app, its libraries, the policy engine, the
    SAML schemas: some 150,000 objects) out of the garbage collector's passes. They live as
    long as the worker; a full pass over them held every thread of the worker for about 80 ms,
    a few times a minute under load (in the p99 of every request then under way). Garbage made
    from now on is collected as before; the garbage of the start-up is collected first."""
    gc.collect()
    gc.freeze()


def _init_request_gate(app: Flask) -> None:
    @app.before_request
    def refuse_bad_input() -> None:
        """Raise the refusal of :class:`~monespace.wsgi.RequestGate`, here, where the endpoint's
        blueprint answers it in its protocol's format; check the form fields once parsed."""
        refusal = request.environ.get(wsgi.REFUSAL)
        if refusal is not None:
            raise refusal
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            wsgi.check_form(request.form)


class _NoSessionForApis(SecureCookieSessionInterface):
    """Machine-to-machine paths carry no browser session: skip decoding a cookie for them."""

    API_PATHS = ("/access/v1/", "/.well-known/", "/healthz", "/readyz", metrics.PATH)

    def open_session(self, app: Flask, request: Request):
        if request.environ.get("PATH_INFO", "").startswith(self.API_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


_DB_HELD = "monespace.db_held"


def _init_database_per_request(app: Flask) -> None:
    # Connections are taken from the pool on a request's first query (peewee connects on
    # demand) and given back at its end: a request answered from a cache touches no database.
    # A block that asks for a connection (db.connection()) keeps it for the rest of the request.
    # The mark is the request's own, not ``g``'s: a request made from within another (the
    # simulators called in-process) shares its app context, and would release the outer
    # request's hold as well as its own, leaving the thread holding connections for good.
    @app.before_request
    def hold_connection() -> None:
        db.hold_connections()
        request.environ[_DB_HELD] = True

    @app.teardown_request
    def release_connection(_exc: BaseException | None) -> None:
        if request.environ.pop(_DB_HELD, False):
            db.release_connections()

    @app.teardown_appcontext
    def close_connection(_exc: BaseException | None) -> None:
        if not db.database.is_closed():
            db.database.close()


def home() -> str:
    """The landing page: logging in, Mes entreprises, and the protocol endpoints."""
    return render_template("home.html", demo=current_app.config["MONESPACE"].is_demo)


def healthz() -> tuple[Response, int]:
    """Liveness: the process answers requests. It asks nothing of the database, so a database
    that does not answer never gets a node restarted (readiness, /readyz, says so instead).
    ``policy`` is the hash of the policy in force (docs/policies.md)."""
    point = current_app.extensions.get(DECISIONS)
    return jsonify(status="ok", policy=point.engine.version if point is not None else None), 200


# A readiness check answers within about this many seconds, whatever the database does.
READINESS_TIMEOUT = 1.0


def readyz() -> tuple[Response, int]:
    """Readiness for load balancers: the database answers within :data:`READINESS_TIMEOUT`
    (on a connection of its own, never the pool's), this software runs on its schema, the
    policy loaded.

    The schema is each package's: at this software's version (``"schema": "current"``), or at
    another it still runs on (``"schema": "compatible"``, the packages in ``compatible``): a
    database upgraded by the next release, whose upgrade recorded that this one still runs on
    it, keeps the nodes of this release ready while they are replaced one at a time. A
    package behind, or newer beyond that, is named in ``outdated`` and ``schema_errors``."""
    sets = bootstrap.schema_sets()
    # Each set's version row, as its model reads it (no parameters): the version, then the
    # oldest software it runs (a query that fails, on a row written before that column
    # existed, reads as None).
    queries = [
        "SELECT 1",
        *(s.info.select(s.info.version).sql()[0] for s in sets),
        *(s.info.select(s.info.compatible_from).sql()[0] for s in sets),
    ]
    point = current_app.extensions.get(DECISIONS)
    policy = point.engine.version if point is not None else None
    try:
        rows = db.probe(queries, READINESS_TIMEOUT)
    except peewee.DatabaseError as exc:
        # Logged for the operator; the caller gets no detail of the failure.
        current_app.logger.warning("readiness: database unavailable: %s", exc)
        return jsonify(status="error", database="unavailable", policy=policy), 503
    count = len(sets)
    found = [
        schema_set.compatibility(
            version[0] if version else None, floor[0] if version and floor else None
        )
        for schema_set, version, floor in zip(
            sets, rows[1 : count + 1], rows[count + 1 :], strict=True
        )
    ]
    versions = {f.name: f.database for f in found}
    refused = {f.name: f.problem for f in found if not f.usable}
    compatible = {
        f.name: {"database": f.database, "software": f.software, "runs_from": f.runs_from}
        for f in found
        if f.usable and f.state != "current"
    }
    if refused or policy is None:
        if refused:
            current_app.logger.warning(
                "readiness: schema: %s", "; ".join(refused[name] for name in sorted(refused))
            )
        return jsonify(
            status="error",
            database="ok",
            schema="incompatible" if refused else "compatible" if compatible else "current",
            schema_version=versions["authz"],
            expected_schema_version=schema.CURRENT_VERSION,
            outdated=sorted(refused),
            schema_errors=refused,
            policy=policy,
        ), 503
    body: dict[str, Any] = {
        "status": "ok",
        "database": "ok",
        "schema_version": versions["authz"],
        "schema": "compatible" if compatible else "current",
        "policy": policy,
    }
    if compatible:
        body["compatible"] = compatible
    return jsonify(body), 200


def metrics_page() -> Response:
    """The Prometheus metrics (``monespace.metrics``), for the bearer of ``metrics_token``
    only; not served at all without one (404, as an unknown path)."""
    token = current_app.config["MONESPACE"].metrics_token
    if token is None:
        raise NotFound()
    if not metrics.authorized(token, request.headers.get("Authorization")):
        return Response(metrics.REFUSED_BODY, 401, metrics.REFUSED_HEADERS)
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path in ("/healthz", "/readyz")


def _error_code(exc: HTTPException) -> str:
    """``Method Not Allowed`` -> ``method_not_allowed``."""
    return (exc.name or "error").lower().replace(" ", "_")


def _init_error_handlers(app: Flask) -> None:
    """JSON errors for API clients; HTML clients keep the plain pages (never a traceback).

    Blueprints register their own handlers, in their protocol's format; these only cover
    what no blueprint handled (unknown URLs, wrong methods, unexpected failures).
    """

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        owner = _routing_error_handler(exc)
        if owner is not None:
            return _with_allow(app.make_response(owner(exc)), exc)
        if not _wants_json():
            return _error_page(exc)
        # Keep the status and headers (Allow, Retry-After...), replace the HTML body.
        response = exc.get_response()
        response.set_data(json.dumps({"error": _error_code(exc), "message": exc.description}))
        response.content_type = "application/json"
        return response

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def database_unavailable(exc: Exception) -> Any:
        app.logger.error("database unavailable: %s", exc)
        return http_error(ServiceUnavailable("The database is unavailable; try again later."))

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError) -> Any:
        # Flask has already logged the original exception with its traceback.
        return http_error(InternalServerError())


def _routing_error_handler(exc: HTTPException) -> Callable[[HTTPException], Any] | None:
    """The handler of the blueprint that serves the URL, for an error raised while routing.

    Flask gives errors of routing (a method the URL does not take, an unknown path) to the
    app's handlers only, since no view was chosen; but a protocol endpoint (OAuth, AuthZEN)
    must answer them in its own format too, not with the site's HTML page. The blueprint is
    the one whose rule matches the URL with another method, or, for an unknown path, the only
    one serving paths under its nearest parent (``/access/v1/nope``: the decision API). A
    refusal raised before routing's own error (the request gate's, in ``before_request``) is
    answered by the same blueprint.
    """
    if request.url_rule is not None:  # raised in a view: its blueprint had its turn
        return None
    owner = _owner_of_url(request.routing_exception or exc)
    spec = current_app.error_handler_spec.get(owner) if owner else None
    for code in (exc.code, None) if spec else ():
        handlers = spec.get(code) or {}
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
    return None


def _owner_of_url(exc: HTTPException) -> str | None:
    url_map = current_app.url_map
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        adapter = url_map.bind_to_environ(request.environ)
        try:
            rule, _ = adapter.match(method=exc.valid_methods[0], return_rule=True)
        except HTTPException:
            return None
        return rule.endpoint.rpartition(".")[0] or None
    if not isinstance(exc, NotFound):
        return None
    parent = request.path.rsplit("/", 1)[0]
    while parent:
        owners = {
            rule.endpoint.rpartition(".")[0]
            for rule in url_map.iter_rules()
            if rule.rule.startswith(parent + "/")
        }
        if owners:
            return owners.pop() if len(owners) == 1 else None
        parent = parent.rsplit("/", 1)[0]
    return None


def _with_allow(response: Response, exc: HTTPException) -> Response:
    """A 405 names the methods the URL takes (RFC 9110 section 15.5.6), whoever rendered it."""
    if isinstance(exc, MethodNotAllowed) and "Allow" not in response.headers:
        allow = exc.get_response().headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
    return response


def _error_titles() -> dict[int, str]:
    return {
        400: _("La demande n'a pas pu être traitée"),
        403: _("Accès refusé"),
        404: _("Page introuvable"),
        405: _("Méthode non permise"),
        410: _("Page expirée"),
        413: _("Demande trop volumineuse"),
        429: _("Trop de demandes"),
        503: _("Service momentanément indisponible"),
    }


def _error_messages() -> dict[int, str]:
    return {
        400: _("La demande n'a pas pu être comprise. Revenez à la page précédente et réessayez."),
        403: _("Vous n'avez pas accès à cette page."),
        404: _("Cette page n'existe pas, ou plus. Vérifiez l'adresse."),
        405: _("Cette adresse ne s'utilise pas de cette manière."),
        413: _("La demande dépasse la taille permise."),
        429: _("Trop de demandes en peu de temps. Réessayez dans quelques minutes."),
        503: _("Le service est momentanément indisponible. Réessayez dans quelques minutes."),
    }


def _error_page(exc: HTTPException) -> Any:
    """An error as a page of the site: in the person's language, with the layout and a way
    home; the status and headers (Allow, Retry-After...) kept. A message written for the
    person (``abort(400, _("..."))``) is shown; werkzeug's English defaults are not."""
    code = exc.code or 500
    written = exc.description != type(exc).description and code < 500
    page = render_template(
        "error.html",
        code=code,
        title=_error_titles().get(code, _("Une erreur est survenue")),
        message=exc.description
        if written
        else _error_messages().get(
            code, _("Une erreur inattendue est survenue. Réessayez plus tard.")
        ),
    )
    response = exc.get_response()
    response.set_data(page)
    response.content_type = "text/html; charset=utf-8"
    return response


# Every page is served by the app itself, with no inline script or style: the policy allows
# nothing else. No form-action: browsers apply it to the redirect that ends a login (to the
# relying party's redirect URI), which would then be blocked.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),  # frame-ancestors, for browsers that predate it
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _init_security_headers(app: Flask) -> None:
    # Defaults for every response; a page that needs another value sets its own. HSTS only
    # outside the demo: production is served over https (the configuration insists).
    config = app.config["MONESPACE"]
    headers = SECURITY_HEADERS if config.is_demo else (*SECURITY_HEADERS, HSTS)
    app.wsgi_app = DefaultHeaders(app.wsgi_app, headers)
