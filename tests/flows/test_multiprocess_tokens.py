"""Proof that what the provider caches never outlives a change made through another process.

Two app processes share one database (PostgreSQL, then SQLite), as two nodes do. Each keeps the
token records its introspection and userinfo read (``token_reads.RecordCache``). A token
revoked through one (``/revoke``, a logout, a refresh token presented again revoking its
grant), or the mandate behind its ``represents`` claim revoked through one, is refused by the
other's introspection and userinfo within a second, after the other has answered for it (and
kept it); the process that made the change refuses it at once. A client disabled, or its
secret rotated, is refused by the other's token endpoint within a second. A person's names
changed elsewhere (a login, the registry) are in both processes' userinfo within a second,
though each keeps the claims it answered with.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlencode

from authz.clients import ClientMetadata, add_client, disable_client, rotate_secret
from authz.models import Person, RoleGrant
from authz.persons import PersonData, record_person
from tests.flows.app_processes import LUC

BOUND_SECONDS = 1.0
DEMO = ("demo-rp", "demo-secret")


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def send(port: int, method: str, path: str, form: dict | None, authorization: str):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=urlencode(form).encode() if form is not None else None,
        method=method,
        headers={"Authorization": authorization},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def mint(port: int) -> dict:
    status, tokens = send(port, "POST", "/_test/tokens", {}, "")
    assert status == 200, tokens
    return tokens


def introspect(port: int, token: str) -> dict:
    status, answer = send(port, "POST", "/introspect", {"token": token}, basic(*DEMO))
    assert status == 200, answer
    return answer


def userinfo(port: int, token: str) -> int:
    return send(port, "GET", "/userinfo", None, f"Bearer {token}")[0]


def client_credentials(port: int, client_id: str, secret: str) -> int:
    form = {"grant_type": "client_credentials"}
    return send(port, "POST", "/token", form, basic(client_id, secret))[0]


def seen_within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds; fails past ``seconds``."""
    started = time.monotonic()
    while not check():
        elapsed = time.monotonic() - started
        assert elapsed <= seconds, f"still not seen after {elapsed:.2f} s"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_token_revoked_through_one_process_is_inactive_at_the_other(two_processes):
    first, second = two_processes
    tokens = mint(first)
    other = mint(first)
    for port in (first, second):
        answer = introspect(port, tokens["access_token"])
        assert answer["active"] is True and answer["represents"]["sub"] == "0123456749"
        assert userinfo(port, tokens["access_token"]) == 200
    status, _ = send(first, "POST", "/revoke", {"token": tokens["access_token"]}, basic(*DEMO))
    assert status == 200
    seen_within(
        BOUND_SECONDS, lambda: introspect(second, tokens["access_token"]) == {"active": False}
    )
    assert userinfo(second, tokens["access_token"]) == 401
    # Another grant's token is untouched.
    assert introspect(second, other["access_token"])["active"] is True
    assert userinfo(second, other["access_token"]) == 200


def test_a_mandate_revoked_through_one_process_ends_the_tokens_at_the_other(two_processes):
    first, second = two_processes
    tokens = mint(first)
    # The other process answers, and caches what Luc may do for the enterprise.
    for _ in range(3):
        assert introspect(second, tokens["access_token"])["active"] is True
        assert introspect(second, tokens["refresh_token"])["active"] is True
        assert userinfo(second, tokens["access_token"]) == 200
    grant = RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == LUC))
    status, _ = send(first, "POST", f"/_test/revoke/{grant.id}", {}, "")
    assert status == 200
    seen_within(BOUND_SECONDS, lambda: not introspect(second, tokens["access_token"])["active"])
    assert introspect(second, tokens["refresh_token"]) == {"active": False}
    assert userinfo(second, tokens["access_token"]) == 401
    refreshed = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    status, answer = send(second, "POST", "/token", refreshed, basic(*DEMO))
    assert (status, answer["error"]) == (400, "invalid_grant")


def claims(port: int, token: str) -> dict:
    status, answer = send(port, "GET", "/userinfo", None, f"Bearer {token}")
    assert status == 200, answer
    return answer


def test_a_person_changed_elsewhere_is_seen_by_both_processes(two_processes):
    first, second = two_processes
    tokens = mint(first)
    before = claims(first, tokens["access_token"])
    for port in (first, second):
        for _ in range(3):  # read, then answered from what the process keeps
            assert claims(port, tokens["access_token"]) == before
        _status, records = send(port, "GET", "/_test/records", None, "")
        assert records["person_hits"] >= 2
    # Changed by this test's process, as a login or the registry import would.
    record_person(
        PersonData(LUC, given_name="Lucien", family_name="Renommé"),
        actor="registry:test",
        policy_version="test",
    )
    for port in (first, second):
        seen_within(
            BOUND_SECONDS,
            lambda port=port: claims(port, tokens["access_token"])["given_name"] == "Lucien",
        )
        assert claims(port, tokens["access_token"])["family_name"] == "Renommé"


def test_a_client_disabled_or_its_secret_rotated_is_refused_at_the_other(two_processes):
    first, second = two_processes
    _client, secret = add_client(
        ClientMetadata("Batch", "fiscalite", ["https://batch.example/cb"], client_id="batch"),
        actor="operator:test",
    )
    for port in (first, second):
        assert client_credentials(port, "batch", secret) == 200
    # The changes are made by this test's process: both app processes are "the other" one,
    # each keeping the client from its own last read (so each gets the whole bound).
    new_secret = rotate_secret("batch", actor="operator:test")
    seen_within(BOUND_SECONDS, lambda: client_credentials(second, "batch", secret) == 401)
    seen_within(BOUND_SECONDS, lambda: client_credentials(first, "batch", secret) == 401)
    assert client_credentials(second, "batch", new_secret) == 200
    disable_client("batch", actor="operator:test")
    seen_within(BOUND_SECONDS, lambda: client_credentials(second, "batch", new_secret) == 401)
    seen_within(BOUND_SECONDS, lambda: client_credentials(first, "batch", new_secret) == 401)
    # The demo client is untouched.
    assert client_credentials(second, *DEMO) == 200


def answered_by_both(ports, token: str) -> None:
    """Each process answers for the token twice, the second time from what it kept."""
    for port in ports:
        for round in range(2):
            hits = send(port, "GET", "/_test/records", None, "")[1]["hits"]
            assert introspect(port, token)["active"] is True
            assert userinfo(port, token) == 200
            kept = send(port, "GET", "/_test/records", None, "")[1]["hits"] - hits
            if round:  # introspection and userinfo: the token and its subject, each kept
                assert kept == 4, kept


def refused_by_both(ports, token: str) -> float:
    """Seconds until the second process refuses the token at introspection and userinfo;
    the first, which made the change, refuses it at once."""
    first, second = ports
    assert introspect(first, token) == {"active": False}
    assert userinfo(first, token) == 401
    return seen_within(
        BOUND_SECONDS,
        lambda: introspect(second, token) == {"active": False} and userinfo(second, token) == 401,
    )


def test_a_revoked_token_kept_by_the_other_process_is_refused_within_the_bound(two_processes):
    tokens, other = mint(two_processes[0]), mint(two_processes[0])
    answered_by_both(two_processes, tokens["access_token"])
    answered_by_both(two_processes, other["access_token"])
    status, _ = send(
        two_processes[0], "POST", "/revoke", {"token": tokens["access_token"]}, basic(*DEMO)
    )
    assert status == 200
    refused_by_both(two_processes, tokens["access_token"])
    answered_by_both(two_processes, other["access_token"])  # another grant's: untouched


def test_a_logout_through_one_process_ends_the_tokens_kept_by_the_other(two_processes):
    first, second = two_processes
    tokens, other = mint(first), mint(first)
    answered_by_both(two_processes, tokens["access_token"])
    answered_by_both(two_processes, other["access_token"])
    status, _ = send(first, "POST", "/_test/logout", {"access_token": tokens["access_token"]}, "")
    assert status == 200
    refused_by_both(two_processes, tokens["access_token"])
    assert introspect(second, tokens["refresh_token"]) == {"active": False}
    answered_by_both(two_processes, other["access_token"])  # another session's: untouched


def test_a_refresh_token_presented_again_ends_the_grant_kept_by_the_other(two_processes):
    first, second = two_processes
    tokens, other = mint(first), mint(first)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    status, rotated = send(first, "POST", "/token", refresh, basic(*DEMO))
    assert status == 200
    # The grant is live: its first access token and the rotated one are answered for.
    answered_by_both(two_processes, tokens["access_token"])
    answered_by_both(two_processes, rotated["access_token"])
    answered_by_both(two_processes, other["access_token"])
    status, answer = send(first, "POST", "/token", refresh, basic(*DEMO))  # a replay
    assert (status, answer["error"]) == (400, "invalid_grant")
    refused_by_both(two_processes, tokens["access_token"])
    refused_by_both(two_processes, rotated["access_token"])
    assert introspect(second, rotated["refresh_token"]) == {"active": False}
    answered_by_both(two_processes, other["access_token"])  # another grant's: untouched
