"""Mandates between enterprises: a client lets an intermediary (a firm) act for it.

A client enterprise (the mandator) gives a firm (the mandatee: an accountant, a social
secretariat), found by its BCE number, a mandate for one or more service domains, from a day,
optionally until a day. Its life:

    proposed (pending) --accept--> accepted --end (either side)--> ended
          |  \\--refuse (the firm)--> refused
          \\--end (the client, before the firm decides)--> withdrawn

Who may do what is the policy's (``policies/enterprise.polar``): proposing and ending for the
client need ``give_mandate`` on the client (its GAP or a legal representative: not its access
managers); accepting, refusing and ending for the firm need ``accept_mandate`` on the firm (its
GAP). Which of the firm's members then act for the client is decided inside the firm, by
granting roles there (``client_agent`` and above give ``act_for_clients``): nothing here.

Every step is one transaction with its audit event and its domain event (both sides' GAPs are
told). A step that changes what the mandate gives (accepting, ending an accepted one) moves
the client's authorization epoch: decisions about the client read its mandates; decisions
about the firm do not.
"""

from __future__ import annotations

from datetime import date, datetime

from authz import epochs, events
from authz import facts as F
from authz.engine import get_engine
from authz.errors import (
    AlreadyDecided,
    EnterpriseStopped,
    Forbidden,
    InvalidInput,
    MandateOpen,
    NotFound,
)
from authz.events import Contact, EnterpriseRef
from authz.identifiers import format_bce
from authz.models import Enterprise, EnterpriseMandate, Person, today, utcnow
from authz.permissions import ACCEPT_MANDATE, GIVE_MANDATE
from authz.services.base import (
    Caller,
    atomic,
    facts_for,
    find_enterprise,
    parse_id,
    parse_text,
    record,
    require_person,
)
from authz.services.gap import current_gap

MAX_MESSAGE = 2000
MAX_DOMAINS = 20
OPEN = ("pending", "accepted")
MANDATOR, MANDATEE = "mandator", "mandatee"


# -- input --------------------------------------------------------------------------------------


def parse_domains(value: object) -> str:
    """Service domains as stored: sorted, space-separated; at least one (a mandate always
    names what it is for)."""
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise InvalidInput("the service domains must be a list of names")
    for domain in items:
        if not isinstance(domain, str) or not F.SERVICE_DOMAIN_RE.match(domain):
            raise InvalidInput(
                f"invalid service domain {domain!r}: lowercase letters, digits, - and _"
            )
    domains = sorted(set(items))
    if not domains:
        raise InvalidInput("a mandate names at least one service domain")
    if len(domains) > MAX_DOMAINS:
        raise InvalidInput(f"a mandate names at most {MAX_DOMAINS} service domains")
    return " ".join(domains)


def parse_day(value: object, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise InvalidInput(f"invalid {what} {value!r}: expected a date, not a time")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"invalid {what} {value!r}: expected YYYY-MM-DD") from None
    if not isinstance(value, date):
        raise InvalidInput(f"invalid {what} {value!r}")
    return value


def parse_period(valid_from: object, valid_until: object) -> tuple[date, date | None]:
    """First and last day (inclusive): from today by default, never in the past; the last
    day, when given, not before the first."""
    first = parse_day(valid_from, "start date") or today()
    if first < today():
        raise InvalidInput(f"the start date {first.isoformat()} is in the past")
    last = parse_day(valid_until, "end date")
    if last is not None and last < first:
        raise InvalidInput(
            f"the end date {last.isoformat()} comes before the start date {first.isoformat()}"
        )
    return first, last


# -- reads --------------------------------------------------------------------------------------


def find_mandate(mandate_id: object) -> EnterpriseMandate:
    mandate = EnterpriseMandate.get_or_none(EnterpriseMandate.id == parse_id(mandate_id, "mandate"))
    if mandate is None:
        raise NotFound(f"no mandate #{mandate_id}")
    return mandate


def open_mandate(mandator: Enterprise, mandatee: Enterprise) -> EnterpriseMandate | None:
    """The pending or accepted mandate between the two, if any (there is at most one)."""
    return (
        EnterpriseMandate.select()
        .where(
            (EnterpriseMandate.mandator == mandator)
            & (EnterpriseMandate.mandatee == mandatee)
            & EnterpriseMandate.status.in_(OPEN)
        )
        .first()
    )


# -- authorization ------------------------------------------------------------------------------


def _named(enterprise: Enterprise) -> str:
    return f"{enterprise.name} ({format_bce(enterprise.bce)})"


def _allowed(person: Person, permission: str, enterprise: Enterprise) -> bool:
    person_facts, enterprise_facts = facts_for(person, enterprise)
    return get_engine().allowed(person_facts, permission, enterprise_facts)


def _require(caller: Caller, permission: str, enterprise: Enterprise) -> Person:
    person = require_person(caller)
    if _allowed(person, permission, enterprise):
        return person
    if permission == GIVE_MANDATE:
        raise Forbidden(
            f"only the GAP or a legal representative of {_named(enterprise)} gives or ends "
            "its mandates to intermediaries"
        )
    raise Forbidden(
        f"only the GAP of {_named(enterprise)} accepts, refuses or ends the mandates its "
        "clients give it"
    )


def _require_active(enterprise: Enterprise, side: str) -> None:
    if not enterprise.is_active:
        who = "the client" if side == MANDATOR else "the intermediary"
        raise EnterpriseStopped(
            f"{_named(enterprise)} ({who}) has stopped according to the BCE registry: "
            "it can no longer take part in a mandate"
        )


# -- events -------------------------------------------------------------------------------------


def _gap_contact(enterprise: Enterprise) -> Contact | None:
    designation = current_gap(enterprise)
    return Contact.of(designation.person) if designation is not None else None


def _publish(kind: type[events.MandateEvent], mandate: EnterpriseMandate, by: Person, **extra):
    events.publish(
        kind(
            EnterpriseRef.of(mandate.mandator),
            mandate_id=mandate.id,
            firm=EnterpriseRef.of(mandate.mandatee),
            domains=mandate.domain_list,
            valid_from=mandate.valid_from,
            valid_until=mandate.valid_until,
            by=Contact.of(by),
            client_gap=_gap_contact(mandate.mandator),
            firm_gap=_gap_contact(mandate.mandatee),
            **extra,
        )
    )


def _details(mandate: EnterpriseMandate, **extra) -> dict:
    until = mandate.valid_until.isoformat() if mandate.valid_until else None
    return {
        "mandator": mandate.mandator.bce,
        "mandatee": mandate.mandatee.bce,
        "domains": list(mandate.domain_list),
        "valid_from": mandate.valid_from.isoformat(),
        "valid_until": until,
        **extra,
    }


def _moved(mandate: EnterpriseMandate) -> None:
    """What the mandate gives changed: decisions about the client must be taken afresh."""
    epochs.bump([mandate.mandator_id])


def _set_status(mandate: EnterpriseMandate, expected: str, **changes) -> None:
    """Move the mandate on from ``expected``, in one guarded UPDATE: of two people deciding
    at the same moment, one wins and the other is told."""
    updated = (
        EnterpriseMandate.update(**changes)
        .where((EnterpriseMandate.id == mandate.id) & (EnterpriseMandate.status == expected))
        .execute()
    )
    if updated != 1:
        current = EnterpriseMandate.get_by_id(mandate.id).status
        raise AlreadyDecided(f"mandate #{mandate.id} is already {current}", status=current)
    for field, value in changes.items():
        setattr(mandate, field, value)


# -- the services -------------------------------------------------------------------------------


@atomic
def propose_mandate(
    caller: Caller,
    mandator_bce: object,
    mandatee_bce: object,
    domains: object,
    valid_from: object = None,
    valid_until: object = None,
    message: object = "",
) -> EnterpriseMandate:
    """The client ``mandator_bce`` proposes a mandate to the firm ``mandatee_bce`` for
    ``domains``, from ``valid_from`` (default today) until ``valid_until`` (default: until
    ended). Pending until the firm's GAP accepts it: it gives nothing before."""
    mandator, mandatee = find_enterprise(mandator_bce), find_enterprise(mandatee_bce)
    if mandator.id == mandatee.id:
        raise InvalidInput("an enterprise gives no mandate to itself")
    stored_domains = parse_domains(domains)
    first, last = parse_period(valid_from, valid_until)
    text = parse_text(message, "message", MAX_MESSAGE)
    _require_active(mandator, MANDATOR)
    proposer = _require(caller, GIVE_MANDATE, mandator)
    _require_active(mandatee, MANDATEE)
    existing = open_mandate(mandator, mandatee)
    if existing is not None:
        raise MandateOpen(
            f"{_named(mandator)} already has a {existing.status} mandate (#{existing.id}) with "
            f"{_named(mandatee)}: end it before giving another"
        )
    mandate = EnterpriseMandate.create(
        mandator=mandator,
        mandatee=mandatee,
        domains=stored_domains,
        valid_from=first,
        valid_until=last,
        status="pending",
        message=text,
        proposed_by=proposer,
    )
    record(
        caller, "mandate.propose", "enterprise_mandate", mandate.id, mandator, **_details(mandate)
    )
    _publish(events.MandateProposed, mandate, proposer, message=text)
    return mandate


@atomic
def accept_mandate(caller: Caller, mandate_id: object) -> EnterpriseMandate:
    """The firm's GAP accepts a pending mandate: from its first day, the firm's members whose
    role gives ``act_for_clients`` act for the client in its domains."""
    mandate = find_mandate(mandate_id)
    _require_active(mandate.mandator, MANDATOR)
    _require_active(mandate.mandatee, MANDATEE)
    decider = _require(caller, ACCEPT_MANDATE, mandate.mandatee)
    _set_status(mandate, "pending", status="accepted", decided_by=decider, decided_at=utcnow())
    record(
        caller,
        "mandate.accept",
        "enterprise_mandate",
        mandate.id,
        mandate.mandator,
        **_details(mandate),
    )
    _publish(events.MandateAccepted, mandate, decider)
    _moved(mandate)
    return mandate


@atomic
def refuse_mandate(caller: Caller, mandate_id: object, reason: object = "") -> EnterpriseMandate:
    """The firm's GAP refuses a pending mandate (it never gave anything)."""
    mandate = find_mandate(mandate_id)
    text = parse_text(reason, "reason", MAX_MESSAGE)
    decider = _require(caller, ACCEPT_MANDATE, mandate.mandatee)
    _set_status(
        mandate,
        "pending",
        status="refused",
        decided_by=decider,
        decided_at=utcnow(),
        reason=text,
    )
    record(
        caller,
        "mandate.refuse",
        "enterprise_mandate",
        mandate.id,
        mandate.mandator,
        **_details(mandate, reason=text),
    )
    _publish(events.MandateRefused, mandate, decider, reason=text)
    return mandate


@atomic
def end_mandate(caller: Caller, mandate_id: object, reason: object = "") -> EnterpriseMandate:
    """Either side ends a mandate: the client (``give_mandate`` on it) ends an accepted one or
    withdraws a pending one; the firm (``accept_mandate`` on it) ends an accepted one (a
    pending one, it refuses). Ending never waits for the other side's consent."""
    mandate = find_mandate(mandate_id)
    text = parse_text(reason, "reason", MAX_MESSAGE)
    person = require_person(caller)
    if _allowed(person, GIVE_MANDATE, mandate.mandator):
        side = MANDATOR
    elif _allowed(person, ACCEPT_MANDATE, mandate.mandatee):
        side = MANDATEE
    else:
        raise Forbidden(
            f"only the GAP or a legal representative of {_named(mandate.mandator)}, or the GAP "
            f"of {_named(mandate.mandatee)}, ends this mandate"
        )
    if mandate.status not in OPEN:
        raise AlreadyDecided(
            f"mandate #{mandate.id} is already {mandate.status}", status=mandate.status
        )
    was_pending = mandate.status == "pending"
    if was_pending and side == MANDATEE:
        raise AlreadyDecided(
            f"mandate #{mandate.id} was never accepted: refuse it instead", status="pending"
        )
    _set_status(
        mandate,
        mandate.status,
        status="withdrawn" if was_pending else "ended",
        ended_by=person,
        ended_at=utcnow(),
        ended_side=side,
        reason=text,
    )
    action = "mandate.withdraw" if was_pending else "mandate.end"
    record(
        caller,
        action,
        "enterprise_mandate",
        mandate.id,
        mandate.mandator,
        **_details(mandate, side=side, reason=text),
    )
    _publish(events.MandateEnded, mandate, person, side=side, was_pending=was_pending, reason=text)
    if not was_pending:
        _moved(mandate)
    return mandate


def mandates_of_enterprise(bce: object, side: str) -> list[EnterpriseMandate]:
    """The enterprise's mandates, newest first: those it gave (``side`` mandator) or those it
    was given (mandatee), whatever their status. Reading is not authorized here: pages show
    them to whoever the policy lets see them."""
    enterprise = find_enterprise(bce)
    column = EnterpriseMandate.mandator if side == MANDATOR else EnterpriseMandate.mandatee
    if side not in (MANDATOR, MANDATEE):
        raise InvalidInput(f"unknown side {side!r}: mandator or mandatee")
    return list(
        EnterpriseMandate.select()
        .where(column == enterprise)
        .order_by(EnterpriseMandate.proposed_at.desc(), EnterpriseMandate.id.desc())
    )
