"""Configuration: defaults in code, an optional TOML file, then ``MONESPACE_*`` variables.

Later sources win: code defaults, the TOML file named by ``MONESPACE_CONFIG``, the environment,
then explicit overrides (tests, ``create_app({...})``). Every setting is checked once, here, so
the app and the command line stop at start-up with one clear message instead of failing later.

Two modes:

- ``demo`` (the default when nothing is configured): a SQLite file and a generated secret key
  in the data directory, a generated audit key in the keys directory, login simulators on, one
  process. Made to be tried, not deployed.
- ``production``: the database URL, a long secret key, the audit key and the public base URL
  must be given; simulators must be off.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import limits

MODES = ("demo", "production")
MIN_SECRET_KEY_LENGTH = 32
DEMO_DATABASE_FILE = "monespace-demo.sqlite3"
DEMO_KEY_FILENAME = "secret_key"
DEMO_AUDIT_KEY_FILENAME = "audit_key"  # in keys_dir
ENV_PREFIX = "MONESPACE_"
CONFIG_FILE_VARIABLE = "MONESPACE_CONFIG"

# Setting name -> default. Names are the TOML keys; the variable is MONESPACE_ + upper case.
# None means "derived from the mode" (see load()).
DEFAULTS: dict[str, Any] = {
    "mode": "demo",
    "database_url": None,
    "secret_key": None,
    "secret_key_file": None,
    "base_url": None,
    "data_dir": "instance",
    "keys_dir": None,  # demo keys (login simulators, our SP and RP); default <data_dir>/keys
    "simulators": None,
    # The audit log's HMAC key (authz.audit), kept out of the database; retired keys, one a
    # line, still verify the rows they keyed. Demo mode generates one in keys_dir.
    "audit_key": None,
    "audit_key_file": None,
    "audit_previous_keys_file": None,
    # The decision engine (authz.decisions): cache bounds and decision logging.
    "decision_cache_size": 100_000,
    "decision_cache_ttl": 300,
    "decision_log": "sample",
    "decision_log_sample_rate": 0.01,
    "decision_log_file": None,
    # Login sessions (idp_bridge.sessions), in seconds.
    "session_idle_timeout": 1800,
    "session_absolute_timeout": 8 * 3600,
    # eID through a SAML IdP like the federal FAS: on when eid_idp_metadata is set.
    "eid_idp_metadata": None,
    "eid_idp_entity_id": None,
    "eid_idp_metadata_cert": None,
    "eid_key_file": None,
    "eid_cert_file": None,
    "eid_clock_skew": 60,
    # itsme: on when itsme_issuer is set.
    "itsme_issuer": None,
    "itsme_client_id": None,
    "itsme_service_code": None,
    "itsme_signing_key_file": None,
    "itsme_encryption_key_file": None,
    "itsme_acr": "advanced",
    # Email (admin_ui.mail): without smtp_host, messages stay in the outbox (the demo's page).
    "smtp_host": None,
    "smtp_port": 587,
    "smtp_starttls": True,
    "smtp_username": None,
    "smtp_password": None,
    "mail_from": "Mon Espace <no-reply@localhost>",
    # The operator pages (admin_ui.operator): the NRNs allowed in, comma-separated. Demo mode
    # defaults to the demo's operator; production defaults to nobody.
    "operators": None,
    # Rate limits on the role request and invitation forms (admin_ui.limits), per person, in
    # the notation of the "limits" library ("10/hour", "3 per minute"). The counters live in
    # rate_limit_storage: memory:// counts per worker process; redis://HOST:PORT/DB shares them.
    "rate_limit_storage": "memory://",
    "role_request_limit": "10/hour",
    "invitation_limit": "30/hour",
    # The largest request body accepted, in bytes (monespace.wsgi.RequestGate), on every
    # endpoint: a larger one is refused (413) before it is read.
    "max_request_body": 1 << 20,
    # Database connections per worker process, and how long (seconds) a request waits for
    # one when all are in use before it is answered 503 with Retry-After (authz.db).
    "database_pool_size": 32,
    "database_pool_wait": 5,
}
# Required with eid_idp_metadata (production) and with itsme_issuer.
EID_REQUIRED = ("eid_key_file", "eid_cert_file")
ITSME_REQUIRED = (
    "itsme_client_id",
    "itsme_service_code",
    "itsme_signing_key_file",
    "itsme_encryption_key_file",
)
DECISION_LOG_MODES = ("off", "sample", "full")
DEMO_BASE_URL = "http://127.0.0.1:8000"
DEMO_OPERATOR_NRN = "82031512306"  # Olivier, the demo's operator (monespace.demo)


class ConfigError(Exception):
    """A setting is missing or unsafe; the message says which and what to do."""


@dataclass(frozen=True)
class Config:
    """The checked settings of one running instance."""

    mode: str
    database_url: str
    secret_key: str
    base_url: str
    data_dir: Path
    simulators: bool
    keys_dir: Path | None = None
    audit_keys: tuple[str, ...] = ()  # the current audit key first, then retired ones
    decision_cache_size: int = 100_000
    decision_cache_ttl: int = 300
    decision_log: str = "sample"
    decision_log_sample_rate: float = 0.01
    decision_log_file: Path | None = None
    session_idle_timeout: int = 1800
    session_absolute_timeout: int = 8 * 3600
    eid: dict[str, Any] | None = None  # eid_* settings without the prefix; None: no eID login
    itsme: dict[str, Any] | None = None  # itsme_* settings likewise; None: no itsme login
    smtp_host: str | None = None  # None: emails are kept in the outbox, not sent
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Mon Espace <no-reply@localhost>"
    operators: frozenset[str] = frozenset()  # NRNs allowed on the operator pages
    rate_limit_storage: str = "memory://"
    role_request_limit: str = "10/hour"
    invitation_limit: str = "30/hour"
    max_request_body: int = 1 << 20
    database_pool_size: int = 32
    database_pool_wait: int = 5

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
            f"smtp_password={'***' if self.smtp_password else None!r})"
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
    settings = dict(DEFAULTS)
    settings.update(_checked("default", defaults or {}))
    config_file = environ.get(CONFIG_FILE_VARIABLE)
    if config_file:
        settings.update(_read_file(Path(config_file)))
    settings.update(_from_environ(environ))
    settings.update(_checked("override", overrides or {}))
    return _build(settings)


def _checked(source: str, values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} ({source}); known settings: {', '.join(DEFAULTS)}"
        )
    return dict(values)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_FILE_VARIABLE} names {path}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None
    return _checked(f"in {path}", values)


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name in DEFAULTS:
        variable = ENV_PREFIX + name.upper()
        if environ.get(variable, "") != "":
            values[name] = environ[variable]
    return values


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _as_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, not {type(value).__name__}")
    return value.strip()


def _as_number(name: str, value: Any, kind: type, low: float, high: float):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value!r}")
    return number


def _decision_settings(settings: dict[str, Any]) -> dict[str, Any]:
    mode = _as_text("decision_log", str(settings["decision_log"])).lower()
    if mode not in DECISION_LOG_MODES:
        raise ConfigError(
            f"MONESPACE_DECISION_LOG must be one of {', '.join(DECISION_LOG_MODES)}, not {mode!r}"
        )
    log_file = settings["decision_log_file"]
    return {
        # Bounded: a worker must stay small whatever the traffic.
        "decision_cache_size": _as_number(
            "MONESPACE_DECISION_CACHE_SIZE", settings["decision_cache_size"], int, 0, 10_000_000
        ),
        "decision_cache_ttl": _as_number(
            "MONESPACE_DECISION_CACHE_TTL", settings["decision_cache_ttl"], int, 1, 86_400
        ),
        "decision_log": mode,
        "decision_log_sample_rate": _as_number(
            "MONESPACE_DECISION_LOG_SAMPLE_RATE",
            settings["decision_log_sample_rate"],
            float,
            0.0,
            1.0,
        ),
        "decision_log_file": (
            Path(_as_text("decision_log_file", str(log_file))).expanduser() if log_file else None
        ),
    }


def _login_settings(settings: dict[str, Any], demo: bool, simulators: bool) -> dict[str, Any]:
    idle = _as_number(
        "MONESPACE_SESSION_IDLE_TIMEOUT", settings["session_idle_timeout"], int, 60, 86_400
    )
    absolute = _as_number(
        "MONESPACE_SESSION_ABSOLUTE_TIMEOUT", settings["session_absolute_timeout"], int, 60, 604_800
    )
    if idle > absolute:
        raise ConfigError(
            "MONESPACE_SESSION_IDLE_TIMEOUT cannot be longer than "
            "MONESPACE_SESSION_ABSOLUTE_TIMEOUT"
        )
    eid = _upstream(settings, "eid", "eid_idp_metadata", () if demo else EID_REQUIRED)
    itsme = _upstream(settings, "itsme", "itsme_issuer", ITSME_REQUIRED)
    if simulators and (eid or itsme):
        raise ConfigError(
            "the login simulators stand in for eID and itsme: set MONESPACE_SIMULATORS=false "
            "to use a real eID IdP or itsme"
        )
    if eid is not None:
        eid["clock_skew"] = _as_number("MONESPACE_EID_CLOCK_SKEW", eid["clock_skew"], int, 0, 300)
        if (
            not demo
            and "://" in eid["idp_metadata"]
            and not eid["idp_metadata"].startswith("https://")
        ):
            raise ConfigError("MONESPACE_EID_IDP_METADATA must be a file or an https URL")
    if itsme is not None:
        if itsme["acr"] not in ("basic", "advanced"):
            raise ConfigError(
                f"MONESPACE_ITSME_ACR must be basic or advanced, not {itsme['acr']!r}"
            )
        if not demo and not itsme["issuer"].startswith("https://"):
            raise ConfigError("MONESPACE_ITSME_ISSUER must be an https URL in production mode")
    return {
        "session_idle_timeout": idle,
        "session_absolute_timeout": absolute,
        "eid": eid,
        "itsme": itsme,
    }


def _mail_settings(settings: dict[str, Any]) -> dict[str, Any]:
    def optional(name: str) -> str | None:
        value = settings[name]
        return (_as_text(name, value) or None) if value is not None else None

    host, username, password = (
        optional(name) for name in ("smtp_host", "smtp_username", "smtp_password")
    )
    if (username is None) != (password is None):
        raise ConfigError(
            "set both MONESPACE_SMTP_USERNAME and MONESPACE_SMTP_PASSWORD, or neither"
        )
    if username is not None and host is None:
        raise ConfigError("MONESPACE_SMTP_USERNAME is set but MONESPACE_SMTP_HOST is not")
    mail_from = _as_text("mail_from", settings["mail_from"])
    if "@" not in mail_from or "\n" in mail_from or "\r" in mail_from:
        raise ConfigError(
            f"MONESPACE_MAIL_FROM must be an address like 'Mon Espace <no-reply@example.be>', "
            f"not {mail_from!r}"
        )
    return {
        "smtp_host": host,
        "smtp_port": _as_number("MONESPACE_SMTP_PORT", settings["smtp_port"], int, 1, 65_535),
        "smtp_starttls": _as_bool("MONESPACE_SMTP_STARTTLS", settings["smtp_starttls"]),
        "smtp_username": username,
        "smtp_password": password,
        "mail_from": mail_from,
    }


def _admin_settings(settings: dict[str, Any], demo: bool) -> dict[str, Any]:
    from authz.errors import InvalidInput
    from authz.identifiers import normalize_nrn

    operators = settings["operators"]
    if operators is None:
        operators = [DEMO_OPERATOR_NRN] if demo else []
    elif isinstance(operators, str):
        operators = [item for item in operators.replace(";", ",").split(",") if item.strip()]
    elif not isinstance(operators, list):
        raise ConfigError("MONESPACE_OPERATORS must be a list of national register numbers")
    try:
        nrns = frozenset(normalize_nrn(item) for item in operators)
    except InvalidInput as exc:
        raise ConfigError(f"MONESPACE_OPERATORS: {exc}") from None
    values = {"operators": nrns}
    for name in ("role_request_limit", "invitation_limit"):
        text = _as_text(name, str(settings[name]))
        try:
            limits.parse(text)
        except ValueError:
            raise ConfigError(
                f"MONESPACE_{name.upper()} must be a rate like '10/hour' or '3 per minute', "
                f"not {text!r}"
            ) from None
        values[name] = text
    storage = _as_text("rate_limit_storage", str(settings["rate_limit_storage"]))
    scheme = storage.split("://", 1)[0]
    if "://" not in storage or scheme not in ("memory", "redis", "rediss"):
        raise ConfigError(
            "MONESPACE_RATE_LIMIT_STORAGE must be memory:// or a redis:// URL, "
            f"not {redact_url(storage)!r}"
        )
    values["rate_limit_storage"] = storage
    return values


def _upstream(
    settings: dict[str, Any], prefix: str, switch: str, required: tuple[str, ...]
) -> dict[str, Any] | None:
    """The ``<prefix>_*`` settings without the prefix, when ``switch`` is set; else None."""
    names = [name for name in DEFAULTS if name.startswith(prefix + "_")]
    if not settings[switch]:
        given = [name for name in names if name in required and settings[name]]
        if given:
            raise ConfigError(
                f"MONESPACE_{given[0].upper()} is set but MONESPACE_{switch.upper()} is not"
            )
        return None
    missing = [name for name in required if not settings[name]]
    if missing:
        raise ConfigError(
            f"MONESPACE_{switch.upper()} is set: MONESPACE_{missing[0].upper()} is needed too"
        )
    values = {}
    for name in names:
        value = settings[name]
        values[name[len(prefix) + 1 :]] = _as_text(name, value) if isinstance(value, str) else value
    return values


def _build(settings: dict[str, Any]) -> Config:
    mode = _as_text("mode", settings["mode"]).lower()
    if mode not in MODES:
        raise ConfigError(f"MONESPACE_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    demo = mode == "demo"

    data_dir = Path(_as_text("data_dir", str(settings["data_dir"]))).expanduser().resolve()
    base_url = settings["base_url"]
    simulators = (
        demo
        if settings["simulators"] is None
        else _as_bool("MONESPACE_SIMULATORS", settings["simulators"])
    )
    database_url = settings["database_url"]
    secret_key = _secret_key(settings)
    keys_dir = (
        Path(_as_text("keys_dir", str(settings["keys_dir"]))).expanduser().resolve()
        if settings["keys_dir"]
        else data_dir / "keys"
    )

    if demo:
        if database_url is None or secret_key is None:
            _make_data_dir(data_dir)
        if database_url is None:
            database_url = f"sqlite:///{data_dir / DEMO_DATABASE_FILE}"
        if secret_key is None:
            secret_key = _demo_secret_key(data_dir)
        if base_url is None:
            base_url = DEMO_BASE_URL
    else:
        _check_production(database_url, secret_key, base_url, simulators)
    audit_keys = _audit_keys(settings, keys_dir if demo else None)

    database_url = _as_text("database_url", database_url)
    base_url = _as_text("base_url", base_url).rstrip("/")
    if urlparse(database_url).scheme not in ("sqlite", "postgres", "postgresql"):
        raise ConfigError(
            f"MONESPACE_DATABASE_URL {redact_url(database_url)!r} is not supported: "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/NAME"
        )
    parsed_base = urlparse(base_url)
    if parsed_base.scheme not in ("http", "https") or not parsed_base.netloc:
        raise ConfigError(f"MONESPACE_BASE_URL must be an absolute http(s) URL, not {base_url!r}")
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"the secret key is {len(secret_key)} characters long; it needs at least "
            f"{MIN_SECRET_KEY_LENGTH} (generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return Config(
        mode=mode,
        database_url=database_url,
        secret_key=secret_key,
        base_url=base_url,
        data_dir=data_dir,
        simulators=simulators,
        keys_dir=keys_dir,
        audit_keys=_audit_keys_checked(audit_keys, secret_key),
        **_decision_settings(settings),
        **_login_settings(settings, demo, simulators),
        **_mail_settings(settings),
        **_admin_settings(settings, demo),
        max_request_body=_as_number(
            "MONESPACE_MAX_REQUEST_BODY", settings["max_request_body"], int, 1024, 100 << 20
        ),
        database_pool_size=_as_number(
            "MONESPACE_DATABASE_POOL_SIZE", settings["database_pool_size"], int, 1, 1000
        ),
        database_pool_wait=_as_number(
            "MONESPACE_DATABASE_POOL_WAIT", settings["database_pool_wait"], int, 1, 60
        ),
    )


def _secret_key(settings: dict[str, Any]) -> str | None:
    if settings["secret_key"] is not None and settings["secret_key_file"] is not None:
        raise ConfigError("set MONESPACE_SECRET_KEY or MONESPACE_SECRET_KEY_FILE, not both")
    if settings["secret_key_file"] is not None:
        path = Path(_as_text("secret_key_file", settings["secret_key_file"])).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read MONESPACE_SECRET_KEY_FILE {path}: {exc.strerror}"
            ) from None
    if settings["secret_key"] is not None:
        return _as_text("secret_key", settings["secret_key"])
    return None


def _audit_keys(settings: dict[str, Any], demo_keys_dir: Path | None) -> tuple[str, ...]:
    """The audit key, then the retired ones; demo mode generates the key when none is set."""
    if settings["audit_key"] is not None and settings["audit_key_file"] is not None:
        raise ConfigError(
            "audit_key: set MONESPACE_AUDIT_KEY or MONESPACE_AUDIT_KEY_FILE, not both"
        )
    if settings["audit_key_file"] is not None:
        current = _read_key_file("MONESPACE_AUDIT_KEY_FILE", settings["audit_key_file"]).strip()
    elif settings["audit_key"] is not None:
        current = _as_text("audit_key", settings["audit_key"])
    elif demo_keys_dir is not None:
        _make_data_dir(demo_keys_dir, "keys directory", "MONESPACE_KEYS_DIR")
        current = _generated_secret(demo_keys_dir / DEMO_AUDIT_KEY_FILENAME, "demo audit key")
    else:
        raise ConfigError(
            "audit_key: production mode needs MONESPACE_AUDIT_KEY_FILE or MONESPACE_AUDIT_KEY, "
            f"at least {MIN_SECRET_KEY_LENGTH} random characters kept outside the database "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    previous: list[str] = []
    if settings["audit_previous_keys_file"] is not None:
        text = _read_key_file(
            "MONESPACE_AUDIT_PREVIOUS_KEYS_FILE", settings["audit_previous_keys_file"]
        )
        previous = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    return (current, *previous)


def _audit_keys_checked(keys: tuple[str, ...], secret_key: str) -> tuple[str, ...]:
    for number, key in enumerate(keys):
        which = "the audit key" if number == 0 else f"retired audit key {number}"
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"audit_key: {which} is {len(key)} characters long; it needs at least "
                f"{MIN_SECRET_KEY_LENGTH} (generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if key == secret_key:
            # Two secrets for two purposes: the session key signs cookies sent to browsers.
            raise ConfigError(f"audit_key: {which} must differ from the secret key")
    return keys


def _read_key_file(variable: str, value: Any) -> str:
    path = Path(_as_text(variable, value)).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {variable} {path}: {exc.strerror}") from None


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


def _make_data_dir(
    data_dir: Path, what: str = "data directory", variable: str = "MONESPACE_DATA_DIR"
) -> None:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the {what} {data_dir}: {exc.strerror} "
            f"(set {variable} to a writable directory)"
        ) from None


def _demo_secret_key(data_dir: Path) -> str:
    """The demo's secret key: generated on first use, then read back, so sessions survive."""
    return _generated_secret(data_dir / DEMO_KEY_FILENAME, "demo secret key")


def _generated_secret(path: Path, what: str) -> str:
    """A random secret in ``path``: generated on first use, then read back."""
    if not path.exists():
        # Written aside then linked into place: a second process starting at the same moment
        # either sees no file or the complete one, and only one key ever wins.
        partial = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(partial, path)
            except FileExistsError:
                pass
            finally:
                partial.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot create the {what} {path}: {exc.strerror}") from None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
