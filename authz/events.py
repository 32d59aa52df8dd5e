"""Domain events: what a mandate service did, for whoever needs to hear of it.

A service says what happened by publishing a small frozen event (a role request made, an
invitation sent, a GAP replaced...) inside its own transaction. Subscribers run at once,
in that same transaction: the notifications (``admin_ui.notifications``) write their outbox
emails there, so an action and the emails telling of it commit together or not at all, and
a subscriber that fails undoes the action. The same happens whether the action comes from a
page, the command line or a worker, provided the process registered its subscribers.

Events carry plain values (:class:`Contact`, :class:`EnterpriseRef`, ids, role codes), never
rows: a subscriber needs no query to word its message, and never sees more than it is told.

Subscriptions are per process and global; :func:`muted` silences publishing in a block (bulk
seeding, imports), for the current thread or task only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from authz import db

if TYPE_CHECKING:
    from authz.models import Enterprise, Person


@dataclass(frozen=True)
class Contact:
    """Whom a message may reach: a person's name (may be empty), email (None when unknown) and
    preferred language (None when unknown)."""

    name: str
    email: str | None = None
    language: str | None = None

    @classmethod
    def of(cls, person: Person) -> Contact:
        name = f"{person.given_name or ''} {person.family_name or ''}".strip()
        return cls(name=name, email=person.email or None, language=person.language or None)


@dataclass(frozen=True)
class EnterpriseRef:
    """An enterprise by its BCE number (10 digits) and legal name."""

    bce: str
    name: str

    @classmethod
    def of(cls, enterprise: Enterprise) -> EnterpriseRef:
        return cls(bce=enterprise.bce, name=enterprise.name)


@dataclass(frozen=True)
class Event:
    """Base of every domain event: what happened, on which enterprise."""

    enterprise: EnterpriseRef


@dataclass(frozen=True)
class RoleRequested(Event):
    """A person asked a role on an enterprise; ``gap`` is who will decide (its GAP)."""

    request_id: int
    requester: Contact
    role: str
    message: str
    gap: Contact | None


@dataclass(frozen=True)
class RequestAccepted(Event):
    """A role request was accepted, with ``role`` (the one asked for, or a lesser one)."""

    request_id: int
    requester: Contact
    requested_role: str
    role: str


@dataclass(frozen=True)
class RequestRefused(Event):
    """A role request was refused, with the decider's ``reason`` (may be empty)."""

    request_id: int
    requester: Contact
    role: str
    reason: str


@dataclass(frozen=True)
class RequestWithdrawn(Event):
    """The requester took back a pending request; ``gap`` would have decided it."""

    request_id: int
    requester: Contact
    role: str
    gap: Contact | None


@dataclass(frozen=True)
class RequestExpired(Event):
    """Nobody decided a role request within its lifetime."""

    request_id: int
    requester: Contact
    role: str
    created_at: datetime


@dataclass(frozen=True)
class InvitationSent(Event):
    """An invitation link was created for ``email``: a role, or the post of GAP (role "gap").

    ``token`` is the secret of the single-use link: the only time it exists in clear, so that
    the email can carry it. ``language`` is the bound person's, when known.
    """

    invitation_id: int
    email: str
    language: str | None
    inviter: Contact
    role: str
    expires_at: datetime
    token: str
    message: str = ""


@dataclass(frozen=True)
class GapDesignated(Event):
    """``gap`` is now the enterprise's GAP, designated by ``designated_by`` (a legal
    representative), replacing ``previous`` if there was one; ``invitation_id`` when the new
    GAP accepted a GAP invitation rather than being designated by number."""

    designation_id: int
    gap: Contact
    designated_by: Contact
    previous: Contact | None
    invitation_id: int | None = None


@dataclass(frozen=True)
class MandateEvent(Event):
    """Something happened to a mandate between enterprises. ``enterprise`` is the client (the
    mandator), ``firm`` the intermediary (the mandatee); ``client_gap`` and ``firm_gap`` are
    their GAPs (None when they have none), told at each step, each in their own language;
    ``by`` is the person who acted."""

    mandate_id: int
    firm: EnterpriseRef
    domains: tuple[str, ...]
    valid_from: date
    valid_until: date | None
    by: Contact
    client_gap: Contact | None
    firm_gap: Contact | None


@dataclass(frozen=True)
class MandateProposed(MandateEvent):
    """The client's GAP or legal representative proposed a mandate to the firm, with a
    ``message``; the firm's GAP decides."""

    message: str = ""


@dataclass(frozen=True)
class MandateAccepted(MandateEvent):
    """The firm's GAP accepted the mandate: from ``valid_from``, its client agents act for the
    client in ``domains``."""


@dataclass(frozen=True)
class MandateRefused(MandateEvent):
    """The firm's GAP refused the mandate, with a ``reason`` (may be empty)."""

    reason: str = ""


@dataclass(frozen=True)
class MandateEnded(MandateEvent):
    """One side ended the mandate (``side``: mandator | mandatee), or the client withdrew it
    before the firm decided (``was_pending``), with a ``reason`` (may be empty)."""

    side: str = "mandator"
    was_pending: bool = False
    reason: str = ""


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]

_subscribers: dict[type[Event], list[Handler]] = {}
_muted: ContextVar[bool] = ContextVar("authz_events_muted", default=False)


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Call ``handler(event)`` for each ``event_type`` published (subclasses included), in the
    publishing transaction. Subscribing the same handler twice has no further effect."""
    handlers = _subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    handlers = _subscribers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def publish(event: Event) -> None:
    """Run the subscribers of ``event``, in the order they subscribed; their exceptions reach
    the publishing service, whose transaction then writes nothing."""
    if _muted.get():
        return
    if not db.database.in_transaction():
        # A subscriber's writes must commit with the action, never on their own.
        raise RuntimeError("authz.events.publish must run inside the action's transaction")
    for event_type in type(event).__mro__:
        for handler in list(_subscribers.get(event_type, ())):
            handler(event)


@contextmanager
def muted() -> Iterator[None]:
    """Publish nothing in this block (seeding demo data, bulk imports): nobody is told."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


Subscriptions = dict[type[Event], list[Handler]]


def subscriptions() -> Subscriptions:
    """A copy of the current subscriptions, for :func:`restore` (tests)."""
    return {event_type: list(handlers) for event_type, handlers in _subscribers.items()}


def restore(saved: Subscriptions) -> None:
    """Put back the subscriptions :func:`subscriptions` returned."""
    _subscribers.clear()
    _subscribers.update({event_type: list(handlers) for event_type, handlers in saved.items()})
