"""Role requests: "Ajouter une entreprise".

A person asks a role on an enterprise by its BCE number; the enterprise's GAP or an access
manager accepts (possibly with a lesser role, an end date, a scope) or refuses; the person may
withdraw a pending request; requests not decided within 30 days expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from authz.engine import get_engine
from authz.errors import Conflict, Expired, Forbidden, InvalidInput, NoGap, NotFound
from authz.identifiers import format_bce
from authz.models import ROLE_RANK, RoleGrant, RoleRequest, utcnow
from authz.permissions import DECIDE_REQUEST, GRANT_ROLE
from authz.services.base import (
    Caller,
    access_changed,
    atomic,
    authorize,
    authorize_role_change,
    facts_for,
    find_enterprise,
    parse_end_date,
    parse_id,
    parse_role,
    parse_scope,
    record,
    require_active,
    require_person,
)
from authz.services.gap import current_gap
from authz.services.grants import create_grant

REQUEST_LIFETIME = timedelta(days=30)
MAX_MESSAGE = 2000


def _pending(request_id: object) -> RoleRequest:
    request = RoleRequest.get_or_none(RoleRequest.id == parse_id(request_id, "role request"))
    if request is None:
        raise NotFound(f"no role request #{request_id}")
    if request.status != "pending":
        raise Conflict(f"role request #{request.id} is already {request.status}")
    if request.expires_at <= utcnow():
        raise Expired(
            f"role request #{request.id} expired on {request.expires_at:%Y-%m-%d}: "
            "the person must ask again"
        )
    return request


def _close(request: RoleRequest, status: str, **changes) -> None:
    """Move a pending request to ``status``, or fail if someone else decided it first."""
    updated = (
        RoleRequest.update(status=status, decided_at=utcnow(), **changes)
        .where((RoleRequest.id == request.id) & (RoleRequest.status == "pending"))
        .execute()
    )
    if updated != 1:
        raise Conflict(f"role request #{request.id} was decided by someone else meanwhile")


@atomic
def request_role(caller: Caller, bce: object, role: object, message: str = "") -> RoleRequest:
    """Ask the enterprise's GAP for a role."""
    person = require_person(caller)
    enterprise = find_enterprise(bce)
    role = parse_role(role)
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise InvalidInput(f"the message is too long ({len(message)} > {MAX_MESSAGE} characters)")
    require_active(enterprise)
    if current_gap(enterprise) is None:
        raise NoGap(
            f"{enterprise.name} ({format_bce(enterprise.bce)}) has no principal access manager "
            "(GAP) yet, so nobody can accept a request. A legal representative of the "
            'enterprise must first designate a GAP (in Mon Espace, under "Designate the GAP"); '
            "then ask again."
        )
    held = get_engine().roles(*facts_for(person, enterprise))
    if held and ROLE_RANK[held[0]] >= ROLE_RANK[role]:
        raise Conflict(f"you already hold the role {held[0]} on {enterprise.name}")
    if (
        RoleRequest.select()
        .where(
            (RoleRequest.person == person)
            & (RoleRequest.enterprise == enterprise)
            & (RoleRequest.status == "pending")
        )
        .exists()
    ):
        raise Conflict(f"you already have a pending request for {enterprise.name}")
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
    return request


@atomic
def withdraw_request(caller: Caller, request_id: object) -> RoleRequest:
    """The requester takes back a pending request."""
    person = require_person(caller)
    request = _pending(request_id)
    if request.person_id != person.id:
        raise Forbidden("only the person who made a request may withdraw it")
    _close(request, "withdrawn", decided_by=person)
    record(caller, "request.withdraw", "role_request", request.id, request.enterprise)
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
    request = _pending(request_id)
    enterprise = request.enterprise
    role = request.role if role in (None, "") else parse_role(role)
    if ROLE_RANK[role] > ROLE_RANK[request.role]:
        raise InvalidInput(
            f"the request asks for {request.role}; it cannot be accepted with the stronger "
            f"role {role}"
        )
    end = parse_end_date(valid_until)
    domains = parse_scope(scope, role)
    require_active(enterprise)
    decider = authorize(
        caller,
        DECIDE_REQUEST,
        enterprise,
        f"you do not manage access for {enterprise.name} ({format_bce(enterprise.bce)})",
    )
    authorize_role_change(caller, GRANT_ROLE, role, enterprise)
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
    access_changed(enterprise)
    return grant


@atomic
def refuse_request(caller: Caller, request_id: object, reason: str = "") -> RoleRequest:
    """Refuse a pending request, with a reason the requester will read."""
    request = _pending(request_id)
    enterprise = request.enterprise
    decider = authorize(
        caller,
        DECIDE_REQUEST,
        enterprise,
        f"you do not manage access for {enterprise.name} ({format_bce(enterprise.bce)})",
    )
    reason = (reason or "").strip()
    if len(reason) > MAX_MESSAGE:
        raise InvalidInput(f"the reason is too long ({len(reason)} > {MAX_MESSAGE} characters)")
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
    for request in overdue:
        RoleRequest.update(status="expired", decided_at=now).where(
            RoleRequest.id == request.id
        ).execute()
        record(caller, "request.expire", "role_request", request.id, request.enterprise)
    return len(overdue)
