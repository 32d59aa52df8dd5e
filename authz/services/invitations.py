"""Invitations: a single-use, expiring link that an email address receives.

Two kinds, told apart by the invitation's role:

* a role invitation (:func:`invite`): a GAP or access manager offers a role (owner, agent...);
  whoever accepts it gets a role grant;
* a GAP invitation (:func:`invite_gap`): a legal representative offers the post of GAP
  (principal access manager); whoever accepts it is designated GAP, replacing the GAP in
  force. A newer GAP invitation or designation cancels the older pending ones.

The link carries a random token; only its SHA-256 is stored. It can be used once, by a
logged-in person (and only by the person with the bound NRN when one was given), before it
expires, never by the person who sent it, and only while that person still may give what it
offers: a role within their own grant as it is at acceptance (rule ``may_give``), or the post of
GAP (``designate_gap``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from authz import events
from authz import facts as F
from authz.engine import get_engine
from authz.errors import (
    AlreadyGap,
    ChangedMeanwhile,
    Expired,
    InvitationCancelled,
    InvitationUsed,
    NotFound,
    NotTheInvitee,
    RoleAlreadyHeld,
    SenderNotEntitled,
)
from authz.events import Contact, EnterpriseRef
from authz.identifiers import format_bce, normalize_nrn, parse_email
from authz.models import (
    ROLE_RANK,
    Enterprise,
    GapDesignation,
    Invitation,
    Person,
    RoleGrant,
    today,
    utcnow,
)
from authz.permissions import DESIGNATE_GAP, INVITE_MEMBER
from authz.services.base import (
    Caller,
    access_changed,
    atomic,
    authorize,
    authorize_decision,
    authorize_giving,
    facts_for,
    find_enterprise,
    parse_end_date,
    parse_id,
    parse_role,
    parse_scope,
    parse_text,
    record,
    require_active,
    require_person,
)
from authz.services.gap import (
    GAP_ROLE,
    cancel_superseded_gap_invitations,
    current_gap,
    install_gap,
)
from authz.services.grants import active_grant, create_grant, in_force

INVITATION_LIFETIME = timedelta(days=14)
MAX_MESSAGE = 1000  # a word from the sender, in the email only (never stored)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_bound_nrn(nrn: object) -> str | None:
    return normalize_nrn(nrn) if nrn not in (None, "") else None


def _create(
    enterprise: Enterprise,
    inviter: Person,
    email: str,
    role: str,
    *,
    scope: str = "",
    valid_until=None,
    bound_nrn: str | None = None,
) -> tuple[Invitation, str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invitation = Invitation.create(
        enterprise=enterprise,
        email=email,
        role=role,
        scope=scope,
        valid_until=valid_until,
        nrn=bound_nrn,
        token_hash=token_hash(token),
        invited_by=inviter,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    return invitation, token


def _sent(invitation: Invitation, token: str, inviter: Person, message: str = "") -> None:
    """Publish the invitation, with its link's token, for the email; in the bound person's
    language when they are known."""
    invited = Person.get_or_none(Person.nrn == invitation.nrn) if invitation.nrn else None
    events.publish(
        events.InvitationSent(
            EnterpriseRef.of(invitation.enterprise),
            invitation_id=invitation.id,
            email=invitation.email,
            language=invited.language if invited is not None else None,
            inviter=Contact.of(inviter),
            role=invitation.role,
            expires_at=invitation.expires_at,
            token=token,
            message=message,
        )
    )


@atomic
def invite(
    caller: Caller,
    bce: object,
    email: object,
    role: object,
    *,
    valid_until: object = None,
    scope: object = None,
    nrn: object = None,
    message: object = "",
) -> tuple[Invitation, str]:
    """Create an invitation; return it and the token for the link (shown once, never stored).

    ``message``: a word from the sender for the invitation email (not kept).
    """
    enterprise = find_enterprise(bce)
    email = parse_email(email)
    role = parse_role(role)  # never "gap": see invite_gap
    message = parse_text(message, "message", MAX_MESSAGE)
    end = parse_end_date(valid_until)
    domains = parse_scope(scope, role)
    bound_nrn = _parse_bound_nrn(nrn)
    require_active(enterprise)
    inviter = authorize(caller, INVITE_MEMBER, enterprise)
    # Bounded now as at acceptance (check_invitation asks again about the sender then).
    authorize_giving(inviter, F.GrantTerms.of(role, domains, end, bound_nrn), enterprise)
    invitation, token = _create(
        enterprise, inviter, email, role, scope=domains, valid_until=end, bound_nrn=bound_nrn
    )
    record(
        caller,
        "invitation.create",
        "invitation",
        invitation.id,
        enterprise,
        email=email,
        role=role,
        bound_nrn=bound_nrn,
        valid_until=end.isoformat() if end else None,
        scope=domains,
    )
    _sent(invitation, token, inviter, message)
    return invitation, token


@atomic
def invite_gap(
    caller: Caller, bce: object, email: object, *, nrn: object = None
) -> tuple[Invitation, str]:
    """A legal representative invites an email address to become the enterprise's GAP.

    Returns the invitation and the token for the link (shown once, never stored). The older
    pending GAP invitations of the enterprise are cancelled: one offer at a time. The GAP in
    force stays until someone accepts.
    """
    enterprise = find_enterprise(bce)
    email = parse_email(email)
    bound_nrn = _parse_bound_nrn(nrn)
    require_active(enterprise)
    representative = authorize(caller, DESIGNATE_GAP, enterprise)
    gap_now = current_gap(enterprise)
    if bound_nrn is not None and gap_now is not None and gap_now.person.nrn == bound_nrn:
        raise AlreadyGap(f"{gap_now.person.display_name} is already the GAP of {enterprise.name}")
    invitation, token = _create(enterprise, representative, email, GAP_ROLE, bound_nrn=bound_nrn)
    record(
        caller,
        "invitation.create",
        "invitation",
        invitation.id,
        enterprise,
        email=email,
        role=GAP_ROLE,
        bound_nrn=bound_nrn,
        valid_until=None,
        scope="",
    )
    cancel_superseded_gap_invitations(
        caller, enterprise, f"invitation:{invitation.id}", keep=invitation
    )
    _sent(invitation, token, representative)
    return invitation, token


def find_invitation(token: object) -> Invitation:
    if not isinstance(token, str) or not token.strip():
        raise NotFound("this invitation link is not valid")
    invitation = Invitation.get_or_none(Invitation.token_hash == token_hash(token.strip()))
    if invitation is None:
        raise NotFound("this invitation link is not valid")
    return invitation


def check_invitation(caller: Caller, token: object) -> Invitation:
    """The invitation the logged-in caller may accept now; else the error accepting would raise.

    Writes nothing: a page shows what the link offers (or why it cannot be used) before the
    person accepts. Accepting checks it all again, in its transaction.
    """
    person = require_person(caller)
    invitation = find_invitation(token)
    enterprise = invitation.enterprise
    if invitation.cancelled_at is not None:
        raise InvitationCancelled("this invitation was cancelled")
    if invitation.accepted_at is not None:
        raise InvitationUsed(
            "this invitation has already been used",
            by_caller=invitation.accepted_by_id == person.id,
        )
    if invitation.expires_at <= utcnow():
        raise Expired(
            f"this invitation expired on {invitation.expires_at:%Y-%m-%d}: ask for a new one"
        )
    if invitation.valid_until is not None and invitation.valid_until < today():
        raise Expired(
            f"the role this invitation offers ended on {invitation.valid_until.isoformat()}: "
            "ask for a new invitation"
        )
    if invitation.nrn is not None and invitation.nrn != person.nrn:
        raise NotTheInvitee("this invitation was sent to someone else")
    require_active(enterprise)
    authorize_decision(person, F.Offer("invitation", invitation.id, invitation.invited_by.nrn))
    # The invitation is only as good as its sender's rights today.
    if invitation.role == GAP_ROLE:
        inviter_facts, enterprise_facts = facts_for(invitation.invited_by, enterprise)
        if not get_engine().allowed(inviter_facts, DESIGNATE_GAP, enterprise_facts):
            raise SenderNotEntitled(
                "the person who invited you is no longer a legal representative of "
                f"{enterprise.name}; ask for a new invitation"
            )
        gap_now = current_gap(enterprise)
        if gap_now is not None and gap_now.person_id == person.id:
            raise AlreadyGap(f"{person.display_name} is already the GAP of {enterprise.name}")
    else:
        terms = F.GrantTerms.of(
            invitation.role, invitation.scope, invitation.valid_until, person.nrn
        )
        authorize_giving(invitation.invited_by, terms, enterprise, for_invitation=True)
        # Accepting replaces a weaker or equal role, never a stronger one (see create_grant).
        held = active_grant(person, enterprise)
        if (
            held is not None
            and in_force(held)
            and ROLE_RANK[held.role] > ROLE_RANK[invitation.role]
        ):
            raise RoleAlreadyHeld(
                f"{person.display_name} already holds the role {held.role} on "
                f"{enterprise.name}; change that grant instead",
                role=held.role,
            )
    return invitation


@atomic
def accept_invitation(caller: Caller, token: object) -> RoleGrant | GapDesignation:
    """The logged-in person takes what the invitation offers: a role grant, or the GAP post."""
    invitation = check_invitation(caller, token)
    person = require_person(caller)
    enterprise = invitation.enterprise
    used = (
        Invitation.update(accepted_at=utcnow(), accepted_by=person)
        .where(
            (Invitation.id == invitation.id)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
        )
        .execute()
    )
    if used != 1:  # accepted or cancelled by someone else since it was checked
        now = Invitation.get_by_id(invitation.id)
        if now.cancelled_at is not None:
            raise InvitationCancelled("this invitation was cancelled")
        raise InvitationUsed(
            "this invitation has already been used", by_caller=now.accepted_by_id == person.id
        )
    if invitation.role == GAP_ROLE:
        record(
            caller,
            "invitation.accept",
            "invitation",
            invitation.id,
            enterprise,
            person=person.nrn,
            role=GAP_ROLE,
        )
        # The representative who sent the link designates, through the person accepting it.
        return install_gap(caller, enterprise, person, invitation.invited_by, invitation=invitation)
    grant, replaced = create_grant(
        granter=invitation.invited_by,
        person=person,
        enterprise=enterprise,
        role=invitation.role,
        valid_until=invitation.valid_until,
        scope=invitation.scope,
        source="invitation",
        replace_weaker=True,
    )
    Invitation.update(grant=grant).where(Invitation.id == invitation.id).execute()
    record(
        caller,
        "invitation.accept",
        "invitation",
        invitation.id,
        enterprise,
        person=person.nrn,
        role=invitation.role,
        grant=grant.id,
        replaces=replaced.id if replaced else None,
    )
    access_changed(enterprise)
    return grant


@atomic
def cancel_invitation(caller: Caller, invitation_id: object) -> Invitation:
    """Cancel a pending invitation: a role invitation by whoever manages access (invite_member),
    a GAP invitation by a legal representative (designate_gap)."""
    invitation = Invitation.get_or_none(Invitation.id == parse_id(invitation_id, "invitation"))
    if invitation is None:
        raise NotFound(f"no invitation #{invitation_id}")
    enterprise = invitation.enterprise
    if invitation.role == GAP_ROLE:
        authorize(
            caller,
            DESIGNATE_GAP,
            enterprise,
            f"only a legal representative of {enterprise.name} ({format_bce(enterprise.bce)}) "
            "may cancel an invitation to become its GAP",
        )
    else:
        authorize(caller, INVITE_MEMBER, enterprise)
    # The messages say "used or cancelled" as they always did; the class says which.
    if invitation.accepted_at is not None:
        raise InvitationUsed("this invitation has already been used or cancelled")
    if invitation.cancelled_at is not None:
        raise InvitationCancelled("this invitation has already been used or cancelled")
    now = utcnow()
    cancelled = (
        Invitation.update(cancelled_at=now)
        .where(
            (Invitation.id == invitation.id)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
        )
        .execute()
    )
    if cancelled != 1:  # accepted or cancelled by someone else since it was read
        raise ChangedMeanwhile("this invitation has already been used or cancelled")
    invitation.cancelled_at = now
    record(caller, "invitation.cancel", "invitation", invitation.id, enterprise)
    return invitation
