"""The two OpenID providers the OIDC benchmark compares, started and stopped by it, and what
their requests need beforehand: authorization codes, refresh tokens, a person's access tokens.

- **Mon Espace**: granian (or gunicorn) serving ``monespace.app:create_app()`` on a throw-away
  database with the demo story and the demo client, with the settings of
  :mod:`loadtests.httpbench`. Codes and tokens are minted in the benchmark process through the
  app's own provider objects (pyop's ``Provider.authorize`` and the provider's authorization
  state), against the same database: the rows a login through ``/authorize`` leaves behind,
  without the browser.
- **node oidc-provider**: ``loadtests/oidc_peer/peer.js`` (one node process, in-memory store),
  pinned by ``package-lock.json`` and installed with ``npm ci`` when missing. It mints codes
  and tokens through the library's models on a second port that only the benchmark calls.

Both sides serve the same client (``demo-rp``, ``client_secret_basic``), the same redirect
URI, the scope ``openid profile`` and the same PKCE verifier. Endpoint paths are read from
each side's discovery document.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psutil

from loadtests.servers import HOST, ServerSettings, free_port, serve
from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

PEER_DIR = Path(__file__).parent / "oidc_peer"
REDIRECT_URI = "http://127.0.0.1:8000/demo-rp/callback"  # the demo client's
SCOPE = "openid profile"
PERSON_NRN = "90010100123"  # a person of the demo story
# RFC 7636 section 4.1: 43 to 128 unreserved characters; one for every code of both sides.
VERIFIER = "monespace-oidc-benchmark-pkce-verifier-0123456789"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")
MINTED = ("codes", "refresh_tokens", "access_tokens")
MINT_BATCH = 100


class BenchmarkError(RuntimeError):
    """The benchmark cannot go on: a server did not start, or a request it times fails."""


@dataclass(frozen=True)
class Paths:
    token: str
    introspection: str
    userinfo: str
    jwks: str
    discovery: str = "/.well-known/openid-configuration"


@dataclass
class Side:
    """One provider under load: where it listens, how to mint for it, its memory."""

    name: str
    port: int
    paths: Paths
    mint: Callable[[str, int], list[str]]  # (kind in MINTED, count) -> values
    peak_rss: Callable[[], int]  # bytes: the largest worker's (project) or the process's (node)
    client: tuple[str, str] = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    redirect_uri: str = REDIRECT_URI


def _paths(port: int) -> Paths:
    url = f"http://{HOST}:{port}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=10) as response:
        metadata = json.load(response)
    return Paths(
        *(
            urlsplit(metadata[name]).path
            for name in (
                "token_endpoint",
                "introspection_endpoint",
                "userinfo_endpoint",
                "jwks_uri",
            )
        )
    )


# -- Mon Espace ----------------------------------------------------------------------------


class _ProjectMinter:
    """Codes and tokens made by the app's own provider, in this process, on the same database."""

    def __init__(self, app):
        self.app = app

    def __call__(self, kind: str, count: int) -> list[str]:
        from authz import db
        from idp_bridge.oidc.edge import EXTENSION, LOGIN

        edge = self.app.extensions[EXTENSION]
        now = int(time.time())
        values: list[str] = []
        with self.app.app_context(), db.connection():
            pyop = edge.provider.provider()
            state = pyop.authz_state
            request = {
                "response_type": "code",
                "client_id": DEMO_CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": SCOPE,
                "state": "bench",
                "code_challenge": CHALLENGE.decode(),
                "code_challenge_method": "S256",
            }
            auth_req = pyop.parse_authentication_request(urlencode(request))
            # What idp_bridge.oidc.authorization stashes from the login session.
            auth_req[LOGIN] = {
                "nrn": PERSON_NRN,
                "acr": "http://eidas.europa.eu/LoA/substantial",
                "amr": ["eid"],
                "auth_time": now,
                "session_expires": now + 8 * 3600,
                "sid": secrets.token_urlsafe(16),
            }
            while len(values) < count:
                # Committed in batches: the same rows, without a commit (and its WAL flush)
                # per statement; the server's own requests commit as they always do.
                with db.transaction():
                    for _ in range(min(MINT_BATCH, count - len(values))):
                        values.append(self._one(pyop, state, auth_req, kind))
        return values

    @staticmethod
    def _one(pyop, state, auth_req, kind: str) -> str:
        code = pyop.authorize(auth_req, PERSON_NRN)["code"]
        if kind == "codes":
            return code
        access_token = state.exchange_code_for_token(code)
        if kind == "access_tokens":
            return access_token.value
        return state.create_refresh_token(access_token.value)


@contextlib.contextmanager
def project(
    url: str, settings: ServerSettings, work_dir: Path, report: Callable[[str], None]
) -> Iterator[Side]:
    """Mon Espace on ``url`` (schema and demo story already there, :func:`dataset.prepare`)."""
    from authz import db
    from idp_bridge.oidc.edge import EXTENSION
    from loadtests.httpbench import app_environment
    from monespace import config as config_module
    from monespace.app import create_app

    env = app_environment(url, work_dir)
    report(f"Mon Espace: {settings}")
    app = create_app(config_module.load(environ={**os.environ, **env}))  # as a worker's
    with app.app_context(), db.connection():
        # The signing keys and the subject salt, made once before the workers race for them.
        app.extensions[EXTENSION].provider.provider()
    with serve("monespace.app:create_app()", settings, env, work_dir) as server:
        yield Side(
            "Mon Espace",
            server.port,
            _paths(server.port),
            _ProjectMinter(app),
            lambda: server.max_worker_rss,
        )


# -- node oidc-provider --------------------------------------------------------------------


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install_peer(report: Callable[[str], None]) -> None:
    """``npm ci`` in ``loadtests/oidc_peer`` when its node_modules is missing: the exact
    versions of package-lock.json."""
    if (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    if not node_available():
        raise BenchmarkError("node and npm are needed for the comparison: install Node.js")
    report("installing node oidc-provider (npm ci, pinned by package-lock.json)...")
    done = subprocess.run(  # noqa: S603
        ["npm", "ci", "--prefix", str(PEER_DIR), "--no-audit", "--no-fund"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def peer_version() -> str:
    package = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    return json.loads(package.read_text())["version"]


class _ProcessRss:
    """The peak resident memory of one process, sampled every 100 ms."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="node-rss", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()


def _node_minter(mint_port: int) -> Callable[[str, int], list[str]]:
    def mint(kind: str, count: int) -> list[str]:
        body = json.dumps(
            {"kind": kind, "count": count, "code_challenge": CHALLENGE.decode()}
        ).encode()
        request = urllib.request.Request(
            f"http://{HOST}:{mint_port}/mint", data=body, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return json.load(response)["values"]
        except urllib.error.HTTPError as exc:
            raise BenchmarkError(f"node could not mint {kind}: {exc.read()[:500]!r}") from None

    return mint


@contextlib.contextmanager
def node_peer(work_dir: Path, report: Callable[[str], None], timeout: float = 30) -> Iterator[Side]:
    install_peer(report)
    port, mint_port = free_port(), free_port()
    report(f"node oidc-provider {peer_version()}: one process, in-memory store")
    log_path = work_dir / f"node-{port}.log"
    command = [
        "node",
        str(PEER_DIR / "peer.js"),
        "--port",
        str(port),
        "--mint-port",
        str(mint_port),
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--redirect-uri",
        REDIRECT_URI,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)  # noqa: S603
    rss = _ProcessRss(process.pid)
    try:
        ready: list[bytes] = []
        reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not ready or b'"ready":true' not in ready[0]:
            raise BenchmarkError(
                f"node oidc-provider did not start:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        yield Side(
            "node oidc-provider", port, _paths(port), _node_minter(mint_port), lambda: rss.peak
        )
    finally:
        rss.stop()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
