"""loadtests/locustfile.py: locust, headless for a few seconds against the live demo app.

The scenarios an operator sizes a cluster with (tokens, refresh rotation, introspection,
userinfo, complete eID and itsme logins) must each make successful requests and none may fail;
a scenario that stops working (a page changed, an endpoint moved) fails here, not at the
operator's. No rate is asserted: CI machines vary.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.logins import LoginClient, LoginFailed

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("TokenUser", "RelyingPartyUser", "EidLoginUser", "ItsmeLoginUser")


def run_locust(url: str, out: Path, classes: tuple[str, ...], seconds: int = 20) -> dict:
    """Run locust headless; return its stats by (type, name) from the CSV it writes."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "loadtests" / "locustfile.py"),
            "--headless",
            "--users",
            str(len(classes)),
            "--spawn-rate",
            str(len(classes)),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--host",
            url,
            "--csv",
            str(out / "run"),
            "--only-summary",
            "--loglevel",
            "WARNING",
            *classes,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=out,
        check=False,
        timeout=seconds + 90,
        capture_output=True,
        text=True,
    )
    assert (out / "run_stats.csv").exists(), done.stderr[-2000:]
    with open(out / "run_stats.csv", newline="") as stats:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(stats)}


def test_each_scenario_makes_successful_requests_and_none_fails(live_app, tmp_path):
    stats = run_locust(live_app.url, tmp_path, SCENARIOS)
    failed = {
        name: row["Failure Count"] for name, row in stats.items() if row["Failure Count"] != "0"
    }
    assert failed == {}, failed
    for kind, name in (
        ("POST", "POST /token (client_credentials)"),
        ("LOGIN", "eid"),
        ("LOGIN", "itsme"),
        ("POST", "POST /login/eid/acs"),
        ("GET", "GET /login/itsme/callback"),
        ("GET", "GET /userinfo"),
        ("POST", "POST /introspect"),
        ("POST", "POST /token (refresh_token)"),
    ):
        assert int(stats[(kind, name)]["Request Count"]) > 0, (kind, name)


def test_a_login_with_a_wrong_client_secret_gets_no_tokens(live_app):
    """The login client checks what it gets: a relying party with the wrong secret gets no
    tokens, and the scenario reports a failure instead of counting a login."""
    client = LoginClient(live_app.url, client_secret="not-the-secret")
    with pytest.raises(LoginFailed, match="token endpoint: HTTP 401"):
        client.login("eid", "luc", "citoyen")


def test_each_login_is_a_whole_login_and_the_sub_is_the_persons(live_app):
    """Each login starts without a session (the upstream's pages are gone through every
    time); the same person gets the same ``sub`` through eID and itsme, another person not."""
    client = LoginClient(live_app.url)
    eid = client.login("eid", "luc", "0123456749")
    itsme = client.login("itsme", "luc", "citoyen")
    other = client.login("itsme", "alice", "citoyen")
    assert "POST /login/eid/acs" in [step for step, _seconds in eid.steps]
    assert "GET /login/itsme/callback" in [step for step, _seconds in other.steps]
    assert eid.sub == itsme.sub != other.sub
