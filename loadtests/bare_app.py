"""The floor the decision API is compared with: Flask answering a constant decision.

It serves the decision API's path and answers ``{"decision": true}`` without authenticating,
reading the body or deciding anything. Served by the same server settings and loaded by the
same generator as the real app, it shows what HTTP, the server and Flask cost on their own.
"""

from __future__ import annotations

from flask import Flask, Response

DECISION = b'{"decision":true}'

app = Flask(__name__)


@app.post("/access/v1/evaluation")
def evaluation() -> Response:
    return Response(DECISION, mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")
