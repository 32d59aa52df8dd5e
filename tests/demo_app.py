"""The demo app as the tests build it: its settings and how it is stopped.

The ``make_app`` and ``app`` fixtures (tests/conftest.py) build it on the test's database with
the demo data and both login simulators; tests that build their own use :func:`app_settings`.
"""

from __future__ import annotations

import threading

from flask import Flask

BASE_URL = "http://localhost"
SECRET_KEY = "t" * 40


def app_settings(database_url: str, tmp_path, **settings) -> dict:
    return {
        "database_url": database_url,
        "mode": "demo",
        "secret_key": SECRET_KEY,
        "data_dir": str(tmp_path),
        "base_url": BASE_URL,
        "decision_log": "off",
        **settings,
    }


def stop(app: Flask) -> None:
    # As in tests/authz/conftest.py: the epoch tracker's thread stops in the background.
    threading.Thread(target=app.extensions["monespace.decisions"].tracker.stop).start()
