"""The read side of the admin pages: rows to show, read through the core's own functions.

What a GAP or an access manager sees of one enterprise: the GAP (from the designation in
force), how many role requests wait for an answer, and the enterprise's audit events, filtered
and one page at a time (the members, requests and invitations are :mod:`authz.listings`').
What a person sees of their own: their role requests and legal representations.
What the operator sees of the registry: its counts and its last imports. And the lookups the
pages make by number or id. Mandates "in force" are those of :mod:`authz.mandates`.

Nothing here decides access (the pages ask the policy first) and nothing writes. The rows are
the tables' own, read only. No Flask here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from peewee import JOIN, fn

from authz.mandates import BASIS_GRANT, BASIS_REPRESENTATION, in_force_condition
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
    today,
    utcnow,
)

HISTORY_PAGE_SIZE = 25


def active_grants_of(enterprise: Enterprise, person_ids: Iterable[int]) -> dict[int, str]:
    """The role each of these persons holds in force on the enterprise, by person id."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    rows = RoleGrant.select(RoleGrant.person, RoleGrant.role).where(
        (RoleGrant.enterprise == enterprise)
        & RoleGrant.person.in_(ids)
        & in_force_condition(BASIS_GRANT, today())
    )
    return {r.person_id: r.role for r in rows}


def gap_of(enterprise: Enterprise) -> GapDesignation | None:
    """The GAP designation in force, with the GAP and who designated them."""
    designator = Person.alias()
    return (
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


def _decidable(enterprise: Enterprise, now: datetime | None):
    return (
        (RoleRequest.enterprise == enterprise)
        & (RoleRequest.status == "pending")
        & (RoleRequest.expires_at > (now or utcnow()))
    )


def pending_count(enterprise: Enterprise, now: datetime | None = None) -> int:
    return RoleRequest.select().where(_decidable(enterprise, now)).count()


@dataclass(frozen=True)
class HistoryPage:
    """One page of an enterprise's audit events, newest first."""

    events: list[AuditEvent]
    total: int
    page: int  # 1-based, within 1..pages
    pages: int


def history_actions(bce: str) -> list[str]:
    """The kinds of action present in the enterprise's history (for the filter)."""
    rows = (
        AuditEvent.select(AuditEvent.action)
        .where(AuditEvent.enterprise_bce == bce)
        .distinct()
        .order_by(AuditEvent.action)
    )
    return [row.action for row in rows]


def history(
    bce: str,
    *,
    action: str | None = None,
    nrn: str | None = None,
    page: int = 1,
    page_size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """The enterprise's events, optionally of one action and about one person (by them, or
    naming them in the details), ``page`` bounded to the pages there are."""
    query = AuditEvent.select().where(AuditEvent.enterprise_bce == bce)
    if action:
        query = query.where(AuditEvent.action == action)
    if nrn:
        # Details are canonical JSON: a person appears there as a quoted 11-digit string.
        query = query.where(
            (AuditEvent.actor == f"person:{nrn}") | AuditEvent.details.contains(f'"{nrn}"')
        )
    total = query.count()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    events = list(query.order_by(AuditEvent.seq.desc()).paginate(page, page_size))
    return HistoryPage(events, total, page, pages)


def names_by_nrn(nrns: Iterable[str]) -> dict[str, Person]:
    """The known persons among these NRNs, by NRN (one query)."""
    wanted = sorted({n for n in nrns if n})
    if not wanted:
        return {}
    return {p.nrn: p for p in Person.select().where(Person.nrn.in_(wanted))}


# -- a person's own ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MyRequest:
    """A role request of the person, with the status a reader should see."""

    request: RoleRequest
    status: str  # pending | accepted | refused | withdrawn | expired

    @property
    def pending(self) -> bool:
        return self.status == "pending"


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


def representations_of(person: Person) -> list[LegalRepresentation]:
    """The person's legal representations in force today, by enterprise name, with their
    enterprise."""
    return list(
        LegalRepresentation.select(LegalRepresentation, Enterprise)
        .join(Enterprise)
        .where(
            (LegalRepresentation.person == person)
            & in_force_condition(BASIS_REPRESENTATION, today())
        )
        .order_by(Enterprise.name, Enterprise.bce)
    )


# -- lookups -----------------------------------------------------------------------------------

_ROWS = {
    "grant": RoleGrant,
    "request": RoleRequest,
    "invitation": Invitation,
    "mandate": EnterpriseMandate,
}


def enterprise(bce: str) -> Enterprise | None:
    """The enterprise with this BCE number (10 digits), if registered."""
    return Enterprise.get_or_none(Enterprise.bce == bce)


def enterprise_again(found: Enterprise) -> Enterprise:
    """The enterprise as it is now (its status may have changed since it was read)."""
    return Enterprise.get_by_id(found.id)


def row(kind: str, row_id: int) -> RoleGrant | RoleRequest | Invitation | EnterpriseMandate | None:
    """The grant, request, invitation or mandate between enterprises with this id (``kind``
    one of grant, request, invitation, mandate), if any."""
    model = _ROWS[kind]
    return model.get_or_none(model.id == row_id)


def grant_ended(grant_id: int) -> bool:
    """Whether the grant has ended (read afresh, not from a row held since)."""
    return RoleGrant.get_by_id(grant_id).ended_at is not None


# -- the registry, for the operator ------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCounts:
    active: int  # enterprises
    stopped: int
    representations: int  # legal representations in force


def registry_counts() -> RegistryCounts:
    statuses = dict(
        Enterprise.select(Enterprise.status, fn.COUNT(Enterprise.id))
        .group_by(Enterprise.status)
        .tuples()
    )
    representations = (
        LegalRepresentation.select()
        .where(in_force_condition(BASIS_REPRESENTATION, today()))
        .count()
    )
    return RegistryCounts(statuses.get("active", 0), statuses.get("stopped", 0), representations)


def events_of(action: str, limit: int) -> list[AuditEvent]:
    """The latest ``limit`` audit events of one kind, newest first."""
    return list(
        AuditEvent.select()
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )


def events_between(after: int, before: int, actions: Iterable[str]) -> list[tuple[str, dict]]:
    """(action, details) of the events of these kinds strictly between two sequence numbers."""
    rows = AuditEvent.select(AuditEvent.action, AuditEvent.details).where(
        (AuditEvent.seq > after) & (AuditEvent.seq < before) & AuditEvent.action.in_(list(actions))
    )
    return [(r.action, json.loads(r.details)) for r in rows]
