"""Granting, changing and revoking roles (by a GAP or an access manager).

Nobody grants, changes or revokes a role stronger than their own, and nobody acts on an
enterprise they do not manage: both are the policy's rule ``allow_role_change``. What is given
is bounded by the giver's own grant and never goes to the giver (rule ``may_give``, asked by
:func:`authz.services.base.authorize_giving` on every path that gives a grant). A person holds
at most one grant in force per enterprise; changing it ends it and creates its replacement, so
the history of every grant is kept.
"""

from __future__ import annotations

from datetime import date

from authz import facts as F
from authz.errors import ChangedMeanwhile, Conflict, NotFound, RoleAlreadyHeld
from authz.identifiers import normalize_nrn
from authz.models import ROLE_RANK, Enterprise, Person, RoleGrant, today, utcnow
from authz.permissions import REVOKE_ROLE
from authz.services.base import (
    Caller,
    access_changed,
    atomic,
    authorize_giving,
    authorize_role_change,
    ensure_person,
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


def active_grant(person: Person, enterprise: Enterprise) -> RoleGrant | None:
    """The person's grant not yet ended on this enterprise (it may be past its end date)."""
    return (
        RoleGrant.select()
        .where(
            (RoleGrant.person == person)
            & (RoleGrant.enterprise == enterprise)
            & RoleGrant.ended_at.is_null()
        )
        .first()
    )


def in_force(grant: RoleGrant) -> bool:
    return grant.valid_until is None or grant.valid_until >= today()


def end_grant(grant: RoleGrant, by: Person | None, reason: str) -> None:
    """End a grant still in force; Conflict if another transaction ended it since it was read
    (a revocation and a change at the same moment: only one of them wins)."""
    now = utcnow()
    ended = (
        RoleGrant.update(ended_at=now, ended_by=by, end_reason=reason)
        .where((RoleGrant.id == grant.id) & RoleGrant.ended_at.is_null())
        .execute()
    )
    if ended != 1:
        raise ChangedMeanwhile(
            f"role grant #{grant.id} was changed or ended by someone else meanwhile; reload"
        )
    grant.ended_at, grant.ended_by, grant.end_reason = now, by, reason


def create_grant(
    *,
    granter: Person | None,
    person: Person,
    enterprise: Enterprise,
    role: str,
    valid_until: date | None,
    scope: str,
    source: str,
    replace_weaker: bool = False,
) -> tuple[RoleGrant, RoleGrant | None]:
    """Write a grant, closing the holder's expired one (and a weaker one if asked).

    Returns the new grant and the one it replaced, if any. Callers have checked the policy.
    """
    current = active_grant(person, enterprise)
    replaced = None
    if current is not None:
        if not in_force(current):
            end_grant(current, granter, "expired")
        elif replace_weaker and ROLE_RANK[current.role] <= ROLE_RANK[role]:
            end_grant(current, granter, "replaced")
            replaced = current
        else:
            raise RoleAlreadyHeld(
                f"{person.display_name} already holds the role {current.role} on "
                f"{enterprise.name}; change that grant instead",
                role=current.role,
            )
    grant = RoleGrant.create(
        person=person,
        enterprise=enterprise,
        role=role,
        scope=scope,
        valid_until=valid_until,
        source=source,
        granted_by=granter,
    )
    return grant, replaced


@atomic
def grant_role(
    caller: Caller,
    bce: object,
    nrn: object,
    role: object,
    *,
    valid_until: object = None,
    scope: object = None,
) -> RoleGrant:
    """Give the person with ``nrn`` a role on ``bce``, optionally until a date and scoped."""
    enterprise = find_enterprise(bce)
    role = parse_role(role)
    end = parse_end_date(valid_until)
    domains = parse_scope(scope, role)
    require_active(enterprise)
    granter = require_person(caller)
    recipient = normalize_nrn(nrn)
    authorize_giving(granter, F.GrantTerms.of(role, domains, end, recipient), enterprise)
    person = ensure_person(recipient, actor=caller.actor)
    grant, _ = create_grant(
        granter=granter,
        person=person,
        enterprise=enterprise,
        role=role,
        valid_until=end,
        scope=domains,
        source="direct",
    )
    record(
        caller,
        "role.grant",
        "role_grant",
        grant.id,
        enterprise,
        person=person.nrn,
        role=role,
        valid_until=end.isoformat() if end else None,
        scope=domains,
    )
    access_changed(enterprise)
    return grant


def _grant_in_force(grant_id: object) -> RoleGrant:
    grant = RoleGrant.get_or_none(RoleGrant.id == parse_id(grant_id, "role grant"))
    if grant is None:
        raise NotFound(f"no role grant #{grant_id}")
    if grant.ended_at is not None:
        raise Conflict(f"role grant #{grant.id} has already ended ({grant.end_reason})")
    return grant


@atomic
def change_role(
    caller: Caller,
    grant_id: int,
    role: object,
    *,
    valid_until: object = None,
    scope: object = None,
) -> RoleGrant:
    """Replace a grant by one with a new role, end date and scope (all given in full)."""
    grant = _grant_in_force(grant_id)
    enterprise = grant.enterprise
    role = parse_role(role)
    end = parse_end_date(valid_until)
    domains = parse_scope(scope, role)
    require_active(enterprise)
    granter = authorize_role_change(caller, REVOKE_ROLE, grant.role, enterprise)
    own = grant.person_id == granter.id
    terms = F.GrantTerms.of(role, domains, end, grant.person.nrn, changes_own=own)
    authorize_giving(granter, terms, enterprise)
    if (grant.role, grant.valid_until, grant.scope) == (role, end, domains):
        raise Conflict("nothing to change: the grant already has this role, end date and scope")
    end_grant(grant, granter, "replaced")
    new = RoleGrant.create(
        person=grant.person_id,
        enterprise=enterprise,
        role=role,
        scope=domains,
        valid_until=end,
        source=grant.source,
        granted_by=granter,
    )
    record(
        caller,
        "role.change",
        "role_grant",
        new.id,
        enterprise,
        person=grant.person.nrn,
        replaces=grant.id,
        old_role=grant.role,
        role=role,
        valid_until=end.isoformat() if end else None,
        scope=domains,
    )
    access_changed(enterprise)
    return new


@atomic
def revoke_role(caller: Caller, grant_id: int, reason: str = "") -> RoleGrant:
    """End a grant now. Decisions deny at once (the enterprise's epoch moves)."""
    reason = parse_text(reason, "reason", 500)
    grant = _grant_in_force(grant_id)
    enterprise = grant.enterprise
    revoker = authorize_role_change(caller, REVOKE_ROLE, grant.role, enterprise)
    end_grant(grant, revoker, "revoked")
    record(
        caller,
        "role.revoke",
        "role_grant",
        grant.id,
        enterprise,
        person=grant.person.nrn,
        role=grant.role,
        reason=reason,
    )
    access_changed(enterprise)
    return grant
