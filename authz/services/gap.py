"""Designating the GAP (principal access manager) of an enterprise.

Only a legal representative of the enterprise may do it (policy permission ``designate_gap``),
directly by national register number, or by inviting an email address
(``authz.services.invitations.invite_gap``): whoever accepts that invitation becomes the GAP.
One designation is in force at a time: a new one ends the previous one. Whatever designates a
GAP, directly or by a newer GAP invitation, cancels the enterprise's pending GAP invitations:
they were offers for a post that has since been given or offered to someone else.
"""

from __future__ import annotations

from datetime import datetime

from authz import events
from authz.errors import AlreadyGap, ChangedMeanwhile
from authz.events import Contact, EnterpriseRef
from authz.models import Enterprise, GapDesignation, Invitation, Person, utcnow
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

# The role an invitation to become GAP carries. It is never granted: accepting such an
# invitation designates the accepter.
GAP_ROLE = "gap"


class _AnyGap:
    def __repr__(self) -> str:
        return "ANY_GAP"


# ``designate_gap(..., replacing=ANY_GAP)``: replace whatever designation is in force.
ANY_GAP = _AnyGap()


def current_gap(enterprise) -> GapDesignation | None:
    return (
        GapDesignation.select()
        .where((GapDesignation.enterprise == enterprise) & GapDesignation.ended_at.is_null())
        .first()
    )


def pending_gap_invitations(enterprise, now: datetime | None = None) -> list[Invitation]:
    """The enterprise's GAP invitations that can still be accepted, newest first."""
    return list(
        Invitation.select()
        .where(
            (Invitation.enterprise == enterprise)
            & (Invitation.role == GAP_ROLE)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
            & (Invitation.expires_at > (now or utcnow()))
        )
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )


def cancel_superseded_gap_invitations(
    caller: Caller, enterprise: Enterprise, superseded_by: str, keep: Invitation | None = None
) -> list[Invitation]:
    """Cancel the pending GAP invitations of ``enterprise`` (but ``keep``), each audited.

    ``superseded_by`` names what replaced them (``gap_designation:12``, ``invitation:34``).
    Call it inside the transaction of the designation or invitation that supersedes them.
    """
    cancelled = [i for i in pending_gap_invitations(enterprise) if keep is None or i.id != keep.id]
    if not cancelled:
        return []
    now = utcnow()
    Invitation.update(cancelled_at=now).where(
        Invitation.id.in_([i.id for i in cancelled])
        & Invitation.cancelled_at.is_null()
        & Invitation.accepted_at.is_null()
    ).execute()
    for invitation in cancelled:
        invitation.cancelled_at = now
        record(
            caller,
            "invitation.cancel",
            "invitation",
            invitation.id,
            enterprise,
            reason="superseded",
            superseded_by=superseded_by,
        )
    return cancelled


def install_gap(
    caller: Caller,
    enterprise: Enterprise,
    gap: Person,
    designated_by: Person,
    *,
    replacing: object = ANY_GAP,
    invitation: Invitation | None = None,
) -> GapDesignation:
    """Write a designation the caller was allowed to make: end the one in force, audit, bump.

    Shared by :func:`designate_gap` and the acceptance of a GAP invitation (``invitation``),
    inside their transaction; the authorization is theirs.
    """
    previous = current_gap(enterprise)
    if replacing is not ANY_GAP and (previous.id if previous else None) != replacing:
        raise ChangedMeanwhile(
            f"the GAP of {enterprise.name} changed in the meantime; look at it again and confirm"
        )
    if previous is not None and previous.person_id == gap.id:
        raise AlreadyGap(f"{gap.display_name} is already the GAP of {enterprise.name}")
    now = utcnow()
    if previous is not None:
        previous.ended_at, previous.ended_by = now, designated_by
        previous.save()
    designation = GapDesignation.create(
        enterprise=enterprise, person=gap, designated_by=designated_by, started_at=now
    )
    details: dict[str, object] = {
        "gap": gap.nrn,
        "previous_gap": previous.person.nrn if previous else None,
    }
    if invitation is not None:
        details.update(invitation=invitation.id, designated_by=designated_by.nrn)
    record(caller, "gap.designate", "gap_designation", designation.id, enterprise, **details)
    cancel_superseded_gap_invitations(
        caller, enterprise, f"gap_designation:{designation.id}", keep=invitation
    )
    events.publish(
        events.GapDesignated(
            EnterpriseRef.of(enterprise),
            designation_id=designation.id,
            gap=Contact.of(gap),
            designated_by=Contact.of(designated_by),
            previous=Contact.of(previous.person) if previous is not None else None,
            invitation_id=invitation.id if invitation is not None else None,
        )
    )
    access_changed(enterprise)
    return designation


@atomic
def designate_gap(
    caller: Caller, bce: object, gap_nrn: object, *, replacing: object = ANY_GAP
) -> GapDesignation:
    """Make the person with ``gap_nrn`` the GAP of ``bce``, replacing the current one.

    The designated person need not have logged in yet: they are recorded by NRN and find the
    enterprise at their first login. ``replacing`` is the id of the designation the caller saw
    in force (None: none): if another is in force now, Conflict, so that a replacement
    confirmed for one GAP never ends another's designation. By default, whatever is in force
    is replaced. Pending GAP invitations of the enterprise are cancelled.
    """
    enterprise = find_enterprise(bce)
    require_active(enterprise)
    representative = authorize(caller, DESIGNATE_GAP, enterprise)
    gap: Person = ensure_person(gap_nrn, actor=caller.actor)
    return install_gap(caller, enterprise, gap, representative, replacing=replacing)
