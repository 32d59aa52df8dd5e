"""The facts a decision reads, loaded for one (person, enterprise) pair.

The policy never sees tables: it sees these small immutable objects, built from indexed queries
on the pair at hand (person by NRN, enterprise by BCE number, grants / designation /
representation by (person, enterprise)), so the cost of a decision does not grow with the
number of grants in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from authz.models import (
    Enterprise,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    utcnow,
)

SERVICE_DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


@dataclass(frozen=True)
class Grant:
    """A role grant not revoked (it may still be past its end date: the policy decides)."""

    id: int
    enterprise: str
    role: str
    scope: list[str]
    valid_until: date | None


@dataclass(frozen=True)
class Designation:
    """The GAP designation in force."""

    id: int
    enterprise: str


@dataclass(frozen=True)
class Representation:
    """A legal representation from the BCE registry, not ended."""

    id: int
    enterprise: str
    capacity: str


@dataclass(frozen=True)
class PersonFacts:
    """The actor as the policy sees it (registered in Polar as ``Person``)."""

    nrn: str
    grants: list[Grant] = field(default_factory=list)
    designations: list[Designation] = field(default_factory=list)
    representations: list[Representation] = field(default_factory=list)

    def only(self, fact: Grant | Designation | Representation) -> PersonFacts:
        """The same person holding just one fact: used to explain which fact decides."""
        return PersonFacts(
            self.nrn,
            grants=[fact] if isinstance(fact, Grant) else [],
            designations=[fact] if isinstance(fact, Designation) else [],
            representations=[fact] if isinstance(fact, Representation) else [],
        )


@dataclass(frozen=True)
class EnterpriseFacts:
    """The resource as the policy sees it (registered in Polar as ``Enterprise``)."""

    bce: str
    name: str
    active: bool
    today: date
    service_domain: str | None = None
    epoch: int = 0


def person_facts(
    person_id: int | None, nrn: str, enterprise: Enterprise, today: date
) -> PersonFacts:
    """Load what ``person_id`` holds on ``enterprise``: three indexed lookups on the pair."""
    if person_id is None:
        return PersonFacts(nrn)
    grants = [
        Grant(g.id, enterprise.bce, g.role, list(g.scopes), g.valid_until)
        for g in RoleGrant.select(
            RoleGrant.id, RoleGrant.role, RoleGrant.scope, RoleGrant.valid_until
        ).where(
            (RoleGrant.person == person_id)
            & (RoleGrant.enterprise == enterprise.id)
            & RoleGrant.ended_at.is_null()
        )
    ]
    designations = [
        Designation(d.id, enterprise.bce)
        for d in GapDesignation.select(GapDesignation.id).where(
            (GapDesignation.person == person_id)
            & (GapDesignation.enterprise == enterprise.id)
            & GapDesignation.ended_at.is_null()
        )
    ]
    representations = [
        Representation(r.id, enterprise.bce, r.capacity)
        for r in LegalRepresentation.select(
            LegalRepresentation.id, LegalRepresentation.capacity
        ).where(
            (LegalRepresentation.person == person_id)
            & (LegalRepresentation.enterprise == enterprise.id)
            & (LegalRepresentation.ended_on.is_null() | (LegalRepresentation.ended_on >= today))
        )
    ]
    return PersonFacts(nrn, grants, designations, representations)


def enterprise_facts(
    enterprise: Enterprise, today: date, service_domain: str | None = None
) -> EnterpriseFacts:
    return EnterpriseFacts(
        bce=enterprise.bce,
        name=enterprise.name,
        active=enterprise.is_active,
        today=today,
        service_domain=service_domain,
        epoch=enterprise.authz_epoch,
    )


def load_pair(
    nrn: str, bce: str, today: date, service_domain: str | None = None
) -> tuple[PersonFacts, EnterpriseFacts] | None:
    """Facts for (NRN, BCE); None when the enterprise is unknown."""
    enterprise = Enterprise.get_or_none(Enterprise.bce == bce)
    if enterprise is None:
        return None
    person = Person.select(Person.id).where(Person.nrn == nrn).first()
    return (
        person_facts(person.id if person else None, nrn, enterprise, today),
        enterprise_facts(enterprise, today, service_domain),
    )


def ended_facts_description(nrn: str, bce: str) -> list[str]:
    """Grants and designations of the pair that no longer count, for explanations only."""
    person = Person.get_or_none(Person.nrn == nrn)
    enterprise = Enterprise.get_or_none(Enterprise.bce == bce)
    if person is None or enterprise is None:
        return []
    lines = [
        f"grant#{g.id}: {g.role}, {g.end_reason or 'ended'} on {g.ended_at:%Y-%m-%d} "
        "(no longer counts)"
        for g in RoleGrant.select().where(
            (RoleGrant.person == person)
            & (RoleGrant.enterprise == enterprise)
            & RoleGrant.ended_at.is_null(False)
        )
    ]
    lines += [
        f"designation#{d.id}: GAP until {d.ended_at:%Y-%m-%d}, replaced (no longer counts)"
        for d in GapDesignation.select().where(
            (GapDesignation.person == person)
            & (GapDesignation.enterprise == enterprise)
            & GapDesignation.ended_at.is_null(False)
        )
    ]
    lines += [
        f"representation#{r.id}: legal representative until {r.ended_on:%Y-%m-%d} "
        "(no longer counts)"
        for r in LegalRepresentation.select().where(
            (LegalRepresentation.person == person)
            & (LegalRepresentation.enterprise == enterprise)
            & LegalRepresentation.ended_on.is_null(False)
            & (LegalRepresentation.ended_on < utcnow().date())
        )
    ]
    return lines
