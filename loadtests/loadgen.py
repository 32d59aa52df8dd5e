"""A small closed-loop HTTP/1.1 load generator for 127.0.0.1, light on CPU.

Requests are encoded once, as bytes. Each of ``processes`` processes runs ``connections``
threads; each thread keeps one connection open (reopening it when the server closes it), sends
a request, reads the whole response (status line, headers, ``Content-Length`` body) and times
it with ``time.perf_counter_ns``. Every run is bounded by a duration and by a request count.
The same generator, with the same settings, loads every server compared, so ratios between
them are fair even though the generator competes with the server for the machine's cores.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

HOST = "127.0.0.1"


def post(path: str, payload: object, port: int, basic: tuple[str, str] | None = None) -> bytes:
    """A complete ``POST`` request carrying ``payload`` as JSON."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
    ]
    if basic is not None:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        headers.append(f"Authorization: Basic {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def form(
    path: str, fields: dict[str, str], port: int, basic: tuple[str, str] | None = None
) -> bytes:
    """A complete ``POST`` request carrying ``fields`` as a form (what OAuth endpoints take)."""
    body = urlencode(fields).encode()
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/x-www-form-urlencoded",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
    ]
    if basic is not None:
        headers.append(f"Authorization: {basic_authorization(*basic)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def get(path: str, port: int, bearer: str | None = None) -> bytes:
    """A complete ``GET`` request, with a bearer token (RFC 6750 section 2.1) if given."""
    headers = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    if bearer is not None:
        headers.append(f"Authorization: Bearer {bearer}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode()


def basic_authorization(client_id: str, secret: str) -> str:
    """HTTP Basic credentials as RFC 6749 section 2.3.1 spells them (form-encoded first)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send one request on a new connection; return (status, body)."""
    conn = _Connection(port)
    try:
        return conn.exchange(request)
    finally:
        conn.close()


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ns: list[int]
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency at ``fraction`` (0.5, 0.99), in milliseconds."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1e6

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            self.requests + other.requests,
            self.errors + other.errors,
            self.seconds + other.seconds,
            self.latencies_ns + other.latencies_ns,
            self.first_error or other.first_error,
        )


class _Connection:
    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, return (status, body); reconnects once if the server closed."""
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection((HOST, self.port), timeout=10)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            try:
                self.sock.sendall(request)
                return self._response()
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buffer += chunk

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _process(
    port: int,
    requests: Sequence[bytes],
    index: int,
    connections: int,
    start_at: float,
    warmup: float,
    duration: float,
    max_requests: int,
    processes: int,
) -> LoadResult:
    """Load process number ``index``: ``connections`` threads, measuring from
    ``start_at + warmup``. Each thread starts at its own place in ``requests``, so that a list
    sent once (questions that must miss the cache, single-use codes) is shared out without
    repeats. The seconds measured end when the last thread stops: earlier than ``duration``
    when every thread has sent its ``max_requests``."""
    lock = threading.Lock()
    total = LoadResult(0, 0, 0.0, [])
    finished: list[float] = []
    measure_from = start_at + warmup
    stop_at = measure_from + duration

    def user(offset: int) -> None:
        conn = _Connection(port)
        latencies: list[int] = []
        done = errors = 0
        first_error = None
        n = offset
        clock = time.perf_counter_ns
        try:
            while time.time() < start_at:
                time.sleep(0.001)
            while done < max_requests:
                now = time.time()
                if now >= stop_at:
                    break
                started = clock()
                try:
                    status, body = conn.exchange(requests[n % len(requests)])
                except OSError as exc:
                    status, body = 0, str(exc).encode()
                ended = clock()
                n += 1
                if now < measure_from:
                    continue
                done += 1
                latencies.append(ended - started)
                if status != 200:
                    errors += 1
                    first_error = first_error or f"HTTP {status}: {body[:200]!r}"
        finally:
            conn.close()
        with lock:
            finished.append(time.time())
            total.requests += done
            total.errors += errors
            total.latencies_ns.extend(latencies)
            total.first_error = total.first_error or first_error

    share = max(1, len(requests) // (processes * connections))
    threads = [
        threading.Thread(target=user, args=((index * connections + i) * share,), daemon=True)
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=warmup + duration + 60)
    last = max(finished, default=stop_at)
    total.seconds = max(0.001, min(duration, last - measure_from))
    return total


def warm(
    port: int, requests: Sequence[bytes], connections: int = 12, max_seconds: float = 120.0
) -> int:
    """Send every request once on each of ``connections`` new connections, one after the
    other, so that every server worker (each accepts some of the connections) has answered
    each of them: its caches are warm. Returns the number of requests sent."""
    deadline = time.monotonic() + max_seconds
    sent = 0
    for _ in range(connections):
        conn = _Connection(port)
        try:
            for request in requests:
                if time.monotonic() > deadline:
                    return sent
                conn.exchange(request)
                sent += 1
        finally:
            conn.close()
    return sent


def _ready() -> None:
    time.sleep(0.05)  # long enough for every process of the pool to take one


class LoadGenerator:
    """``processes`` processes of ``connections`` keep-alive connections each, kept ready."""

    def __init__(self, processes: int = 2, connections: int = 4):
        self.processes, self.connections = processes, connections
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        # Start the processes now: started by the first run, they would take its first
        # second (an interpreter each), and the first server measured would seem slower.
        for ready in [self._pool.submit(_ready) for _ in range(processes * 2)]:
            ready.result(timeout=120)

    def run(
        self,
        port: int,
        requests: Sequence[bytes],
        duration: float,
        warmup: float = 1.0,
        max_requests: int = 1_000_000,
    ) -> LoadResult:
        """Load ``port`` for ``warmup`` + ``duration`` seconds (or ``max_requests`` per
        connection), all processes starting together; return the measured part."""
        start_at = time.time() + 0.5
        futures = [
            self._pool.submit(
                _process,
                port,
                list(requests),
                index,
                self.connections,
                start_at,
                warmup,
                duration,
                max_requests,
                self.processes,
            )
            for index in range(self.processes)
        ]
        results = [f.result(timeout=warmup + duration + 120) for f in futures]
        merged = results[0]
        for result in results[1:]:
            merged = LoadResult(
                merged.requests + result.requests,
                merged.errors + result.errors,
                max(merged.seconds, result.seconds),
                merged.latencies_ns + result.latencies_ns,
                merged.first_error or result.first_error,
            )
        return merged

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
