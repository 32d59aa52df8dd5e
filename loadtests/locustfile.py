"""Locust users for sizing a cluster, against the demo (``monespace serve``, or granian in
demo mode with the login simulators on).

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8000
    locust -f loadtests/locustfile.py EidLoginUser ItsmeLoginUser ...   # some of them only

The users and their weights (the share of the simulated users each class gets; change them
with ``--class-picker`` in the web UI, or by naming classes on the command line):

=====================  ======  ==============================================================
user                   weight  what it does
=====================  ======  ==============================================================
EvaluationUser         6       single decisions, cache hits after the first ask
BatchUser              2       100 evaluations per request
SearchUser             2       which enterprises may a person act for, who may act for one
TokenUser              2       ``client_credentials`` access tokens for the decision API
RelyingPartyUser       3       logs in once, then what a relying party does with the
                               tokens: userinfo (3), introspection (3), refresh rotation (1)
EidLoginUser           1       complete eID logins (the whole flow, every time)
ItsmeLoginUser         1       complete itsme logins (the whole flow, every time)
=====================  ======  ==============================================================

They use the demo client ``demo-rp`` (set ``MONESPACE_LOADTEST_CLIENT_ID`` and
``MONESPACE_LOADTEST_CLIENT_SECRET`` to use another client for the decision API and the
tokens; the logins go through the demo relying party's redirect URI, so they need the demo).
A response that is not what a client expects counts as a failure. A complete login is also
reported as one request (type ``LOGIN``, name ``eid`` or ``itsme``), so locust's table gives
logins per second and their percentiles beside the steps (``GET /login/eid``...).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

from locust import FastHttpUser, HttpUser, between, task

# ``locust -f loadtests/locustfile.py`` imports this file as a module of its own directory:
# the repository's root is put on the path for the login client.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtests.logins import LoginClient, LoginFailed, LoginResult

CLIENT_ID = os.environ.get("MONESPACE_LOADTEST_CLIENT_ID", "demo-rp")
CLIENT_SECRET = os.environ.get("MONESPACE_LOADTEST_CLIENT_SECRET", "demo-secret")
_TOKEN = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
HEADERS = {
    "Authorization": f"Basic {_TOKEN}",
    "Content-Type": "application/json",
    "Accept": "application/json",
}

BOULANGERIE, ATELIER, ASBL, BRASSERIE = "0123456749", "0888888895", "0999999922", "0777777771"
PEOPLE = {
    "claire": "60040400794",
    "marc": "85020200387",
    "sophie": "70030300538",
    "luc": "90010100123",
    "emma": "90010100222",
    "nora": "95050500928",
    "jean": "75070700353",
    "paul": "80060600186",
    "alice": "99090900920",
    "hugo": "65080800512",
}
ACTIONS = ("act_for", "read_dossier", "edit_dossier", "submit_dossier", "view_members")
# Every (person, action, enterprise) of the demo story: allows and denials alike.
QUESTIONS = [
    (nrn, action, bce)
    for nrn in PEOPLE.values()
    for action in ACTIONS
    for bce in (BOULANGERIE, ATELIER, ASBL, BRASSERIE)
]


def evaluation(nrn: str, action: str, bce: str) -> dict:
    return {
        "subject": {"type": "person", "id": nrn},
        "action": {"name": action},
        "resource": {"type": "enterprise", "id": bce},
    }


class _DecisionApiUser(FastHttpUser):
    abstract = True
    wait_time = between(0.005, 0.02)

    def _post(self, path: str, body: dict, name: str | None = None, expect: str = "decision"):
        with self.client.post(
            path, data=json.dumps(body), headers=HEADERS, name=name or path, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            elif expect not in (response.json() or {}):
                response.failure(f"no {expect!r} in the response: {response.text[:200]}")


class EvaluationUser(_DecisionApiUser):
    """Single decisions on a small set of questions: cache hits after the first ask."""

    weight = 6

    def on_start(self) -> None:
        self.questions = itertools.cycle(random.sample(QUESTIONS, len(QUESTIONS)))

    @task
    def evaluate(self) -> None:
        self._post("/access/v1/evaluation", evaluation(*next(self.questions)))


class BatchUser(_DecisionApiUser):
    """100 evaluations per request, as a portal showing what one person may do."""

    weight = 2

    @task
    def evaluate_batch(self) -> None:
        batch = [evaluation(*random.choice(QUESTIONS)) for _ in range(100)]
        self._post("/access/v1/evaluations", {"evaluations": batch}, expect="evaluations")


class SearchUser(_DecisionApiUser):
    """Searches: the enterprises a person may act for, the people who may act for one."""

    weight = 2

    @task(2)
    def enterprises_of_person(self) -> None:
        body = {
            "subject": {"type": "person", "id": random.choice(list(PEOPLE.values()))},
            "action": {"name": random.choice(("act_for", "view_members"))},
            "resource": {"type": "enterprise"},
        }
        self._post("/access/v1/search/resource", body, expect="results")

    @task(1)
    def persons_of_enterprise(self) -> None:
        body = {
            "subject": {"type": "person"},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": random.choice((BOULANGERIE, ATELIER))},
        }
        self._post("/access/v1/search/subject", body, expect="results")


# -- the provider: tokens and logins --------------------------------------------------------

BASIC = (CLIENT_ID, CLIENT_SECRET)
# A person and the espace chosen: citizens, and representatives for their enterprise.
LOGINS = (
    ("luc", BOULANGERIE),
    ("sophie", BOULANGERIE),
    ("jean", ATELIER),
    ("alice", "citoyen"),
    ("emma", "citoyen"),
    ("marc", "citoyen"),
)


class TokenUser(FastHttpUser):
    """Access tokens for the decision API: ``client_credentials`` (RFC 6749 section 4.4)."""

    weight = 2
    wait_time = between(0.005, 0.02)

    @task
    def client_credentials(self) -> None:
        with self.client.post(
            "/token",
            data="grant_type=client_credentials",
            headers={"Authorization": HEADERS["Authorization"], **_FORM},
            name="POST /token (client_credentials)",
            catch_response=True,
        ) as response:
            _expect_token(response)


_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def _expect_token(response) -> None:
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
    elif "access_token" not in (response.json() or {}):
        response.failure(f"no access_token: {response.text[:200]}")


class _LoginUser(HttpUser):
    """Complete logins in a browser of its own (a new cookie jar each time)."""

    abstract = True
    method = "eid"
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.browser = LoginClient(self.host, self.client, named=True)
        self.turn = itertools.count(random.randrange(len(LOGINS)))

    def log_in(self) -> LoginResult | None:
        """One complete login, reported to locust as a ``LOGIN`` request too."""
        person, espace = LOGINS[next(self.turn) % len(LOGINS)]
        started = time.perf_counter()
        result, failure = None, None
        try:
            result = self.browser.login(self.method, person, espace)
        except (LoginFailed, OSError) as exc:
            failure = exc
        self.environment.events.request.fire(
            request_type="LOGIN",
            name=self.method,
            response_time=(time.perf_counter() - started) * 1e3,
            response_length=0,
            exception=failure,
            context={},
        )
        return result


class EidLoginUser(_LoginUser):
    """Complete eID logins: the relying party's request, the SAML round trip through the
    simulator, the espace chooser, the code and the token request, the ID token checked."""

    weight = 1
    method = "eid"

    @task
    def login(self) -> None:
        self.log_in()


class ItsmeLoginUser(_LoginUser):
    """Complete itsme logins, as :class:`EidLoginUser` through the itsme simulator."""

    weight = 1
    method = "itsme"

    @task
    def login(self) -> None:
        self.log_in()


class RelyingPartyUser(_LoginUser):
    """A relying party's back channel after a login: userinfo and introspection of the access
    token, and refresh token rotation (each refresh gives a new access and refresh token; the
    old refresh token is spent). It logs in again when its tokens are gone."""

    weight = 3
    wait_time = between(0.005, 0.02)

    def on_start(self) -> None:
        super().on_start()
        self.tokens: dict = {}

    def _tokens(self) -> dict | None:
        if not self.tokens:
            result = self.log_in()
            self.tokens = result.tokens if result else {}
        return self.tokens or None

    @task(3)
    def userinfo(self) -> None:
        if (tokens := self._tokens()) is None:
            return
        with self.client.get(
            "/userinfo",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            name="GET /userinfo",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or "sub" not in (response.json() or {}):
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

    @task(3)
    def introspect(self) -> None:
        if (tokens := self._tokens()) is None:
            return
        with self.client.post(
            "/introspect",
            data={"token": tokens["access_token"]},
            auth=BASIC,
            name="POST /introspect",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or (response.json() or {}).get("active") is not True:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

    @task(1)
    def refresh(self) -> None:
        if (tokens := self._tokens()) is None:
            return
        with self.client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=BASIC,
            name="POST /token (refresh_token)",
            catch_response=True,
        ) as response:
            answer = response.json() if response.status_code == 200 else {}
            if "refresh_token" not in answer or answer["refresh_token"] == tokens["refresh_token"]:
                response.failure(f"no new refresh token: HTTP {response.status_code}")
                self.tokens = {}
            else:
                self.tokens = {**tokens, **answer}
