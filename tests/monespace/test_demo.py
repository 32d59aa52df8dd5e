"""The demo story: seeded once, with the decisions the README tells."""

from __future__ import annotations

import pytest

from authz import audit
from authz.clients import catalogued_clients, verify_secret
from authz.engine import get_engine
from authz.models import AuditEvent, Client, Enterprise, RoleRequest
from monespace import demo

BOULANGERIE, ATELIER, ASBL, BRASSERIE = "0123456749", "0888888895", "0999999922", "0777777771"


@pytest.fixture
def seeded(database):
    assert demo.seed() is True
    return database


def nrn(key: str) -> str:
    return next(p.nrn for p in demo.PERSONS if p.key == key)


def test_seeded_once(seeded):
    events = AuditEvent.select().count()
    assert demo.seed() is False
    assert AuditEvent.select().count() == events
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("who", "action", "bce", "domain", "expected"),
    [
        ("claire", "designate_gap", BOULANGERIE, None, True),
        ("claire", "act_for", BOULANGERIE, None, False),
        ("marc", "grant_role", BOULANGERIE, None, True),
        ("marc", "act_for", BOULANGERIE, None, True),
        ("sophie", "submit_dossier", BOULANGERIE, None, True),
        ("sophie", "grant_role", BOULANGERIE, None, False),
        ("luc", "act_for", BOULANGERIE, "fiscalite", True),
        ("luc", "act_for", BOULANGERIE, "environnement", False),
        ("emma", "read_dossier", BOULANGERIE, None, True),
        ("emma", "act_for", BOULANGERIE, None, False),
        ("nora", "act_for", BOULANGERIE, None, False),
        ("jean", "act_for", ATELIER, None, True),
        ("paul", "designate_gap", ASBL, None, True),
        ("paul", "act_for", ASBL, None, False),
        ("alice", "act_for", BOULANGERIE, None, False),
    ],
)
def test_story_decisions(seeded, who, action, bce, domain, expected):
    assert get_engine().decide(nrn(who), action, bce, domain) is expected


def test_story_state(seeded):
    assert Enterprise.get(Enterprise.bce == BRASSERIE).status == "stopped"
    request = RoleRequest.get()
    assert (request.person.nrn, request.status, request.role) == (nrn("nora"), "pending", "agent")
    client = Client.get(Client.client_id == demo.DEMO_CLIENT_ID)
    assert client.service_domain == "fiscalite"
    assert verify_secret(client, demo.DEMO_CLIENT_SECRET)
    assert not verify_secret(client, "wrong")
    assert "demo-secret" not in client.secret_hash


def test_demo_identifiers_are_valid():
    from stdnum.be import nn, vat

    assert all(nn.is_valid(p.nrn) for p in demo.PERSONS)
    assert all(vat.is_valid(b) for b in (BOULANGERIE, ATELIER, ASBL, BRASSERIE))


def test_the_demo_relying_party_is_in_the_catalogue(seeded):
    (client,) = catalogued_clients()
    assert client.client_id == demo.DEMO_CLIENT_ID
    assert client.catalogue.name("fr") == "Guichet fiscal (démonstration)"
    assert client.catalogue.name("nl") == "Belastingloket (demo)"
    assert client.catalogue.espaces == ("citoyen", "professionnel")
    assert client.catalogue.start_url == "http://127.0.0.1:8000/demo-rp"
