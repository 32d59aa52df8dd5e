"""Start-up shared by the web app and the command line.

Both load the configuration, bind :data:`authz.db.database` to the configured database and
check the schema the same way, through the functions here:

- demo mode creates or upgrades the schema and loads the demo data (``monespace.demo.seed``,
  when that module is present), so one command gives a working instance;
- production mode only checks that this software runs on the schema (its own version, or a
  newer one its upgrade recorded as compatible): upgrading is an explicit operator step
  (``monespace db upgrade``), never a side effect of starting a node.

Both subscribe the same listeners to the domain events (:func:`register_subscribers`), so an
action tells the same people whether a page or a command did it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from peewee import Database

from authz import audit, db, events, policyaudit, schema
from authz.engine import get_engine
from monespace import config as config_module
from monespace.config import Config

DEMO_MODULE = "monespace.demo"

log = logging.getLogger(__name__)

SchemaCheck = Literal["prepare", "current", "none"]


def resolve_config(config: Config | Mapping[str, Any] | None = None) -> Config:
    """A :class:`Config` as given, or loaded from the environment with ``config`` overrides."""
    if isinstance(config, Config):
        return config
    return config_module.load(config)


# The names PostgreSQL connections show in pg_stat_activity (application_name): the web app's
# pool, the command line, the scheduled jobs (mail send, requests expire). The epoch listener
# is "monespace-listener" (authz.epochs), a readiness check "monespace-readiness" (authz.db).
POOL = "monespace-pool"
CLI = "monespace-cli"
WORKER = "monespace-worker"


def database_bounds(config: Config, application_name: str = POOL) -> db.Bounds:
    """The bounds of the connections of a web app (the statement timeout) or of a command
    (the command timeout, long enough for the BCE import and the schema upgrade)."""
    if application_name == POOL:
        statement = config.database_statement_timeout
        idle = config.database_idle_in_transaction_timeout
    else:
        statement = idle = config.database_command_timeout
    return db.Bounds(
        application_name=application_name,
        connect_timeout=config.database_connect_timeout,
        statement_timeout=statement,
        idle_in_transaction=idle,
    )


def connect_database(config: Config, application_name: str = POOL) -> Database:
    """Bind the shared database proxy to the configured database (no connection opened), and
    key the audit log with the configured keys."""
    if config.audit_keys:
        audit.use_keys(config.audit_keys[0], config.audit_keys[1:])
    return db.connect(
        config.database_url,
        config.database_pool_size,
        config.database_pool_wait,
        database_bounds(config, application_name),
        config.database_pool_recheck,
        slots=database_slots(),
    )


def database_slots() -> int | None:
    """Under granian, one thread fewer than the worker's may use the database at once
    (:class:`authz.db.Slots`): a thread is left for ``/healthz`` and cached answers while
    the database does not answer. None (no limit but the pool's) elsewhere."""
    from monespace import server_config

    threads = server_config.served_threads()
    return max(1, threads - 1) if threads else None


# The schema sets of the packages, authz first (the others refer to its tables). A package
# that owns tables adds its set here: "module:attribute", a authz.schema.SchemaSet.
SCHEMA_SETS = (
    "authz.schema:AUTHZ",
    "idp_bridge.schema:IDP_BRIDGE",
    "idp_bridge.oidc.schema:OIDC",
    "admin_ui.schema:ADMIN_UI",
)


# Listeners of the domain events (authz.events): "module:function", called with the Config's
# base_url (for links in what they write).
SUBSCRIBERS = ("admin_ui.notifications:register",)


def register_subscribers(config: Config) -> None:
    """Subscribe every package's listeners to the domain events (once per process: each
    registration replaces the previous one)."""
    for spec in SUBSCRIBERS:
        module_name, attribute = spec.split(":")
        getattr(importlib.import_module(module_name), attribute)(config.base_url)


def schema_sets() -> list[schema.SchemaSet]:
    sets = []
    for spec in SCHEMA_SETS:
        module_name, attribute = spec.split(":")
        sets.append(getattr(importlib.import_module(module_name), attribute))
    return sets


def upgrade_schemas(report: Callable[[str], None] = lambda _msg: None) -> None:
    """Create or bring forward the tables of every package (``monespace db upgrade``)."""
    with schema.exclusive():
        for schema_set in schema_sets():
            schema_set.upgrade(report)


def require_compatible_schemas() -> None:
    """Refuse a database this software does not run on: a package's tables missing, older
    than it needs, or newer beyond what their upgrade recorded as compatible (a node of the
    release before keeps starting while a rolling upgrade is under way)."""
    for schema_set in schema_sets():
        schema_set.require_compatible()


def prepare_schema(config: Config, report: Callable[[str], None] = lambda _msg: None) -> None:
    """Demo: upgrade and seed. Production: refuse a schema this software does not run on."""
    if config.is_demo:
        # Held through the seeding too: workers starting together seed once.
        with schema.exclusive():
            upgrade_schemas(report)
            if importlib.util.find_spec(DEMO_MODULE) is not None:
                with events.muted():  # demo data: nobody to tell
                    importlib.import_module(DEMO_MODULE).seed()
    else:
        require_compatible_schemas()


def record_policy_in_force(config: Config) -> None:
    """Write ``policy.in_force`` to the audit log if the policy changed since the last start
    (once, whichever node starts first: ``authz.policyaudit``). Without an audit key nothing
    can be written: the event waits for a start with one."""
    if not config.audit_keys:
        log.warning("no audit key: the policy in force is not recorded in the audit log")
        return
    policyaudit.record_in_force(get_engine(), node=f"{socket.gethostname()}:{os.getpid()}")


@contextmanager
def command_database(
    config: Config | Mapping[str, Any] | None = None,
    *,
    check: SchemaCheck = "prepare",
    application_name: str = CLI,
) -> Iterator[Config]:
    """For a CLI command: load the config, connect, check the schema, close at the end.

    ``check`` is ``"prepare"`` (what the app does at start-up), ``"current"`` (refuse a schema
    this software does not run on, even in demo mode: for read-only commands) or ``"none"`` (for
    ``db upgrade`` itself). Connections are named ``application_name`` and bounded by the
    command timeout.
    """
    config = resolve_config(config)
    connect_database(config, application_name)
    register_subscribers(config)
    with db.connection():
        if check == "prepare":
            prepare_schema(config)
        elif check == "current":
            require_compatible_schemas()
        yield config
