"""gunicorn's hooks for the metrics and the logs, named in ``monespace.gunicorn_config`` (which
gunicorn's master reads: nothing of the app is imported here until a hook runs).

- ``post_fork``: the app's log lines in each worker in the service's ``log_format``
  (:func:`monespace.logs.configure`).
- ``child_exit``: a worker that ended (restarted, killed) is marked dead in the metrics'
  multiprocess directory, so its gauges (pool connections, listener health) stop counting;
  its counters stay in the sums, as Prometheus expects of counters.
- :class:`ServiceLogger`: gunicorn's own lines (worker started, worker timeout) in the same
  format. Not ``logconfig_dict``: with it, gunicorn builds an access log line for every
  request, at a cost per request of the same order as answering a cached decision.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger


class ServiceLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # In the master: the format named, or the mode's default, never the app's settings
        # (loading them imports the login plugins, pysaml2 among them, before a gevent worker
        # patches the standard library; see post_fork).
        if _log_format(read_settings=False) == "json":
            from monespace.logs import JsonFormatter

            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())


def post_fork(_server: Any, worker: Any) -> None:
    """In each worker, before it loads the app. A gevent worker patches the standard library
    here first: the settings read below import pysaml2, which binds ``subprocess.Popen`` at
    import; patched afterwards, that Popen fails on every xmlsec1 call ("'NoneType' object is
    not callable"), and with it the demo's start and every eID signature check. The worker's
    own patch, just after, finds it done."""
    if worker.cfg.worker_class_str == "gevent":
        from gevent import monkey

        monkey.patch_all()
    from monespace import logs

    logs.configure(_log_format())


def _log_format(read_settings: bool = True) -> str:
    """``monespace serve`` names it; gunicorn started by hand (the Docker image) reads the
    configuration, or, without ``read_settings``, follows the mode (text in the demo)."""
    named = os.environ.get("MONESPACE_LOG_FORMAT")
    if named in ("json", "text"):
        return named
    if not read_settings:
        return "text" if os.environ.get("MONESPACE_MODE") == "demo" else "json"
    from monespace import config

    try:
        return config.load().log_format
    except config.ConfigError:
        return "json"  # the app factory says what is wrong, in the worker, at once


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
