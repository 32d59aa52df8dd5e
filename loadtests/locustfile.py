"""Locust users for the decision API's hot paths, against the demo (``monespace serve``).

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8000

Three kinds of users, weighted like a relying party's traffic: single evaluations (answered
from the cache after the first ask), batches of 100 evaluations, and searches (which
enterprises may this person act for; who may act for this enterprise). They ask about the demo
story's people and enterprises with the demo client ``demo-rp``; set
``MONESPACE_LOADTEST_CLIENT_ID`` and ``MONESPACE_LOADTEST_CLIENT_SECRET`` to use another client.
A response that is not 200 with the expected JSON counts as a failure.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random

from locust import FastHttpUser, between, task

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
