"""The read side of the helpdesk console: a person's or an enterprise's whole record.

What helpdesk staff need to answer « my enterprise does not appear »: every mandate of a
person, in force or ended, with where it came from (who granted or designated it, when, after
a request or an invitation); their pending requests and invitations; an enterprise's status,
GAP, legal representatives, pending requests and invitations (its members are
:func:`authz.listings.members`, a page at a time); the audit events about either, a page at a
time (:func:`person_events`, :func:`enterprise_events`). And the audit of the lookups
themselves (:func:`record_lookup`), which a person reads back (:func:`lookups_of`).

Nothing here decides access (the console is guarded by configuration, ``helpdesk``) and
nothing writes but the lookup's own audit event. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from peewee import JOIN

from authz import audit
from authz.listings import Page, paginate
from authz.mandates import (
    BASIS_DESIGNATION,
    BASIS_GRANT,
    BASIS_REPRESENTATION,
    in_force,
    in_force_condition,
)
from authz.models import (
    AuditEvent,
    AuditMention,
    Enterprise,
    GapDesignation,
    Invitation,
    LegalRepresentation,
    Person,
    RoleGrant,
    RoleRequest,
    today,
    utcnow,
)

HELPDESK_LOOKUP = "helpdesk.lookup"
# What a lookup showed: a person's record, an enterprise's, the policy's explanation of a pair.
VIEW_PERSON, VIEW_ENTERPRISE, VIEW_EXPLANATION = "person", "enterprise", "explanation"
# Audit events a page: a person's (by their indexed mentions) or an enterprise's.
EVENTS_PAGE_SIZE = 25
# A large enterprise has thousands of pending requests or open invitations: this many shown.
MAX_ROWS = 200


@dataclass(frozen=True)
class Origin:
    """How a grant came to be: the request it answered or the invitation it came from."""

    kind: str  # request | invitation
    at: datetime  # when the request was sent or the invitation created
    by: Person | None  # who sent the invitation (a request's author is the person)


@dataclass(frozen=True)
class RecordedMandate:
    """One fact tying a person to an enterprise, in force or ended, with its history."""

    basis: str  # grant | designation | representation
    id: int
    enterprise: Enterprise
    role: str  # a grant's role, "gap" or "representative"
    detail: str  # a grant's source (direct | request | invitation), a capacity
    scope: tuple[str, ...]
    by: Person | None  # who granted or designated it
    since: datetime
    until: date | None  # a grant's valid_until, a representation's last day
    ended_at: datetime | date | None
    ended_by: Person | None
    end_reason: str  # revoked | replaced | expired | "" (a representation: ended in the BCE)
    in_force: bool
    origin: Origin | None = None


@dataclass(frozen=True)
class PersonRecord:
    person: Person
    mandates: list[RecordedMandate]  # in force first, then ended, newest first
    requests: list[RoleRequest]  # pending and not expired, with their enterprise
    invitations: list[Invitation]  # open, bound to the person's NRN or sent to their email


@dataclass(frozen=True)
class EnterpriseRecord:
    enterprise: Enterprise
    gap: GapDesignation | None  # in force, with the GAP and who designated them
    representatives: list[LegalRepresentation]  # in force, with the person
    requests: list[RoleRequest]  # pending and not expired, with the person, at most MAX_ROWS
    invitations: list[Invitation]  # open (GAP invitations too), with who sent them


def find_person(nrn: str) -> Person | None:
    return Person.get_or_none(Person.nrn == nrn)


def find_enterprise(bce: str) -> Enterprise | None:
    return Enterprise.get_or_none(Enterprise.bce == bce)


# -- a person ----------------------------------------------------------------------------------


def person_record(person: Person) -> PersonRecord:
    day, now = today(), utcnow()
    mandates = _grants(person, day) + _designations(person) + _representations(person, day)
    mandates.sort(key=lambda m: (not m.in_force, -m.since.timestamp()))
    requests = list(
        RoleRequest.select(RoleRequest, Enterprise)
        .join(Enterprise)
        .where(
            (RoleRequest.person == person)
            & (RoleRequest.status == "pending")
            & (RoleRequest.expires_at > now)
        )
        .order_by(RoleRequest.created_at.desc(), RoleRequest.id.desc())
    )
    addressed = Invitation.nrn == person.nrn
    if person.email:
        addressed = addressed | (Invitation.email == person.email)
    invitations = list(
        _open_invitations()
        .where(addressed)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    return PersonRecord(person, mandates, requests, invitations)


def person_events(nrn: str, page: int, size: int = EVENTS_PAGE_SIZE) -> Page[AuditEvent]:
    """One page of the audit events by ``nrn`` or naming them, newest first: the events whose
    mentions (``AuditMention``, written with each event) hold the number, an exact match on
    the mentions' key, so the cost grows with that person's events, not with the log."""
    return paginate(person_events_query(nrn), page, size)


def person_events_query(nrn: str):
    """The audit events by ``nrn`` or naming them, newest first (not yet read)."""
    mentioned = AuditMention.select(AuditMention.seq).where(AuditMention.nrn == nrn)
    return AuditEvent.select().where(AuditEvent.seq.in_(mentioned)).order_by(AuditEvent.seq.desc())


def enterprise_events(bce: str, page: int, size: int = EVENTS_PAGE_SIZE) -> Page[AuditEvent]:
    """One page of the enterprise's audit events (by its indexed BCE number), newest first."""
    query = AuditEvent.select().where(AuditEvent.enterprise_bce == bce)
    return paginate(query.order_by(AuditEvent.seq.desc()), page, size)


def _grants(person: Person, day: date) -> list[RecordedMandate]:
    granter, ender = Person.alias(), Person.alias()
    rows = list(
        RoleGrant.select(RoleGrant, Enterprise, granter, ender)
        .join_from(RoleGrant, Enterprise)
        .join_from(RoleGrant, granter, JOIN.LEFT_OUTER, on=(RoleGrant.granted_by == granter.id))
        .join_from(RoleGrant, ender, JOIN.LEFT_OUTER, on=(RoleGrant.ended_by == ender.id))
        .where(RoleGrant.person == person)
    )
    origins = _origins([g.id for g in rows])
    return [
        RecordedMandate(
            BASIS_GRANT,
            g.id,
            g.enterprise,
            g.role,
            g.source,
            tuple(g.scope.split()),
            g.granted_by,
            g.granted_at,
            g.valid_until,
            g.ended_at,
            g.ended_by,
            g.end_reason or "",
            g.ended_at is None and in_force(g.valid_until, day),
            origins.get(g.id),
        )
        for g in rows
    ]


def _origins(grant_ids: list[int]) -> dict[int, Origin]:
    if not grant_ids:
        return {}
    found: dict[int, Origin] = {}
    for r in RoleRequest.select().where(RoleRequest.grant.in_(grant_ids)):
        found[r.grant_id] = Origin("request", r.created_at, None)
    inviter = Person.alias()
    invitations = (
        Invitation.select(Invitation, inviter)
        .join(inviter, on=(Invitation.invited_by == inviter.id))
        .where(Invitation.grant.in_(grant_ids))
    )
    for i in invitations:
        found[i.grant_id] = Origin("invitation", i.created_at, i.invited_by)
    return found


def _designations(person: Person) -> list[RecordedMandate]:
    designator, ender = Person.alias(), Person.alias()
    rows = (
        GapDesignation.select(GapDesignation, Enterprise, designator, ender)
        .join_from(GapDesignation, Enterprise)
        .join_from(
            GapDesignation,
            designator,
            JOIN.LEFT_OUTER,
            on=(GapDesignation.designated_by == designator.id),
        )
        .join_from(GapDesignation, ender, JOIN.LEFT_OUTER, on=(GapDesignation.ended_by == ender.id))
        .where(GapDesignation.person == person)
    )
    return [
        RecordedMandate(
            BASIS_DESIGNATION,
            d.id,
            d.enterprise,
            "gap",
            "",
            (),
            d.designated_by,
            d.started_at,
            None,
            d.ended_at,
            d.ended_by,
            "replaced" if d.ended_at else "",
            d.ended_at is None,
        )
        for d in rows
    ]


def _representations(person: Person, day: date) -> list[RecordedMandate]:
    rows = (
        LegalRepresentation.select(LegalRepresentation, Enterprise)
        .join(Enterprise)
        .where(LegalRepresentation.person == person)
    )
    return [
        RecordedMandate(
            BASIS_REPRESENTATION,
            r.id,
            r.enterprise,
            "representative",
            r.capacity,
            (),
            None,
            r.imported_at,
            r.ended_on,
            r.ended_on if not in_force(r.ended_on, day) else None,
            None,
            "",
            in_force(r.ended_on, day),
        )
        for r in rows
    ]


# -- an enterprise -----------------------------------------------------------------------------


def enterprise_record(enterprise: Enterprise) -> EnterpriseRecord:
    day, now = today(), utcnow()
    designator = Person.alias()
    gap = (
        GapDesignation.select(GapDesignation, Person, designator)
        .join(Person, on=(GapDesignation.person == Person.id))
        .join_from(
            GapDesignation,
            designator,
            JOIN.LEFT_OUTER,
            on=(GapDesignation.designated_by == designator.id),
        )
        .where((GapDesignation.enterprise == enterprise) & GapDesignation.ended_at.is_null())
        .first()
    )
    representatives = list(
        LegalRepresentation.select(LegalRepresentation, Person)
        .join(Person)
        .where(
            (LegalRepresentation.enterprise == enterprise)
            & in_force_condition(BASIS_REPRESENTATION, day)
        )
        .order_by(Person.family_name, Person.given_name, LegalRepresentation.id)
    )
    requests = list(
        RoleRequest.select(RoleRequest, Person)
        .join(Person)
        .where(
            (RoleRequest.enterprise == enterprise)
            & (RoleRequest.status == "pending")
            & (RoleRequest.expires_at > now)
        )
        .order_by(RoleRequest.created_at, RoleRequest.id)
        .limit(MAX_ROWS)
    )
    invitations = list(
        _open_invitations()
        .where(Invitation.enterprise == enterprise)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(MAX_ROWS)
    )
    return EnterpriseRecord(enterprise, gap, representatives, requests, invitations)


def _open_invitations():
    inviter = Person.alias()
    return (
        Invitation.select(Invitation, inviter, Enterprise)
        .join(inviter, on=(Invitation.invited_by == inviter.id))
        .join_from(Invitation, Enterprise)
        .where(
            Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
            & (Invitation.expires_at > utcnow())
        )
    )


# -- the lookups' own audit --------------------------------------------------------------------


def record_lookup(
    staff_nrn: str,
    view: str,
    *,
    policy_version: str,
    nrn: str | None = None,
    bce: str | None = None,
    ip: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append the ``helpdesk.lookup`` event of one lookup, in its own transaction: who looked
    (``person:<staff nrn>``) at whom. A person's record (and an explanation, which names both)
    is an event on the person, which they read back (:func:`lookups_of`); with ``bce`` it is
    also in the enterprise's history. An enterprise's record is an event on the enterprise."""
    if nrn is None and bce is None:
        raise ValueError("a lookup is of a person, an enterprise or both")
    said = {"view": view, **(details or {})}
    if nrn is not None:
        said["nrn"] = nrn
    return audit.record(
        actor=f"person:{staff_nrn}",
        action=HELPDESK_LOOKUP,
        target_type="person" if nrn is not None else "enterprise",
        target_id=nrn if nrn is not None else bce,
        enterprise_bce=bce,
        details=said,
        ip=ip,
        policy_version=policy_version,
    )


def lookups_of(nrn: str, limit: int = 100) -> list[AuditEvent]:
    """The helpdesk's lookups of this person's record, newest first."""
    return list(
        AuditEvent.select()
        .where(
            (AuditEvent.action == HELPDESK_LOOKUP)
            & (AuditEvent.target_type == "person")
            & (AuditEvent.target_id == nrn)
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
