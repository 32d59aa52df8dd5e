"""The catalogue entry of a service: checked when built, per language with French fallback,
searched in any language; set through ``authz.clients.set_catalogue`` (audited)."""

from __future__ import annotations

import json

import pytest

from authz import catalogue
from authz.catalogue import CatalogueEntry
from authz.client_metadata import ClientMetadata
from authz.clients import add_client, catalogued_clients, disable_client, get_client, set_catalogue
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import AuditEvent

URL = "https://impots.example.test/start"


def entry(**changes) -> CatalogueEntry:
    values = {
        "names": {"fr": "Impôts en ligne", "nl": "Belastingen online"},
        "descriptions": {"fr": "Déclarez vos impôts.", "en": "File your taxes."},
        "start_url": URL,
        "espaces": ["citoyen", "professionnel"],
    }
    values.update(changes)
    return CatalogueEntry(**values)


def test_names_fall_back_to_french():
    e = entry()
    assert e.name("nl") == "Belastingen online"
    assert e.name("de") == "Impôts en ligne"
    assert e.description("en") == "File your taxes."
    assert e.description("nl") == "Déclarez vos impôts."
    assert e.espaces == ("citoyen", "professionnel")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"names": {"nl": "Alleen NL"}}, "French display name is required"),
        ({"names": {"fr": "   "}}, "French display name is required"),
        ({"names": {"fr": "x" * 101}}, "longer than 100"),
        ({"names": {"fr": "ok", "it": "no"}}, "unknown language"),
        ({"descriptions": {"nl": "x"}}, "French description is required"),
        ({"descriptions": {"fr": "x" * 1001}}, "longer than 1000"),
        ({"descriptions": {"fr": "a\x00b"}}, "control character"),
        ({"start_url": "http://impots.example.test/"}, "must be an absolute https URL"),
        ({"start_url": "javascript:alert(1)"}, "must be an absolute https URL"),
        ({"start_url": "https://u:p@impots.example.test/"}, "user name"),
        ({"start_url": "https://" + "a" * 500}, "longer than 500"),
        ({"start_url": ""}, "start URL is required"),
        ({"start_url": "https://x.test/é"}, "characters"),
        ({"espaces": []}, "at least one espace"),
        ({"espaces": ["entreprise"]}, "unknown espace"),
    ],
)
def test_bad_entries_are_refused(changes, message):
    with pytest.raises(InvalidInput, match=message):
        entry(**changes)


def test_http_start_url_only_in_demo_mode():
    e = CatalogueEntry(
        {"fr": "Démo"}, {"fr": "d"}, "http://127.0.0.1:8000/demo-rp", "citoyen", allow_http=True
    )
    assert e.start_url.startswith("http://")
    assert CatalogueEntry.from_json(e.to_json()) == e


def test_search_any_language_ignoring_accents():
    e = entry()
    assert catalogue.matches(e, "impots")
    assert catalogue.matches(e, "BELASTINGEN")
    assert catalogue.matches(e, "file taxes")
    assert not catalogue.matches(e, "pension")
    assert catalogue.matches(e, "  ")


def test_set_catalogue_audited_and_listed(database):
    add_client(ClientMetadata("Guichet", "fiscalite", client_id="guichet"), actor="test")
    assert catalogued_clients() == []
    client = set_catalogue("guichet", entry(), actor="person:1", ip="192.0.2.1")
    assert client.catalogue == entry()
    assert get_client("guichet").catalogue == entry()
    assert [c.client_id for c in catalogued_clients()] == ["guichet"]
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert (event.action, event.target_id, event.actor) == ("client.update", "guichet", "person:1")
    assert json.loads(event.details)["catalogue"]["start_url"] == URL
    # The same entry again changes nothing and writes nothing.
    set_catalogue("guichet", entry(), actor="person:1")
    assert AuditEvent.select().count() == event.seq
    assert [c.client_id for c in catalogue.search(catalogued_clients(), espace="citoyen")] == [
        "guichet"
    ]
    assert catalogue.search(catalogued_clients(), query="pension") == []


def test_set_catalogue_refused_for_unknown_or_disabled(database):
    with pytest.raises(NotFound):
        set_catalogue("nobody", entry(), actor="test")
    add_client(ClientMetadata("Guichet", "fiscalite", client_id="guichet"), actor="test")
    disable_client("guichet", actor="test")
    with pytest.raises(Conflict):
        set_catalogue("guichet", entry(), actor="test")
    assert catalogued_clients() == []


def test_display_name_falls_back_to_registered_name(database):
    client, _ = add_client(ClientMetadata("Guichet", "fiscalite", client_id="guichet"), actor="t")
    assert catalogue.display_name(client, "nl") == "Guichet"
    client = set_catalogue("guichet", entry(), actor="t")
    assert catalogue.display_name(client, "nl") == "Belastingen online"
    assert catalogue.display_name(client, "de") == "Impôts en ligne"
