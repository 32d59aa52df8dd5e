"""Two app processes on one database, as two nodes: how the tests start them and call them.

The ``two_processes`` fixture (tests/flows/conftest.py) starts ``app_process.py`` twice; the
tests call each process with ``call`` (JSON) and ask the decision API with ``luc_may_act``.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

HARNESS = Path(__file__).with_name("app_process.py")
LUC, BOULANGERIE = "90010100123", "0123456749"
AUTH = "Basic " + base64.b64encode(b"demo-rp:demo-secret").decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def luc_may_act(port: int) -> bool:
    return may_act(port, LUC, BOULANGERIE)


def may_act(port: int, nrn: str, bce: str) -> bool:
    """The decision API's answer, through the process on ``port``, to "may ``nrn`` act for
    ``bce``?" (for the demo client's service domain, ``fiscalite``)."""
    status, body = call(
        port,
        "POST",
        "/access/v1/evaluation",
        {
            "subject": {"type": "person", "id": nrn},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": bce},
        },
    )
    assert status == 200, body
    return body["decision"]
