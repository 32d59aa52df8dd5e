"""Configuration: defaults in code, an optional TOML file, then ``MONESPACE_*`` variables.

Later sources win: code defaults, the TOML file named by ``MONESPACE_CONFIG``, the files of the
directory named by ``MONESPACE_SECRETS_DIR`` (one per setting), the environment, then explicit
overrides (tests, ``create_app({...})``). Every setting is checked once, here, so
the app and the command line stop at start-up with one clear message instead of failing later.

The settings are declared once, in :class:`Settings` (name, type, default); each upstream
login adds its own, ``<name>_*``, declared by its plugin's settings type
(:mod:`idp_bridge.upstreams.registry`) and validated by it.

Two modes:

- ``demo`` (the default when nothing is configured): a SQLite file and a generated secret key
  in the data directory, a generated audit key in the keys directory, login simulators on, one
  process. Made to be tried, not deployed.
- ``production``: the database URL, a long secret key, the audit key and the public base URL
  must be given; simulators must be off.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse, urlunparse

import limits
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from idp_bridge.upstreams.base import Plugin, UpstreamSettings
from monespace.config_error import ConfigError
from monespace.config_keys import (
    MIN_SECRET_KEY_LENGTH,
    audit_keys,
    audit_keys_checked,
    demo_secret_key,
    make_dir,
    previous_secret_keys,
    read_secret,
    read_secrets_dir,
    secret_key,
)
from monespace.config_upstreams import (
    ENV_PREFIX,
    comma_separated,
    known_settings,
    plugins_of,
    problem,
    upstream_settings,
)

__all__ = ["MIN_SECRET_KEY_LENGTH", "Config", "ConfigError", "Settings", "load", "redact_url"]

MODES = ("demo", "production")
DEMO_DATABASE_FILE = "monespace-demo.sqlite3"
CONFIG_FILE_VARIABLE = "MONESPACE_CONFIG"
SECRETS_DIR_VARIABLE = "MONESPACE_SECRETS_DIR"
DECISION_LOG_MODES = ("off", "sample", "full")
DEMO_BASE_URL = "http://127.0.0.1:8000"
DEMO_OPERATOR_NRN = "82031512306"  # Olivier, the demo's operator (monespace.demo)
MIN_METRICS_TOKEN_LENGTH = 16


class Settings(BaseModel):
    """Every setting of the service, declared once: its name (the TOML key; the variable is
    ``MONESPACE_`` + upper case), its type and its default. None means "derived from the
    mode" (see :func:`load`). Upstream logins add theirs (``<name>_*``) through their plugin.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mode: Literal["demo", "production"] = "demo"
    database_url: str | None = None
    secret_key: str | None = None
    secret_key_file: str | None = None
    # Secret keys replaced by secret_key, still accepted to read what they protect (the
    # signing keys at rest, session cookies) until `monespace keys reencrypt` has run; values
    # separated by commas or new lines, or one a line in previous_secret_keys_file.
    previous_secret_keys: str | None = None
    previous_secret_keys_file: str | None = None
    base_url: str | None = None
    data_dir: str = "instance"
    keys_dir: str | None = None  # demo keys (login simulators, our SP and RP); <data_dir>/keys
    simulators: bool | None = None
    # The audit log's HMAC key (authz.audit), kept out of the database; retired keys, one a
    # line, still verify the rows they keyed. Demo mode generates one in keys_dir.
    audit_key: str | None = None
    audit_key_file: str | None = None
    audit_previous_keys_file: str | None = None
    # The decision engine (authz.decisions): cache bounds (a worker must stay small whatever
    # the traffic) and decision logging.
    decision_cache_size: int = Field(100_000, ge=0, le=10_000_000)
    decision_cache_ttl: int = Field(300, ge=1, le=86_400)
    decision_log: Literal["off", "sample", "full"] = "sample"
    decision_log_sample_rate: float = Field(0.01, ge=0.0, le=1.0)
    decision_log_file: str | None = None
    # Login sessions (idp_bridge.sessions), in seconds.
    session_idle_timeout: int = Field(1800, ge=60, le=86_400)
    session_absolute_timeout: int = Field(8 * 3600, ge=60, le=604_800)
    # Modules of further upstream logins, comma-separated, each holding its plugin as PLUGIN
    # (eID and itsme are built in): their settings join these.
    upstream_plugins: tuple[str, ...] = ()
    # Email (admin_ui.mail): without smtp_host, messages stay in the outbox (the demo's page).
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65_535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Mon Espace <no-reply@localhost>"
    # The operator pages (admin_ui.operator): the NRNs allowed in, comma-separated. Demo mode
    # defaults to the demo's operator; production defaults to nobody.
    operators: tuple[str, ...] | None = None
    # The helpdesk console (admin_ui.helpdesk), read only: the NRNs allowed in, comma-separated.
    # Demo mode defaults to the demo's operator; production defaults to nobody.
    helpdesk: tuple[str, ...] | None = None
    # Rate limits on the role request and invitation forms (admin_ui.limits), per person, in
    # the notation of the "limits" library ("10/hour", "3 per minute"). The counters live in
    # rate_limit_storage: memory:// counts per worker process; redis://HOST:PORT/DB shares them
    # (keys under rate_limit_key_prefix, so that installations may share one Redis).
    rate_limit_storage: str = "memory://"
    rate_limit_key_prefix: str = Field("monespace-limits", min_length=1, max_length=100)
    role_request_limit: str = "10/hour"
    invitation_limit: str = "30/hour"
    # The largest request body accepted, in bytes (monespace.wsgi.RequestGate), on every
    # endpoint: a larger one is refused (413) before it is read.
    max_request_body: int = Field(1 << 20, ge=1024, le=100 << 20)
    # Reverse proxies in front of the nodes whose X-Forwarded-For and X-Forwarded-Proto are
    # believed (werkzeug's ProxyFix): 0 believes none; 1 for one proxy (nginx, an ingress).
    trusted_proxies: int = Field(0, ge=0, le=5)
    # Database connections per worker process, and how long (seconds) a request waits for
    # one when all are in use before it is answered 503 with Retry-After (authz.db).
    database_pool_size: int = Field(32, ge=1, le=1000)
    database_pool_wait: int = Field(5, ge=1, le=60)
    # A PostgreSQL connection given back to the pool less than this many seconds ago is handed
    # out again without a round trip to check it (authz.db.POOL_RECHECK_SECONDS); 0: always.
    database_pool_recheck: float = Field(2.0, ge=0, le=30)
    # Bounds on every PostgreSQL connection (authz.db.Bounds, authz.pgbounds), in seconds:
    # opening one; a statement of the app (the server cancels it, and a server that does not
    # answer at all is given up a second later); a statement of the command line's jobs (the
    # BCE import, db upgrade: long on purpose; 0, none); a transaction left idle.
    database_connect_timeout: int = Field(5, ge=1, le=60)
    database_statement_timeout: int = Field(5, ge=1, le=600)
    database_command_timeout: int = Field(3600, ge=0, le=86_400)
    database_idle_in_transaction_timeout: int = Field(30, ge=1, le=3600)
    # The periodic jobs of `monespace worker` (monespace.worker): seconds between two runs of
    # each, and the file where it records the last run of each (<data_dir>/worker-heartbeat.json).
    worker_mail_interval: int = Field(60, ge=1, le=86_400)
    worker_expire_interval: int = Field(3600, ge=1, le=86_400)
    worker_purge_interval: int = Field(3600, ge=1, le=86_400)
    worker_heartbeat_file: str | None = None
    # Logs (monespace.logs): JSON lines, or text for people; None: json in production, text
    # in the demo.
    log_format: Literal["json", "text"] | None = None
    # Metrics (monespace.metrics): /metrics answers only requests bearing this token
    # (Authorization: Bearer); without one it is not served. The worker serves its own on
    # worker_metrics_host:worker_metrics_port (0: not served; the token is then required).
    metrics_token: str | None = None
    metrics_token_file: str | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(0, ge=0, le=65_535)
    # The portal's help page (admin_ui.portal): the helpdesk's contact details, shown as given
    # (none set: the page says so), and where legal representatives designate a GAP (a path
    # on this site or an https URL), linked from every "no GAP yet" explanation.
    help_phone: str | None = Field(None, max_length=40)
    help_email: str | None = Field(None, max_length=254)
    help_hours: str | None = Field(None, max_length=200)
    gap_designation_url: str = Field("/representant", max_length=500)

    @field_validator("mode", "decision_log", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("upstream_plugins", "operators", "helpdesk", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_separated(value)


@dataclass(frozen=True)
class Config:
    """The checked settings of one running instance (defaults: :class:`Settings`)."""

    mode: str
    database_url: str
    secret_key: str
    base_url: str
    data_dir: Path
    simulators: bool
    keys_dir: Path
    audit_keys: tuple[str, ...]  # the current audit key first, then retired ones
    decision_cache_size: int
    decision_cache_ttl: int
    decision_log: str
    decision_log_sample_rate: float
    decision_log_file: Path | None
    session_idle_timeout: int
    session_absolute_timeout: int
    upstream_plugins: tuple[str, ...]
    # The upstream logins that are on, by name: their settings, checked by their plugin.
    upstreams: Mapping[str, UpstreamSettings]
    smtp_host: str | None  # None: emails are kept in the outbox, not sent
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str | None
    smtp_password: str | None
    mail_from: str
    operators: frozenset[str]  # NRNs allowed on the operator pages
    helpdesk: frozenset[str]  # NRNs allowed on the helpdesk console
    rate_limit_storage: str
    rate_limit_key_prefix: str
    role_request_limit: str
    invitation_limit: str
    max_request_body: int
    trusted_proxies: int
    database_pool_size: int
    database_pool_wait: int
    database_pool_recheck: float
    database_connect_timeout: int
    database_statement_timeout: int
    database_command_timeout: int
    database_idle_in_transaction_timeout: int
    worker_mail_interval: int
    worker_expire_interval: int
    worker_purge_interval: int
    worker_heartbeat_file: Path
    log_format: str
    metrics_token: str | None
    worker_metrics_host: str
    worker_metrics_port: int
    help_phone: str | None = None
    help_email: str | None = None
    help_hours: str | None = None
    gap_designation_url: str = "/representant"
    # Secret keys replaced by secret_key, newest first, still accepted for reading.
    previous_secret_keys: tuple[str, ...] = ()

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure except for the demo served over plain http."""
        return not (self.is_demo and self.base_url.startswith("http://"))

    def __repr__(self) -> str:
        # Never print the secret key nor the SMTP password (logs, tracebacks, pytest output).
        return (
            f"Config(mode={self.mode!r}, database_url={redact_url(self.database_url)!r}, "
            f"base_url={self.base_url!r}, data_dir={str(self.data_dir)!r}, "
            f"simulators={self.simulators!r}, smtp_host={self.smtp_host!r}, "
            f"smtp_password={'***' if self.smtp_password else None!r}, "
            f"metrics_token={'***' if self.metrics_token else None!r})"
        )


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for messages and logs."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urlunparse(parsed._replace(netloc=netloc))


def load(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and check the settings; raise :class:`ConfigError` on the first problem.

    ``defaults`` sit between the code defaults and the file (``serve --port`` uses it so the
    demo's base URL follows the port unless one is configured). ``environ`` defaults to
    ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    config_file = environ.get(CONFIG_FILE_VARIABLE)
    from_file = _read_file(Path(config_file)) if config_file else {}
    sources = [("default", dict(defaults or {})), (f"in {config_file}", from_file)]
    # One file per setting, named after it (Docker and Kubernetes secrets): after the file,
    # before the environment.
    secrets_dir = environ.get(SECRETS_DIR_VARIABLE)
    if secrets_dir:
        sources.append((f"in {SECRETS_DIR_VARIABLE} {secrets_dir}", read_secrets_dir(secrets_dir)))
    sources.append(("environment", _from_environ(environ, set(Settings.model_fields))))
    sources.append(("override", dict(overrides or {})))
    # The plugins first: their settings are known settings too.
    plugins = plugins_of(sources)
    known = known_settings(list(Settings.model_fields), plugins)
    sources[-2] = ("environment", _from_environ(environ, known))
    settings: dict[str, Any] = {}
    for source, values in sources:
        settings.update(_checked(source, values, known))
    return _build(settings, plugins)


def _checked(source: str, values: Mapping[str, Any], known: list[str]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} ({source}); known settings: {', '.join(known)}"
        )
    return dict(values)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_FILE_VARIABLE} names {path}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None


def _from_environ(environ: Mapping[str, str], names: Any) -> dict[str, Any]:
    values = {}
    for name in names:
        variable = ENV_PREFIX + name.upper()
        if environ.get(variable, "") != "":
            values[name] = environ[variable]
    return values


def _admin_settings(values: Settings, demo: bool) -> dict[str, Any]:
    from authz.errors import InvalidInput
    from authz.identifiers import normalize_nrn

    result: dict[str, Any] = {}
    for name in ("operators", "helpdesk"):
        listed = getattr(values, name)
        if listed is None:
            listed = (DEMO_OPERATOR_NRN,) if demo else ()
        try:
            result[name] = frozenset(normalize_nrn(item) for item in listed)
        except InvalidInput as exc:
            raise ConfigError(f"MONESPACE_{name.upper()}: {exc}") from None
    for name in ("role_request_limit", "invitation_limit"):
        text = getattr(values, name)
        try:
            limits.parse(text)
        except ValueError:
            raise ConfigError(
                f"MONESPACE_{name.upper()} must be a rate like '10/hour' or '3 per minute', "
                f"not {text!r}"
            ) from None
        result[name] = text
    storage = values.rate_limit_storage
    scheme = storage.split("://", 1)[0]
    if "://" not in storage or scheme not in ("memory", "redis", "rediss"):
        raise ConfigError(
            "MONESPACE_RATE_LIMIT_STORAGE must be memory:// or a redis:// URL, "
            f"not {redact_url(storage)!r}"
        )
    result["rate_limit_storage"] = storage
    result["rate_limit_key_prefix"] = values.rate_limit_key_prefix
    return result


def _mail_settings(values: Settings) -> dict[str, Any]:
    host, username, password = (
        value or None for value in (values.smtp_host, values.smtp_username, values.smtp_password)
    )
    if (username is None) != (password is None):
        raise ConfigError(
            "set both MONESPACE_SMTP_USERNAME and MONESPACE_SMTP_PASSWORD, or neither"
        )
    if username is not None and host is None:
        raise ConfigError("MONESPACE_SMTP_USERNAME is set but MONESPACE_SMTP_HOST is not")
    mail_from = values.mail_from
    if "@" not in mail_from or "\n" in mail_from or "\r" in mail_from:
        raise ConfigError(
            f"MONESPACE_MAIL_FROM must be an address like 'Mon Espace <no-reply@example.be>', "
            f"not {mail_from!r}"
        )
    return {
        "smtp_host": host,
        "smtp_port": values.smtp_port,
        "smtp_starttls": values.smtp_starttls,
        "smtp_username": username,
        "smtp_password": password,
        "mail_from": mail_from,
    }


def _build(raw: dict[str, Any], plugins: Mapping[str, Plugin]) -> Config:
    core = {name: value for name, value in raw.items() if name in Settings.model_fields}
    try:
        values = Settings.model_validate(core)
    except ValidationError as exc:
        raise ConfigError(problem(exc.errors()[0])) from None
    demo = values.mode == "demo"

    data_dir = Path(values.data_dir).expanduser().resolve()
    base_url = values.base_url
    simulators = demo if values.simulators is None else values.simulators
    database_url = values.database_url
    key = secret_key(values.secret_key, values.secret_key_file)
    keys_dir = (
        Path(values.keys_dir).expanduser().resolve() if values.keys_dir else data_dir / "keys"
    )

    if demo:
        if database_url is None or key is None:
            make_dir(data_dir)
        if database_url is None:
            database_url = f"sqlite:///{data_dir / DEMO_DATABASE_FILE}"
        if key is None:
            key = demo_secret_key(data_dir)
        if base_url is None:
            base_url = DEMO_BASE_URL
    else:
        _check_production(database_url, key, base_url, simulators)
    audit = audit_keys(
        values.audit_key,
        values.audit_key_file,
        values.audit_previous_keys_file,
        keys_dir if demo else None,
    )

    base_url = base_url.rstrip("/")
    if urlparse(database_url).scheme not in ("sqlite", "postgres", "postgresql"):
        raise ConfigError(
            f"MONESPACE_DATABASE_URL {redact_url(database_url)!r} is not supported: "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/NAME"
        )
    parsed_base = urlparse(base_url)
    if parsed_base.scheme not in ("http", "https") or not parsed_base.netloc:
        raise ConfigError(f"MONESPACE_BASE_URL must be an absolute http(s) URL, not {base_url!r}")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"the secret key is {len(key)} characters long; it needs at least "
            f"{MIN_SECRET_KEY_LENGTH} (generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if values.session_idle_timeout > values.session_absolute_timeout:
        raise ConfigError(
            "MONESPACE_SESSION_IDLE_TIMEOUT cannot be longer than "
            "MONESPACE_SESSION_ABSOLUTE_TIMEOUT"
        )
    return Config(
        mode=values.mode,
        database_url=database_url,
        secret_key=key,
        previous_secret_keys=previous_secret_keys(
            values.previous_secret_keys, values.previous_secret_keys_file, key
        ),
        base_url=base_url,
        data_dir=data_dir,
        simulators=simulators,
        keys_dir=keys_dir,
        audit_keys=audit_keys_checked(audit, key),
        decision_cache_size=values.decision_cache_size,
        decision_cache_ttl=values.decision_cache_ttl,
        decision_log=values.decision_log,
        decision_log_sample_rate=values.decision_log_sample_rate,
        decision_log_file=(
            Path(values.decision_log_file).expanduser() if values.decision_log_file else None
        ),
        session_idle_timeout=values.session_idle_timeout,
        session_absolute_timeout=values.session_absolute_timeout,
        upstream_plugins=values.upstream_plugins,
        upstreams=upstream_settings(raw, plugins, demo, simulators),
        **_mail_settings(values),
        **_admin_settings(values, demo),
        max_request_body=values.max_request_body,
        trusted_proxies=values.trusted_proxies,
        database_pool_size=values.database_pool_size,
        database_pool_wait=values.database_pool_wait,
        database_pool_recheck=values.database_pool_recheck,
        database_connect_timeout=values.database_connect_timeout,
        database_statement_timeout=values.database_statement_timeout,
        database_command_timeout=values.database_command_timeout,
        database_idle_in_transaction_timeout=values.database_idle_in_transaction_timeout,
        worker_mail_interval=values.worker_mail_interval,
        worker_expire_interval=values.worker_expire_interval,
        worker_purge_interval=values.worker_purge_interval,
        worker_heartbeat_file=(
            Path(values.worker_heartbeat_file).expanduser()
            if values.worker_heartbeat_file
            else data_dir / "worker-heartbeat.json"
        ),
        log_format=values.log_format or ("text" if demo else "json"),
        **_metrics_settings(values),
        **_help_settings(values, demo),
    )


# The demo's helpdesk, so that its help page shows what one looks like (example.org: no one).
DEMO_HELP = {
    "help_phone": "+32 2 000 00 00",
    "help_email": "aide@monespace.example.org",
    "help_hours": "lundi–vendredi, 8 h 30 – 17 h",
}


def _help_settings(values: Settings, demo: bool) -> dict[str, Any]:
    url = values.gap_designation_url
    parsed = urlparse(url)
    on_this_site = url.startswith("/") and not url.startswith("//") and not parsed.scheme
    if not on_this_site and not (parsed.scheme == "https" and parsed.netloc):
        raise ConfigError(
            f"MONESPACE_GAP_DESIGNATION_URL must be a path on this site (/...) or an https URL, "
            f"not {url!r}"
        )
    email = values.help_email or None
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ConfigError(f"MONESPACE_HELP_EMAIL must be an email address, not {email!r}")
    given = {
        "help_phone": values.help_phone or None,
        "help_email": email,
        "help_hours": values.help_hours or None,
    }
    if demo and not any(given.values()):
        given = dict(DEMO_HELP)
    return {**given, "gap_designation_url": url}


def _metrics_settings(values: Settings) -> dict[str, Any]:
    token = read_secret("METRICS_TOKEN", values.metrics_token, values.metrics_token_file)
    if token is not None and len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(
            f"MONESPACE_METRICS_TOKEN is {len(token)} characters long; it needs at least "
            f"{MIN_METRICS_TOKEN_LENGTH} (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    if values.worker_metrics_port and token is None:
        raise ConfigError(
            "MONESPACE_WORKER_METRICS_PORT is set but MONESPACE_METRICS_TOKEN is not: "
            "the worker serves its metrics to the bearer of that token only"
        )
    return {
        "metrics_token": token,
        "worker_metrics_host": values.worker_metrics_host,
        "worker_metrics_port": values.worker_metrics_port,
    }


PER_PROCESS_STORAGE = "memory://"


def counts_per_process(config: Config) -> bool:
    """Whether the rate-limit counters live in each process (``memory://``), not shared."""
    return config.rate_limit_storage.startswith(PER_PROCESS_STORAGE)


def check_workers(config: Config, workers: int) -> None:
    """Refuse production with per-process rate-limit counters in more than one worker process:
    each process would allow the whole rate, so the limit would be ``workers`` times weaker."""
    if config.is_demo or workers <= 1 or not counts_per_process(config):
        return
    raise ConfigError(
        f"rate_limit_storage: memory:// counts in each process, so {workers} workers would "
        f"allow {workers} times role_request_limit and invitation_limit; set "
        "MONESPACE_RATE_LIMIT_STORAGE to a shared redis://HOST:PORT/DB (or run one worker)"
    )


def _check_production(
    database_url: str | None, secret_key: str | None, base_url: str | None, simulators: bool
) -> None:
    if not database_url:
        raise ConfigError(
            "production mode needs MONESPACE_DATABASE_URL "
            "(for example postgresql://monespace@db.internal:5432/monespace)"
        )
    if not secret_key:
        raise ConfigError(
            "production mode needs MONESPACE_SECRET_KEY or MONESPACE_SECRET_KEY_FILE "
            f"(at least {MIN_SECRET_KEY_LENGTH} random characters)"
        )
    if simulators:
        raise ConfigError(
            "the login simulators cannot be enabled in production mode: "
            "unset MONESPACE_SIMULATORS or set it to false"
        )
    if not base_url:
        raise ConfigError(
            "production mode needs MONESPACE_BASE_URL, the public https URL of the service "
            "(it is the OpenID Connect issuer)"
        )
    if not str(base_url).startswith("https://"):
        raise ConfigError(f"MONESPACE_BASE_URL must use https in production mode, not {base_url!r}")
