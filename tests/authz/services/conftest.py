"""Fixtures for the mandate services: a small world of people and enterprises, and watchers.

The authentic-source facts (enterprises, people, legal representations: what the BCE import
writes) are created through the models; every mandate (GAP designations, role grants) is made
through the services, as in production.

``journal()`` watches what one service call writes to the audit log and to the enterprises'
epochs; ``refused(error)`` checks that a refused call raises ``error`` and writes nothing.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from peewee import fn

from authz.models import (
    AuditEvent,
    Enterprise,
    EnterpriseMandate,
    GapDesignation,
    Invitation,
    LegalRepresentation,
    Person,
    RoleGrant,
    RoleRequest,
)
from authz.services import designate_gap, grant_role
from tests.authz.services import as_, make_bce, make_nrn, reload

# -- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    # Enterprise A: a company with every role filled.
    acme: Enterprise
    acme_rep: Person
    acme_gap: Person
    acme_manager: Person
    acme_owner: Person
    acme_agent: Person  # scoped to "fiscalite"
    acme_reader: Person
    manager_grant: RoleGrant
    owner_grant: RoleGrant
    agent_grant: RoleGrant
    reader_grant: RoleGrant
    # Nobody to anyone.
    stranger: Person
    # Enterprise B: its own representative and GAP.
    globex: Enterprise
    globex_rep: Person
    globex_gap: Person
    # A company that has stopped (BCE status), after its GAP was designated.
    closed: Enterprise
    closed_rep: Person
    closed_gap: Person
    # An ASBL whose representative has designated no GAP yet.
    asbl: Enterprise
    asbl_rep: Person


def _person(given: str, family: str, born: str, serial: int) -> Person:
    return Person.create(nrn=make_nrn(born, serial), given_name=given, family_name=family)


def _enterprise(serial: int, name: str, legal_form: str = "company") -> Enterprise:
    return Enterprise.create(bce=make_bce(serial), name=name, legal_form=legal_form)


def _represents(person: Person, enterprise: Enterprise, capacity: str) -> None:
    LegalRepresentation.create(person=person, enterprise=enterprise, capacity=capacity)


@pytest.fixture
def world(database) -> World:
    acme = _enterprise(1234567, "Acme Demo SA")
    globex = _enterprise(2345678, "Globex Fictive SRL")
    closed = _enterprise(3456789, "Ancienne Brasserie SRL")
    asbl = _enterprise(4567890, "Les Amis du Rail ASBL", "asbl")

    acme_rep = _person("Anne", "Delvaux", "750412", 101)
    acme_gap = _person("Marc", "Lambert", "800115", 203)
    acme_manager = _person("Sophie", "Renard", "820630", 305)
    acme_owner = _person("Paul", "Dubois", "700221", 407)
    acme_agent = _person("Luc", "Martin", "900101", 509)
    acme_reader = _person("Emma", "Leroy", "950708", 611)
    stranger = _person("Nora", "Benali", "880909", 713)
    globex_rep = _person("Jean", "Peeters", "650505", 815)
    globex_gap = _person("Claire", "Wouters", "780303", 917)
    closed_rep = _person("Hugo", "Janssens", "601111", 119)
    closed_gap = _person("Lina", "Maes", "921224", 221)
    asbl_rep = _person("Yves", "Simon", "551031", 323)

    _represents(acme_rep, acme, "administrateur délégué")
    _represents(globex_rep, globex, "gérant")
    _represents(closed_rep, closed, "gérant")
    _represents(asbl_rep, asbl, "président")

    designate_gap(as_(acme_rep), acme.bce, acme_gap.nrn)
    designate_gap(as_(globex_rep), globex.bce, globex_gap.nrn)
    designate_gap(as_(closed_rep), closed.bce, closed_gap.nrn)
    Enterprise.update(status="stopped").where(Enterprise.id == closed.id).execute()

    manager_grant = grant_role(as_(acme_gap), acme.bce, acme_manager.nrn, "access_manager")
    manager = as_(acme_manager)
    owner_grant = grant_role(manager, acme.bce, acme_owner.nrn, "owner")
    agent_grant = grant_role(manager, acme.bce, acme_agent.nrn, "agent", scope=["fiscalite"])
    reader_grant = grant_role(manager, acme.bce, acme_reader.nrn, "reader")

    return World(
        acme=reload(acme),
        acme_rep=acme_rep,
        acme_gap=acme_gap,
        acme_manager=acme_manager,
        acme_owner=acme_owner,
        acme_agent=acme_agent,
        acme_reader=acme_reader,
        manager_grant=manager_grant,
        owner_grant=owner_grant,
        agent_grant=agent_grant,
        reader_grant=reader_grant,
        stranger=stranger,
        globex=reload(globex),
        globex_rep=globex_rep,
        globex_gap=globex_gap,
        closed=reload(closed),
        closed_rep=closed_rep,
        closed_gap=closed_gap,
        asbl=reload(asbl),
        asbl_rep=asbl_rep,
    )


# -- watching what a call writes -----------------------------------------------------------


def _epochs() -> dict[str, int]:
    return {e.bce: e.authz_epoch for e in Enterprise.select(Enterprise.bce, Enterprise.authz_epoch)}


def _last_seq() -> int:
    return AuditEvent.select(fn.MAX(AuditEvent.seq)).scalar() or 0


class Journal:
    """What was written to the audit log and to the epochs since it was opened."""

    def __init__(self):
        self.seq = _last_seq()
        self.epochs = _epochs()

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.select().where(AuditEvent.seq > self.seq).order_by(AuditEvent.seq))

    def event(self) -> tuple[str, str, str | None, dict]:
        """The one event written: (action, actor, enterprise_bce, details)."""
        events = self.events()
        assert len(events) == 1, [e.action for e in events]
        event = events[0]
        return (event.action, event.actor, event.enterprise_bce, json.loads(event.details))

    def bumped(self) -> dict[str, int]:
        """By how much each enterprise's epoch moved (only those that moved)."""
        now = _epochs()
        return {bce: now[bce] - before for bce, before in self.epochs.items() if now[bce] != before}


@pytest.fixture
def journal():
    return Journal


_WATCHED = (
    Person,
    Enterprise,
    LegalRepresentation,
    GapDesignation,
    RoleGrant,
    RoleRequest,
    Invitation,
    EnterpriseMandate,
    AuditEvent,
)


def database_state() -> dict[str, list[dict]]:
    """Every row of the mandate tables and the audit log (epochs included)."""
    return {model.__name__: list(model.select().order_by(model.id).dicts()) for model in _WATCHED}


@contextmanager
def _refused(error: type[Exception], match: str | None = None):
    before = database_state()
    with pytest.raises(error, match=match) as info:
        yield info
    assert database_state() == before, "a refused call wrote something"


@pytest.fixture
def refused():
    """``with refused(Forbidden): ...``: the call raises and writes no row, event or epoch."""
    return _refused
