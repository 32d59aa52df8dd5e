"""Role requests: "Ajouter une entreprise".

A person asks a role on an enterprise by its BCE number; the enterprise's GAP or an access
manager accepts (possibly with a lesser role, an end date, a scope) or refuses; the person may
withdraw a pending request; requests not decided within 30 days expire. Nobody decides their
own request (rule ``may_decide``), and what is granted is bounded by the decider's own grant
(rule ``may_give``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from authz import events
from authz import facts as F
from authz.errors import (
    AlreadyDecided,
    AlreadyGap,
    Expired,
    Forbidden,
    InvalidInput,
    NoGap,
    NotFound,
    RequestPending,
    RoleAlreadyHeld,
)
from authz.events import Contact, EnterpriseRef
from authz.identifiers import format_bce
from authz.models import ROLE_RANK, RoleGrant, RoleRequest, utcnow
from authz.permissions import DECIDE_REQUEST
from authz.services.base import (
    Caller,
    access_changed,
    atomic,
    authorize,
    authorize_decision,
    authorize_giving,
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
from authz.services.gap import current_gap
from authz.services.grants import active_grant, create_grant, in_force

REQUEST_LIFETIME = timedelta(days=30)
MAX_MESSAGE = 2000


def _find(request_id: object) -> RoleRequest:
    request = RoleRequest.get_or_none(RoleRequest.id == parse_id(request_id, "role request"))
    if request is None:
        raise NotFound(f"no role request #{request_id}")
    return request


def _require_pending(request: RoleRequest) -> None:
    """Called once the caller is known to be entitled to the request's state."""
    if request.status != "pending":
        raise AlreadyDecided(
            f"role request #{request.id} is already {request.status}", status=request.status
        )
    if request.expires_at <= utcnow():
        raise Expired(
            f"role request #{request.id} expired on {request.expires_at:%Y-%m-%d}: "
            "the person must ask again"
        )


def _authorize_decision(caller: Caller, request: RoleRequest):
    decider = authorize(caller, DECIDE_REQUEST, request.enterprise)
    authorize_decision(decider, F.Offer("request", request.id, request.person.nrn))
    return decider


def _close(request: RoleRequest, status: str, **changes) -> None:
    """Move a pending request to ``status``, or fail if someone else decided it first."""
    updated = (
        RoleRequest.update(status=status, decided_at=utcnow(), **changes)
        .where((RoleRequest.id == request.id) & (RoleRequest.status == "pending"))
        .execute()
    )
    if updated != 1:
        status = RoleRequest.get_by_id(request.id).status
        raise AlreadyDecided(
            f"role request #{request.id} was {status} by someone else meanwhile", status=status
        )


@atomic
def request_role(caller: Caller, bce: object, role: object, message: str = "") -> RoleRequest:
    """Ask the enterprise's GAP for a role."""
    person = require_person(caller)
    enterprise = find_enterprise(bce)
    role = parse_role(role)
    message = parse_text(message, "message", MAX_MESSAGE)
    require_active(enterprise)
    gap = current_gap(enterprise)
    if gap is None:
        raise NoGap(
            f"{enterprise.name} ({format_bce(enterprise.bce)}) has no principal access manager "
            "(GAP) yet, so nobody can accept a request. A legal representative of the "
            'enterprise must first designate a GAP (in Mon Espace, under "Designate the GAP"); '
            "then ask again.",
            enterprise_name=enterprise.name,
        )
    if gap.person_id == person.id:
        raise AlreadyGap(f"you already hold every role on {enterprise.name}: you are its GAP")
    # The grant in force, whatever its scope. Asking for the same role is useful only to lift
    # a scope; asking for a weaker one never is.
    held = active_grant(person, enterprise)
    if (
        held is not None
        and in_force(held)
        and (ROLE_RANK[held.role] > ROLE_RANK[role] or (held.role == role and not held.scope))
    ):
        raise RoleAlreadyHeld(
            f"you already hold the role {held.role} on {enterprise.name}", role=held.role
        )
    if (
        RoleRequest.select()
        .where(
            (RoleRequest.person == person)
            & (RoleRequest.enterprise == enterprise)
            & (RoleRequest.status == "pending")
        )
        .exists()
    ):
        raise RequestPending(f"you already have a pending request for {enterprise.name}")
    now = utcnow()
    request = RoleRequest.create(
        person=person,
        enterprise=enterprise,
        role=role,
        message=message,
        created_at=now,
        expires_at=now + REQUEST_LIFETIME,
    )
    record(caller, "request.create", "role_request", request.id, enterprise, role=role)
    events.publish(
        events.RoleRequested(
            EnterpriseRef.of(enterprise),
            request_id=request.id,
            requester=Contact.of(person),
            role=role,
            message=message,
            gap=Contact.of(gap.person),
        )
    )
    return request


@atomic
def withdraw_request(caller: Caller, request_id: object) -> RoleRequest:
    """The requester takes back a pending request."""
    person = require_person(caller)
    request = _find(request_id)
    if request.person_id != person.id:
        raise Forbidden("only the person who made a request may withdraw it")
    _require_pending(request)
    _close(request, "withdrawn", decided_by=person)
    record(caller, "request.withdraw", "role_request", request.id, request.enterprise)
    gap = current_gap(request.enterprise)
    events.publish(
        events.RequestWithdrawn(
            EnterpriseRef.of(request.enterprise),
            request_id=request.id,
            requester=Contact.of(person),
            role=request.role,
            gap=Contact.of(gap.person) if gap is not None else None,
        )
    )
    return RoleRequest.get_by_id(request.id)


@atomic
def accept_request(
    caller: Caller,
    request_id: object,
    *,
    role: object = None,
    valid_until: object = None,
    scope: object = None,
) -> RoleGrant:
    """Grant the requested role, or a lesser one, possibly until a date and scoped."""
    request = _find(request_id)
    enterprise = request.enterprise
    decider = _authorize_decision(caller, request)
    _require_pending(request)
    role = request.role if role in (None, "") else parse_role(role)
    if ROLE_RANK[role] > ROLE_RANK[request.role]:
        raise InvalidInput(
            f"the request asks for {request.role}; it cannot be accepted with the stronger "
            f"role {role}"
        )
    end = parse_end_date(valid_until)
    domains = parse_scope(scope, role)
    require_active(enterprise)
    authorize_giving(decider, F.GrantTerms.of(role, domains, end, request.person.nrn), enterprise)
    grant, replaced = create_grant(
        granter=decider,
        person=request.person,
        enterprise=enterprise,
        role=role,
        valid_until=end,
        scope=domains,
        source="request",
        replace_weaker=True,
    )
    _close(request, "accepted", decided_by=decider, grant=grant)
    record(
        caller,
        "request.accept",
        "role_request",
        request.id,
        enterprise,
        person=request.person.nrn,
        requested_role=request.role,
        role=role,
        grant=grant.id,
        replaces=replaced.id if replaced else None,
        valid_until=end.isoformat() if end else None,
        scope=domains,
    )
    events.publish(
        events.RequestAccepted(
            EnterpriseRef.of(enterprise),
            request_id=request.id,
            requester=Contact.of(request.person),
            requested_role=request.role,
            role=role,
        )
    )
    access_changed(enterprise)
    return grant


@atomic
def refuse_request(caller: Caller, request_id: object, reason: str = "") -> RoleRequest:
    """Refuse a pending request, with a reason the requester will read."""
    request = _find(request_id)
    enterprise = request.enterprise
    decider = _authorize_decision(caller, request)
    _require_pending(request)
    reason = parse_text(reason, "reason", MAX_MESSAGE)
    _close(request, "refused", decided_by=decider, reason=reason)
    record(
        caller,
        "request.refuse",
        "role_request",
        request.id,
        enterprise,
        person=request.person.nrn,
        reason=reason,
    )
    events.publish(
        events.RequestRefused(
            EnterpriseRef.of(enterprise),
            request_id=request.id,
            requester=Contact.of(request.person),
            role=request.role,
            reason=reason,
        )
    )
    return RoleRequest.get_by_id(request.id)


@atomic
def expire_requests(now: datetime | None = None) -> int:
    """Mark pending requests past their 30 days as expired; return how many."""
    now = now or utcnow()
    caller = Caller.system()
    overdue = list(
        RoleRequest.select().where(
            (RoleRequest.status == "pending") & (RoleRequest.expires_at <= now)
        )
    )
    expired = 0
    for request in overdue:
        updated = (
            RoleRequest.update(status="expired", decided_at=now)
            .where((RoleRequest.id == request.id) & (RoleRequest.status == "pending"))
            .execute()
        )
        if updated != 1:  # decided or withdrawn since it was read: nothing to tell
            continue
        expired += 1
        record(caller, "request.expire", "role_request", request.id, request.enterprise)
        events.publish(
            events.RequestExpired(
                EnterpriseRef.of(request.enterprise),
                request_id=request.id,
                requester=Contact.of(request.person),
                role=request.role,
                created_at=request.created_at,
            )
        )
    return expired
