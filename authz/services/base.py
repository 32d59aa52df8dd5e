"""What every mandate service shares: the caller, input parsing, authorization and auditing.

A service function runs in one transaction: it reads the current state, asks the policy,
writes the change, appends the audit event and bumps the enterprise's authorization epoch;
if anything fails, nothing is written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import peewee

from authz import audit, db, epochs, mandates
from authz import facts as F
from authz.engine import get_engine
from authz.errors import (
    BeyondOwnGrant,
    ChangedMeanwhile,
    EnterpriseStopped,
    Forbidden,
    InvalidInput,
    NotFound,
    OwnAccess,
    SenderBeyondOwnGrant,
    SenderNotEntitled,
)
from authz.identifiers import CONTROL_CHARACTERS, format_bce, normalize_bce, normalize_nrn
from authz.models import GRANTABLE_ROLES, MAX_ROW_ID, Enterprise, Person, today
from authz.permissions import DESIGNATE_GAP, GRANT_ROLE
from authz.persons import PersonData, record_person


@dataclass(frozen=True)
class Caller:
    """Who asks for a change, and from where (recorded in the audit log)."""

    person: Person | None = None
    ip: str | None = None
    label: str | None = None

    @classmethod
    def for_person(cls, person: Person, ip: str | None = None) -> Caller:
        return cls(person=person, ip=ip)

    @classmethod
    def operator(cls, name: str = "cli", ip: str | None = None) -> Caller:
        return cls(label=f"operator:{name}", ip=ip)

    @classmethod
    def system(cls) -> Caller:
        return cls(label="system")

    @property
    def actor(self) -> str:
        if self.person is not None:
            return f"person:{self.person.nrn}"
        return self.label or "unknown"


def atomic(function):
    """Run a service in one transaction; a lost race on a unique index becomes a Conflict."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            with db.transaction():
                result = function(*args, **kwargs)
        except peewee.IntegrityError:
            raise ChangedMeanwhile(
                "someone else changed the same access at the same moment; reload and try again"
            ) from None
        return result

    return wrapper


def require_person(caller: Caller) -> Person:
    if caller.person is None:
        raise Forbidden("this action needs a logged-in person")
    return caller.person


def find_enterprise(bce: object) -> Enterprise:
    number = normalize_bce(bce)
    enterprise = Enterprise.get_or_none(Enterprise.bce == number)
    if enterprise is None:
        raise NotFound(f"no enterprise with BCE number {format_bce(number)} is registered")
    return enterprise


def require_active(enterprise: Enterprise) -> None:
    if not enterprise.is_active:
        raise EnterpriseStopped(
            f"{enterprise.name} ({format_bce(enterprise.bce)}) has stopped according to the "
            "BCE registry: its access can no longer be changed"
        )


def ensure_person(
    nrn: object,
    given_name: str | None = None,
    family_name: str | None = None,
    *,
    actor: str = "system",
) -> Person:
    """The person with this NRN, created (names may be empty, the creation audited with
    ``actor``) if never seen before; a known person is left as they are."""
    person, _ = record_person(
        PersonData(normalize_nrn(nrn), given_name or None, family_name or None),
        actor=actor,
        policy_version=get_engine().version,
        update=False,
    )
    return person


def facts_for(
    person: Person, enterprise: Enterprise, service_domain: str | None = None
) -> tuple[F.PersonFacts, F.EnterpriseFacts]:
    # The same loading as every decision: one statement, read in this transaction.
    return mandates.load_pair(person.nrn, enterprise.bce, today(), service_domain)


def authorize(
    caller: Caller, permission: str, enterprise: Enterprise, message: str | None = None
) -> Person:
    """The caller's Person, if the policy allows ``permission``; else Forbidden(message), by
    default the refusal of that permission in words (:func:`refusal`)."""
    person = require_person(caller)
    person_facts, enterprise_facts = facts_for(person, enterprise)
    if not get_engine().allowed(person_facts, permission, enterprise_facts):
        raise Forbidden(message or refusal(permission, enterprise))
    return person


def refusal(permission: str, enterprise: Enterprise) -> str:
    """Why a mandate permission is refused: only legal representatives designate the GAP;
    every other one belongs to the people who manage the enterprise's access."""
    named = f"{enterprise.name} ({format_bce(enterprise.bce)})"
    if permission == DESIGNATE_GAP:
        return f"only a legal representative of {named} may designate its GAP"
    return f"you do not manage access for {named}"


def authorize_role_change(caller: Caller, action: str, role: str, enterprise: Enterprise) -> Person:
    """Nobody grants or revokes a role stronger than their own (see the policy)."""
    person = require_person(caller)
    person_facts, enterprise_facts = facts_for(person, enterprise)
    engine = get_engine()
    if not engine.allowed(person_facts, action, enterprise_facts):
        raise Forbidden(refusal(action, enterprise))
    if not engine.allow_role_change(person_facts, action, role, enterprise_facts):
        raise Forbidden(f"you cannot grant or revoke the role {role}: it is stronger than yours")
    return person


def authorize_giving(
    giver: Person, terms: F.GrantTerms, enterprise: Enterprise, *, for_invitation: bool = False
) -> None:
    """Forbidden unless the policy's rule ``may_give`` lets ``giver`` give a grant on ``terms``
    now: a role they hold and may grant, within their own grant, and not to themselves.

    ``for_invitation``: the giver is the sender of an invitation being accepted; the refusal
    is worded for the person accepting it.
    """
    engine = get_engine()
    giver_facts, enterprise_facts = facts_for(giver, enterprise)
    if engine.may_give(giver_facts, terms, enterprise_facts):
        return
    why = engine.why_not_give(giver_facts, terms, enterprise_facts)
    if for_invitation:
        if why == "oneself":
            raise OwnAccess("you sent this invitation yourself: nobody accepts their own")
        if why == "bound":
            raise SenderBeyondOwnGrant(
                "the person who invited you can no longer give this role on these terms (their "
                "own grant ends earlier or covers fewer service domains); ask for a new invitation"
            )
        raise SenderNotEntitled(
            "the person who invited you no longer manages this role; ask for a new invitation"
        )
    if why == "oneself":
        raise OwnAccess(
            "nobody gives themselves a grant: ask another person who manages access "
            "(an access manager may only shorten or weaken their own grant)"
        )
    if why == "bound":
        raise BeyondOwnGrant(
            "you cannot give more than your own grant gives: no later or missing end date, "
            "no service domain it does not cover"
        )
    if not engine.allowed(giver_facts, GRANT_ROLE, enterprise_facts):
        raise Forbidden(refusal(GRANT_ROLE, enterprise))
    raise Forbidden(f"you cannot grant the role {terms.role}: it is stronger than yours")


def authorize_decision(person: Person, offer: F.Offer) -> None:
    """OwnAccess if ``person`` made ``offer``: nobody decides their own (rule ``may_decide``)."""
    person_facts = F.PersonFacts(person.nrn)
    if get_engine().may_decide(person_facts, offer):
        return
    if offer.kind == "invitation":
        raise OwnAccess("you sent this invitation yourself: nobody accepts their own")
    raise OwnAccess(
        "nobody decides their own role request: another person who manages access must; "
        "you may withdraw it"
    )


def record(
    caller: Caller,
    action: str,
    target_type: str,
    target_id: object,
    enterprise: Enterprise | None = None,
    **details,
) -> None:
    audit.record(
        actor=caller.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        enterprise_bce=enterprise.bce if enterprise else None,
        details=details,
        ip=caller.ip,
        policy_version=get_engine().version,
    )


def access_changed(enterprise: Enterprise) -> None:
    """Bump the authorization epoch in the changing transaction (decision caches key on it)."""
    epochs.bump([enterprise.id])


# -- input parsing ---------------------------------------------------------------------------


def parse_id(value: object, what: str) -> int:
    """A row id from a form or a URL: a positive whole number; anything else is InvalidInput."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise InvalidInput(f"invalid {what} id {value!r}")
    if number <= 0:
        raise InvalidInput(f"invalid {what} id {value!r}")
    if number > MAX_ROW_ID:
        raise NotFound(f"no {what} #{number}")
    return number


def parse_text(value: object, what: str, max_length: int = 2000) -> str:
    """Free text typed by a person (a message, a reason), stripped and bounded."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"the {what} must be text")
    text = value.strip()
    if CONTROL_CHARACTERS.search(text):
        raise InvalidInput(f"the {what} holds control characters")
    if len(text) > max_length:
        raise InvalidInput(f"the {what} is too long ({len(text)} > {max_length} characters)")
    return text


def parse_role(role: object, allowed: Iterable[str] = GRANTABLE_ROLES) -> str:
    allowed = tuple(allowed)
    if role not in allowed:
        if role == "gap":
            raise InvalidInput(
                "the GAP role is not granted: a legal representative designates the GAP"
            )
        raise InvalidInput(f"unknown role {role!r}: expected one of {', '.join(allowed)}")
    return role  # type: ignore[return-value]


def parse_end_date(value: object) -> date | None:
    """An optional end date (inclusive), not in the past."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise InvalidInput(f"invalid end date {value!r}: expected a date, not a time")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"invalid end date {value!r}: expected YYYY-MM-DD") from None
    if not isinstance(value, date):
        raise InvalidInput(f"invalid end date {value!r}")
    if value < today():
        raise InvalidInput(f"the end date {value.isoformat()} is in the past")
    return value


def parse_scope(value: object, role: str) -> str:
    """Service domains as stored: sorted, space-separated; empty for every domain."""
    if value is None or value == "":
        return ""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise InvalidInput(f"invalid scope {value!r}: expected a list of service domains")
    for domain in items:
        if not isinstance(domain, str) or not F.SERVICE_DOMAIN_RE.match(domain):
            raise InvalidInput(
                f"invalid service domain {domain!r}: lowercase letters, digits, - and _"
            )
    domains = sorted(set(items))
    if domains and role == "access_manager":
        raise InvalidInput(
            "an access manager's role cannot be limited to service domains: "
            "managing access concerns the whole enterprise"
        )
    return " ".join(domains)
