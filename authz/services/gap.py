"""Designating the GAP (principal access manager) of an enterprise.

Only a legal representative of the enterprise may do it (policy permission ``designate_gap``).
One designation is in force at a time: a new one ends the previous one.
"""

from __future__ import annotations

from authz.errors import Conflict
from authz.identifiers import format_bce
from authz.models import GapDesignation, Person, utcnow
from authz.permissions import DESIGNATE_GAP
from authz.services.base import (
    Caller,
    access_changed,
    atomic,
    authorize,
    ensure_person,
    find_enterprise,
    record,
    require_active,
)


def current_gap(enterprise) -> GapDesignation | None:
    return (
        GapDesignation.select()
        .where((GapDesignation.enterprise == enterprise) & GapDesignation.ended_at.is_null())
        .first()
    )


@atomic
def designate_gap(caller: Caller, bce: object, gap_nrn: object) -> GapDesignation:
    """Make the person with ``gap_nrn`` the GAP of ``bce``, replacing the current one.

    The designated person need not have logged in yet: they are recorded by NRN and find the
    enterprise at their first login.
    """
    enterprise = find_enterprise(bce)
    require_active(enterprise)
    representative = authorize(
        caller,
        DESIGNATE_GAP,
        enterprise,
        f"only a legal representative of {enterprise.name} ({format_bce(enterprise.bce)}) "
        "may designate its GAP",
    )
    gap: Person = ensure_person(gap_nrn)
    previous = current_gap(enterprise)
    if previous is not None and previous.person_id == gap.id:
        raise Conflict(f"{gap.display_name} is already the GAP of {enterprise.name}")
    now = utcnow()
    if previous is not None:
        previous.ended_at, previous.ended_by = now, representative
        previous.save()
    designation = GapDesignation.create(
        enterprise=enterprise, person=gap, designated_by=representative, started_at=now
    )
    record(
        caller,
        "gap.designate",
        "gap_designation",
        designation.id,
        enterprise,
        gap=gap.nrn,
        previous_gap=previous.person.nrn if previous else None,
    )
    access_changed(enterprise)
    return designation
