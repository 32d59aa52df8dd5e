"""The compose topology without containers: how tests/flows/test_two_nodes.py starts it.

Each part is the real command the deployment runs (deploy/compose.yaml): ``monespace serve``
in production mode (granian) for each node, ``monespace worker`` for the periodic jobs, all
on one PostgreSQL database, the secrets read from a directory of files
(``MONESPACE_SECRETS_DIR``) as the containers read theirs. The ``installation`` fixture
(tests/flows/conftest.py) starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://monespace.test"


def environment(secrets: Path, data_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without its MONESPACE_* variables, plus production settings
    whose secrets are files in ``secrets``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MONESPACE_")}
    environ.update(
        PYTHONPATH=str(ROOT),
        MONESPACE_MODE="production",
        MONESPACE_BASE_URL=BASE_URL,
        MONESPACE_SECRETS_DIR=str(secrets),
        MONESPACE_DATA_DIR=str(data_dir),
        MONESPACE_DECISION_LOG="off",
        **settings,
    )
    return environ


def monespace(*args: str, environ: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monespace", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=environ["MONESPACE_DATA_DIR"],
    )


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@dataclass
class Node:
    port: int
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while status_of(self.url + "/readyz") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"node on {self.port} never ready:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        if self.process.poll() is not None and self.process.stdout and not self.output:
            self.output.append(self.process.stdout.read())
        return "".join(self.output)

    def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops a container; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log()
        if self.process.stdout:
            self.process.stdout.close()


def serve(port: int, environ: dict[str, str]) -> Node:
    """``monespace serve`` (granian, one worker process: two nodes on two cores)."""
    args = ("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
    return Node(port, monespace(*args, environ=environ))
