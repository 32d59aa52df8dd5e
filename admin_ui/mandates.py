"""The read side of "Mes entreprises": a person's mandates and role requests, as rows to show.

``espace_choices`` (``idp_bridge.oidc.claims``) answers a different question: whom may this
person act for *in one service domain*, as the policy decides. This page shows the facts
themselves, whatever the domain: every role grant, GAP designation and BCE legal
representation in force, with where it came from, so that a person can see why they hold
each mandate (a legal representative who may only designate the GAP included). Nothing here
decides access and nothing writes. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from peewee import JOIN

from authz.models import (
    Enterprise,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    RoleRequest,
    today,
    utcnow,
)

# What a mandate rests on.
SOURCE_GRANT, SOURCE_DESIGNATION, SOURCE_REPRESENTATION = "grant", "designation", "representation"


@dataclass(frozen=True)
class Mandate:
    """One fact in force that ties the person to an enterprise."""

    enterprise: Enterprise
    source: str  # grant | designation | representation
    role: str  # a grant's role, "gap", or "representative"
    detail: str  # a grant's source (direct | request | invitation) or a representative's capacity
    by: Person | None  # who granted or designated it, when known
    since: datetime | None
    until: date | None  # the last day, when there is one
    scope: tuple[str, ...] = ()


@dataclass(frozen=True)
class MyRequest:
    """A role request of the person, with the status a reader should see."""

    request: RoleRequest
    status: str  # pending | accepted | refused | withdrawn | expired

    @property
    def pending(self) -> bool:
        return self.status == "pending"


def mandates_of(person: Person, day: date | None = None) -> list[Mandate]:
    """The person's mandates in force on ``day``, by enterprise name then strongest source."""
    day = day or today()
    granter = Person.alias()
    grants = (
        RoleGrant.select(RoleGrant, Enterprise, granter)
        .join(Enterprise)
        .join_from(RoleGrant, granter, JOIN.LEFT_OUTER, on=(RoleGrant.granted_by == granter.id))
        .where(
            (RoleGrant.person == person)
            & RoleGrant.ended_at.is_null()
            & (RoleGrant.valid_until.is_null() | (RoleGrant.valid_until >= day))
        )
    )
    designator = Person.alias()
    designations = (
        GapDesignation.select(GapDesignation, Enterprise, designator)
        .join(Enterprise)
        .join_from(
            GapDesignation,
            designator,
            JOIN.LEFT_OUTER,
            on=(GapDesignation.designated_by == designator.id),
        )
        .where((GapDesignation.person == person) & GapDesignation.ended_at.is_null())
    )
    representations = (
        LegalRepresentation.select(LegalRepresentation, Enterprise)
        .join(Enterprise)
        .where(
            (LegalRepresentation.person == person)
            & (LegalRepresentation.ended_on.is_null() | (LegalRepresentation.ended_on >= day))
        )
    )
    found = [
        *(
            Mandate(
                g.enterprise,
                SOURCE_DESIGNATION,
                "gap",
                "",
                g.designated_by,
                g.started_at,
                None,
            )
            for g in designations
        ),
        *(
            Mandate(
                g.enterprise,
                SOURCE_GRANT,
                g.role,
                g.source,
                g.granted_by,
                g.granted_at,
                g.valid_until,
                tuple(g.scope.split()),
            )
            for g in grants
        ),
        *(
            Mandate(
                r.enterprise,
                SOURCE_REPRESENTATION,
                "representative",
                r.capacity,
                None,
                r.imported_at,
                r.ended_on,
            )
            for r in representations
        ),
    ]
    order = {SOURCE_DESIGNATION: 0, SOURCE_GRANT: 1, SOURCE_REPRESENTATION: 2}
    found.sort(key=lambda m: (m.enterprise.name.casefold(), m.enterprise.bce, order[m.source]))
    return found


def requests_of(person: Person, now: datetime | None = None) -> list[MyRequest]:
    """The person's role requests, newest first. A pending request past its expiry reads as
    expired even before the nightly job marks it so: it can no longer be accepted."""
    now = now or utcnow()
    rows = (
        RoleRequest.select(RoleRequest, Enterprise)
        .join(Enterprise)
        .where(RoleRequest.person == person)
        .order_by(RoleRequest.created_at.desc(), RoleRequest.id.desc())
    )
    return [
        MyRequest(r, "expired" if r.status == "pending" and r.expires_at <= now else r.status)
        for r in rows
    ]
