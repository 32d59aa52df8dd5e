"""gunicorn's settings module for ``monespace serve``: the server hooks the metrics and the
logs need (``--config python:monespace.gunicorn_hooks``).

- ``child_exit``: a worker that ended (restarted, killed) is marked dead in the metrics'
  multiprocess directory, so its gauges (pool connections, listener health) stop counting;
  its counters stay in the sums, as Prometheus expects of counters.
- ``post_fork``: the app's log lines in each worker in the service's ``log_format``
  (:func:`monespace.logs.configure`).
- ``logger_class``: gunicorn's own lines (worker started, worker timeout) in the service's
  ``log_format`` (``MONESPACE_LOG_FORMAT``, which ``monespace serve`` sets), JSON by default.
  Not ``logconfig_dict``: with it, gunicorn builds an access log line for every request, at a
  cost per request of the same order as answering a cached decision.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

# Imported under names that are not gunicorn settings: gunicorn reads every name of this
# module that is one ("config" is).
from monespace import config as _settings
from monespace import logs as _logs


class ServiceLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if _log_format() == "json":
            for handler in self.error_log.handlers:
                handler.setFormatter(_logs.JsonFormatter())


logger_class = ServiceLogger


def post_fork(_server: Any, _worker: Any) -> None:
    _logs.configure(_log_format())


def _log_format() -> str:
    """``monespace serve`` names it; gunicorn started by hand reads the configuration."""
    named = os.environ.get("MONESPACE_LOG_FORMAT")
    if named in _logs.FORMATS:
        return named
    try:
        return _settings.load().log_format
    except _settings.ConfigError:
        return "json"  # the app factory says what is wrong, in the worker, at once


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
