"""Scraping ``/metrics`` as Prometheus does, and reading the samples, for the tests of the
metrics (tests/monespace/test_metrics.py, the flows, the dashboard's test); a worker serving
its own."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-the-tests"
ROOT = Path(__file__).resolve().parents[1]

# (sample name, sorted labels) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str, authorization: str | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a GET."""
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def scrape(base_url: str, token: str = TOKEN) -> Samples:
    status, _headers, body = get(f"{base_url}/metrics", f"Bearer {token}")
    assert status == 200, body
    return parse(body)


def parse(body: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the scrape does not show it (not counted yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample, labels in samples if sample == name}


def start_worker(env: dict[str, str], port: int) -> subprocess.Popen:
    """``monespace worker`` serving its metrics on ``port`` to the bearer of :data:`TOKEN`;
    returns once they answer."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monespace", "worker"],
        env={
            **env,
            "PYTHONPATH": str(ROOT),
            "MONESPACE_WORKER_METRICS_PORT": str(port),
            "MONESPACE_METRICS_TOKEN": TOKEN,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if get(f"http://127.0.0.1:{port}/metrics")[0] == 401:
                return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the worker's metrics never answered: {process.stderr.read()}")
        time.sleep(0.1)


def stop_worker(process: subprocess.Popen) -> str:
    """SIGTERM, then the worker's stderr."""
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    return err
