"""Fixtures for the core's tests: the demo story (persons, enterprises, mandates), a person GAP
of twelve enterprises, and for the decision API tests the app on the demo data and a calling
helper."""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta

import pytest

from authz import db
from authz.models import Enterprise, GapDesignation, LegalRepresentation, Person
from authz.services import Caller as ServiceCaller
from authz.services import designate_gap
from monespace import demo
from monespace.app import create_app
from tests.authz.services import make_bce

BASE_URL = "https://pdp.example.test"
BOULANGERIE, ATELIER = "0123456749", "0888888895"
MARC, SOPHIE, LUC, EMMA = "85020200387", "70030300538", "90010100123", "90010100222"
JEAN, ALICE = "75070700353", "99090900920"


@pytest.fixture
def story(database):
    """The demo story (README, "The demo story"): Marc is the GAP of the Boulangerie, Sophie its
    owner, Luc its agent for ``fiscalite`` only, Emma its reader; Nora only asked; Claire is its
    legal representative; Jean is the sole trader of the Atelier, his own legal representative
    and GAP; Paul represents an ASBL with no GAP; Hugo a stopped company; Alice is a
    citizen."""
    demo.seed()


@pytest.fixture
def alice_gap_of_twelve(story):
    """Alice is GAP of twelve enterprises (Paul represents them), designated on shuffled dates;
    returns their BCE numbers, most recent designation first."""
    paul = Person.get(Person.nrn == next(p.nrn for p in demo.PERSONS if p.key == "paul"))
    alice = Person.get(Person.nrn == ALICE)
    numbers = [make_bce(5_000_000 + i) for i in range(12)]
    for i, bce in enumerate(numbers):
        enterprise = Enterprise.create(bce=bce, name=f"Société {i:02d} Démo SRL")
        LegalRepresentation.create(
            person=paul, enterprise=enterprise, imported_at=datetime(2000, 1, 1)
        )
        designate_gap(ServiceCaller.for_person(paul), bce, alice.nrn)
    days = [40, 300, 12, 150, 220, 5, 360, 90, 181, 61, 270, 33]  # days into 2020, shuffled
    for bce, day in zip(numbers, days, strict=True):
        GapDesignation.update(started_at=datetime(2020, 1, 1) + timedelta(days=day)).where(
            (GapDesignation.person == alice)
            & (GapDesignation.enterprise == Enterprise.get(Enterprise.bce == bce))
        ).execute()
    return [bce for _, bce in sorted(zip(days, numbers, strict=True), reverse=True)]


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


DEMO_AUTH = basic(demo.DEMO_CLIENT_ID, demo.DEMO_CLIENT_SECRET)


def person(nrn: str) -> dict:
    return {"type": "person", "id": nrn}


def enterprise(bce: str) -> dict:
    return {"type": "enterprise", "id": bce}


def question(nrn: str, action: str, bce: str, **extra) -> dict:
    return {
        "subject": person(nrn),
        "action": {"name": action},
        "resource": enterprise(bce),
        **extra,
    }


class Caller:
    """Posts JSON to the API as a client (the demo client unless told otherwise)."""

    def __init__(self, test_client, headers: dict[str, str]):
        self.test_client, self.headers = test_client, headers

    def post(self, path: str, body=None, *, headers: dict | None = None, **kwargs):
        response = self.test_client.post(
            path, json=body, headers={**self.headers, **(headers or {})}, **kwargs
        )
        # Every answer of the API is JSON, errors included.
        assert response.mimetype == "application/json", response.data
        return response

    def decide(self, body: dict) -> bool:
        response = self.post("/access/v1/evaluation", body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["decision"]

    def search(self, kind: str, body: dict):
        return self.post(f"/access/v1/search/{kind}", body)


@pytest.fixture
def api_app(database, database_url, tmp_path):
    demo.seed()
    app = create_app(
        {
            "database_url": database_url,
            "mode": "demo",
            "secret_key": "t" * 40,
            "data_dir": str(tmp_path),
            "base_url": BASE_URL,
            "decision_log": "off",
        }
    )
    yield app
    # Stopping waits for the listener thread (up to half a heartbeat on PostgreSQL): let it
    # finish in the background rather than have every test wait for it.
    threading.Thread(target=app.extensions["monespace.decisions"].tracker.stop).start()
    if not db.database.is_closed():
        db.database.close()


@pytest.fixture
def api(api_app) -> Caller:
    return Caller(api_app.test_client(), DEMO_AUTH)
