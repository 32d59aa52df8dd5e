"""Servers under test: started on 127.0.0.1 by the benchmark and stopped by it.

- **granian** (:class:`GranianSettings`), as production runs it: the production settings
  (:func:`monespace.server_config.granian_argv`, as ``monespace serve`` runs them), with the
  number of workers and threads the benchmark names. An HTTP server written in Rust (tokio,
  hyper) that reads and writes the connections itself and calls the WSGI app from a pool of
  threads in each worker process.
- **gunicorn** (:class:`GunicornSettings`), the former production server, measured next to it
  (``--server gunicorn`` of the benchmarks; docs/performance.md, "Server models"): gevent
  workers as production ran them (1,000 connections each, keep-alive 5 s), or gthread.

The same settings serve the real app and the app it is compared with, so what differs between
them is the application's work alone. A sampler thread records the resident memory (RSS) of
each worker while the load runs.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
from prometheus_client import CollectorRegistry, multiprocess

from monespace import server_config
from monespace.metrics import REQUEST_CPU_METRIC

HOST = "127.0.0.1"


@dataclass(frozen=True)
class GunicornSettings:
    workers: int = server_config.WORKERS
    worker_class: str = "gevent"
    threads: int = 4

    def args(self) -> list[str]:
        # The settings production ran under gunicorn, until granian replaced it.
        args = ["--workers", str(self.workers), "--worker-class", self.worker_class]
        args += ["--worker-connections", "1000", "--keep-alive", "5"]
        args += ["--graceful-timeout", "30", "--no-control-socket"]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return args

    def command(self, app: str, port: int) -> list[str]:
        """gunicorn serving ``app`` (``module:callable``) on ``port``."""
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{HOST}:{port}",
            *self.args(),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            app,
        ]

    def __str__(self) -> str:
        threads = f", {self.threads} threads each" if self.worker_class == "gthread" else ""
        return f"gunicorn, {self.workers} {self.worker_class} workers{threads}"


@dataclass(frozen=True)
class GranianSettings:
    """granian's WSGI interface under the production settings: ``workers`` processes, each
    calling the app from ``threads`` threads; the connections are the Rust side's."""

    workers: int = server_config.WORKERS
    threads: int = server_config.THREADS

    def command(self, app: str, port: int) -> list[str]:
        """granian serving ``app``: ``module:callable``, or ``module:factory()`` called once
        per worker (granian's ``--factory``)."""
        return server_config.granian_argv(
            HOST,
            port,
            self.workers,
            log_format="text",
            threads=self.threads,
            app=app.removesuffix("()"),
            factory=app.endswith("()"),
            options=("--log-level", "warning"),
        )

    def __str__(self) -> str:
        return f"granian, {self.workers} WSGI workers, {self.threads} threads each"


class ServerSettings(Protocol):
    """What a benchmark needs of a server model: the command that serves an app, a name."""

    workers: int

    def command(self, app: str, port: int) -> list[str]: ...


SERVERS = ("granian", "gunicorn")


def settings_for(
    server: str, workers: int, threads: int, worker_class: str = "gevent"
) -> ServerSettings:
    """The settings of ``server`` (one of :data:`SERVERS`) for the benchmarks' options."""
    if server == "granian":
        return GranianSettings(workers, threads)
    return GunicornSettings(workers, worker_class, threads)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """A running server's main process, its port and its workers' peak RSS."""

    def __init__(
        self,
        process: subprocess.Popen,
        port: int,
        log_path: Path,
        metrics_dir: Path | None = None,
    ):
        self.process, self.port, self.log_path = process, port, log_path
        self.metrics_dir = metrics_dir
        self.peak_rss: dict[int, int] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()

    def workers(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def _sample(self) -> None:
        # The workers are listed again each second, not at every sample: listing them reads
        # every process of the machine, a tenth of a load generator's CPU at 10 samples a second.
        workers: list[psutil.Process] = []
        for tick in itertools.count():
            if self._stop.wait(0.1):
                return
            if tick % 10 == 0:
                workers = self.workers()
            for worker in workers:
                with contextlib.suppress(psutil.Error):
                    rss = worker.memory_info().rss
                    self.peak_rss[worker.pid] = max(rss, self.peak_rss.get(worker.pid, 0))

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (user and system): the main one, its
        workers, and the workers that ended (a respawn) as the main one counts them."""
        total = 0.0
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.process.pid).cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        for worker in self.workers():
            with contextlib.suppress(psutil.Error):
                times = worker.cpu_times()
                total += times.user + times.system
        return total

    def request_cpu_seconds(self) -> dict[str, float]:
        """The CPU seconds the app's threads spent answering requests so far, by endpoint (its
        ``monespace_http_request_cpu_seconds`` metric, as the workers last wrote it: about a
        second late). Empty for a server without a metrics directory."""
        return {} if self.metrics_dir is None else request_cpu_seconds(self.metrics_dir)

    @property
    def max_worker_rss(self) -> int:
        return max(self.peak_rss.values(), default=0)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        self._stop.set()
        workers = self.workers()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for worker in workers:  # orphans, should the master have died first
            with contextlib.suppress(psutil.Error):
                worker.kill()


def request_cpu_seconds(metrics_dir: Path) -> dict[str, float]:
    """The ``monespace_http_request_cpu_seconds`` of the processes writing to ``metrics_dir``
    (prometheus_client's multiprocess mode), added up by endpoint."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    spent: dict[str, float] = {}
    for family in registry.collect():
        if family.name != REQUEST_CPU_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                endpoint = sample.labels.get("endpoint", "")
                spent[endpoint] = spent.get(endpoint, 0.0) + sample.value
    return spent


@contextlib.contextmanager
def serve(
    app: str,
    settings: ServerSettings,
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str = "/healthz",
    timeout: float = 90.0,
    port: int | None = None,
) -> Iterator[Server]:
    """Serve ``app`` (``module:callable``) on ``port`` (a free one by default) of 127.0.0.1
    until the block ends."""
    port = port or free_port()
    log_path = log_dir / f"server-{port}.log"
    command = settings.command(app, port)
    # As `monespace serve` runs it: the metrics in multiprocess mode.
    metrics_dir = log_dir / f"metrics-{port}"
    metrics_dir.mkdir(exist_ok=True)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **env}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log_path, metrics_dir)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        server.stop()


def _wait_ready(server: Server, path: str, timeout: float, refused_for: float = 15.0) -> None:
    """Wait until ``path`` answers 200; give up at ``timeout``, or after ``refused_for``
    seconds of error answers (a server that runs but cannot serve)."""
    deadline = time.monotonic() + timeout
    first_error: float | None = None
    url = f"http://{HOST}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited at start-up:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and len(server.workers()) > 0:
                    return
        except urllib.error.HTTPError as exc:
            first_error = first_error or time.monotonic()
            if time.monotonic() - first_error > refused_for:
                raise RuntimeError(
                    f"{url} answers HTTP {exc.code}: {exc.read()[:200]!r}\n{server.log_tail(5)}"
                ) from None
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"the server did not answer {url} within {timeout:.0f} s:\n{server.log_tail()}"
    )
