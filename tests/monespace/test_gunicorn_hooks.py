"""gunicorn started directly, as the Docker image starts it, under the shipped settings (gevent
workers): an eID login goes through, its SAML signatures checked by the xmlsec1 program (a
process each) or by the xmlsec binding in process.

The settings' logger hook reads the app's settings in gunicorn's master; the master imports
pysaml2 then, which binds ``subprocess.Popen`` before a worker patches the standard library.
Unless the hook patches first, the worker fails to boot (the demo writes the SAML metadata
with xmlsec1) or every signature check fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from loadtests.logins import LoginClient
from monespace.commands.serve import GUNICORN_CONFIG
from tests.flows.app_processes import free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["xmlsec1", "python-xmlsec"])
def test_an_eid_login_goes_through_gunicorn_started_directly(tmp_path, backend):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONESPACE_")},
        "MONESPACE_MODE": "demo",
        "MONESPACE_BASE_URL": url,
        "MONESPACE_DATABASE_URL": f"sqlite:///{tmp_path / 'monespace.sqlite3'}",
        "MONESPACE_DATA_DIR": str(tmp_path),
        "MONESPACE_EID_CRYPTO_BACKEND": backend,
    }
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    node = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert node.poll() is None, node.stdout.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the node never answered /healthz"
            time.sleep(0.2)

        result = LoginClient(url).login("eid", "luc", "0123456749")

        assert result.sub
        assert "POST /login/eid/acs" in [step for step, _seconds in result.steps]
    finally:
        node.terminate()
        node.wait(timeout=30)
        node.stdout.close()
