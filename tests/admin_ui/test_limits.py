"""admin_ui/limits.py: rate-limit counters in Redis (the machine's, on 6379), shared between
app instances; a storage that cannot be used stops the start-up in one line; a Redis that
stops answering later makes the forms answer 503, never 500."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest

from admin_ui import limits
from authz.models import RoleRequest
from monespace.config import ConfigError
from tests.idp_bridge.web_client import (
    Browser,
)

REDIS = "redis://127.0.0.1:6379/0"
ENTERPRISES = ("0123456749", "0403170701", "0202239951")


def ask(browser: Browser, bce: str):
    page = browser.get("/entreprises/ajouter").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    form = {"csrf_token": token, "bce": bce, "role": "reader", "message": "Bonjour"}
    return browser.post("/entreprises/ajouter", data=form)


def test_two_app_instances_share_the_counters_in_redis(make_app):
    one = make_app(rate_limit_storage=REDIS, role_request_limit="2/hour")
    other = make_app(rate_limit_storage=REDIS, role_request_limit="2/hour")
    limits.reset()  # counters of earlier runs, kept by Redis under the same person ids
    alice_one, alice_other = Browser(one), Browser(other)
    alice_one.login("eid", "person:alice")
    alice_other.login("eid", "person:alice")

    assert ask(alice_one, ENTERPRISES[0]).status_code != 429
    assert ask(alice_other, ENTERPRISES[1]).status_code != 429
    refused = ask(alice_one, ENTERPRISES[2])

    assert refused.status_code == 429  # the third of the hour, whichever instance counted
    assert RoleRequest.select().where(RoleRequest.message == "Bonjour").count() <= 2


@pytest.mark.parametrize(
    ("storage", "words"),
    [
        ("redis://127.0.0.1:1/0", "the server does not answer"),
        ("redis://:secret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ],
)
def test_a_storage_that_cannot_be_used_stops_the_start(make_app, storage, words):
    with pytest.raises(ConfigError) as caught:
        make_app(rate_limit_storage=storage)
    message = str(caught.value)
    assert message.startswith("rate_limit_storage: ")
    assert words in message
    assert "secret" not in message
    assert "\n" not in message


def test_the_machines_redis_is_accepted_at_start(make_app):
    assert make_app(rate_limit_storage=REDIS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_redis():
    """A Redis server of this test's own, to stop while the app runs."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed", pytrace=False)
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield server, f"redis://127.0.0.1:{port}/0"
    if server.poll() is None:
        server.terminate()
        server.wait(10)


def test_a_redis_that_stops_answering_makes_the_form_503_not_500(make_app, own_redis):
    server, url = own_redis
    app = make_app(rate_limit_storage=url)
    alice = Browser(app)
    alice.login("eid", "person:alice")
    assert ask(alice, ENTERPRISES[0]).status_code in (200, 400)

    server.terminate()
    server.wait(10)
    response = ask(alice, ENTERPRISES[1])

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert RoleRequest.select().where(RoleRequest.message == "Bonjour").count() <= 1
