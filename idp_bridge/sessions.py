"""Server-side login sessions, and the person each one belongs to.

The browser holds a random session id; the database holds only its SHA-256
(``LoginSession.id_hash``), so a copy of the table logs nobody in. Every login issues a new
id and ends the one it replaces (no session fixation), with what a logout does. A session
lives until it is ended, until ``absolute_timeout`` after the login, or until
``idle_timeout`` without a request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from authz import db
from authz.engine import get_engine
from authz.languages import LANGUAGES
from authz.persons import PersonData, record_person
from authz.tables import BuiltSelect, utcnow
from idp_bridge.models import LoginSession
from idp_bridge.shared.identity import VerifiedIdentity

if TYPE_CHECKING:
    from authz.models import Person

_PERSON = LoginSession.person.rel_model

# last_seen_at is written at most this often per session: the idle timeout may then strike
# up to this much early, which spares a write on nearly every request.
TOUCH_INTERVAL = timedelta(seconds=60)
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle_timeout`` without a request, ``absolute_timeout`` at
    most after the login (seconds)."""

    idle_timeout: int = 1800
    absolute_timeout: int = 8 * 3600

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0 or self.absolute_timeout <= 0:
            raise ValueError("session timeouts must be positive")
        if self.idle_timeout > self.absolute_timeout:
            raise ValueError(
                f"the idle timeout ({self.idle_timeout}s) exceeds the absolute timeout "
                f"({self.absolute_timeout}s)"
            )


def upsert_person(identity: VerifiedIdentity) -> tuple[Person, bool]:
    """The person with ``identity``'s NRN, created at their first login or brought up to date
    with what the upstream says now; each change is audited. Returns (person, created)."""
    language = (identity.language or "").lower()
    said = PersonData(
        identity.nrn,
        given_name=identity.given_name,
        family_name=identity.family_name,
        email=identity.email or None,
        language=language if language in LANGUAGES else None,
    )
    with db.connection():
        return record_person(
            said, actor=f"person:{identity.nrn}", policy_version=get_engine().version
        )


def open_session(
    identity: VerifiedIdentity,
    policy: SessionPolicy,
    *,
    replaces: str | None = None,
    replaces_hash: str | None = None,
    on_replaced: Callable[[LoginSession], None] | None = None,
) -> tuple[str, LoginSession]:
    """Log ``identity`` in: returns the new session id (for the cookie) and its session.

    ``replaces`` is the session id the browser held before (or ``replaces_hash`` its hash, as
    noted when the login started), ended in the same transaction. ``on_replaced`` is given
    each live session so ended, once the new one is committed, as a logout is.
    """
    raw_id = secrets.token_urlsafe(32)
    now = utcnow()
    ended: list[LoginSession] = []
    # The caller's transaction when it has one (an upstream's answer).
    with db.connection(), db.within_transaction():
        person, _created = upsert_person(identity)
        replaced = set()
        if _well_formed(replaces):
            replaced.add(_hash(replaces))
        if isinstance(replaces_hash, str) and _HASH.fullmatch(replaces_hash):
            replaced.add(replaces_hash)
        for id_hash in sorted(replaced):
            if _end(id_hash, now):
                ended.append(LoginSession.get(LoginSession.id_hash == id_hash))
        session = LoginSession(
            id_hash=_hash(raw_id),
            person=person,
            upstream=identity.upstream,
            upstream_session_ref=identity.session_ref,
            acr=identity.acr,
            amr=" ".join(identity.amr),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=policy.absolute_timeout),
        )
        row = {name: field.db_value(getattr(session, name)) for name, field in _OPENED.items()}
        session.id = db.execute_built(("login_session", "open"), _open_statement, row).fetchone()[0]
    if on_replaced is not None:
        for previous in ended:
            # Once committed: at once, or when the caller's transaction commits.
            db.after_commit(lambda previous=previous: on_replaced(previous))
    return raw_id, session


# The columns a login writes (every one but the id and the end), and its statement, built
# once (authz.db.execute_built).
_OPENED = {
    field.name: field
    for field in LoginSession._meta.sorted_fields
    if field.name not in ("id", "ended_at")
}


def _open_statement(param):
    return LoginSession.insert({field: param(name) for name, field in _OPENED.items()}).returning(
        LoginSession.id
    )


def current_session(raw_id: str | None, policy: SessionPolicy) -> LoginSession | None:
    """The live session for a cookie value, its ``person`` loaded; None for anything else."""
    if not _well_formed(raw_id):
        return None
    now = utcnow()
    with db.connection():
        at = LoginSession.expires_at.db_value  # timestamps as peewee sends them
        session = _live_session.first(
            id_hash=_hash(raw_id),
            now=at(now),
            created_after=at(now - timedelta(seconds=policy.absolute_timeout)),
            seen_after=at(now - timedelta(seconds=policy.idle_timeout)),
        )
        if session is not None and session.last_seen_at <= now - TOUCH_INTERVAL:
            LoginSession.update(last_seen_at=now).where(LoginSession.id == session.id).execute()
            session.last_seen_at = now
    return session


# The session's person comes with it, through the foreign key of its table.
_live_session = BuiltSelect(
    "live login_session",
    lambda param: (
        LoginSession.select(LoginSession, _PERSON)
        .join(_PERSON)
        .where(
            (LoginSession.id_hash == param("id_hash"))
            & LoginSession.ended_at.is_null()
            & (LoginSession.expires_at > param("now"))
            # Also from created_at: a shorter absolute timeout applies to open sessions.
            & (LoginSession.created_at > param("created_after"))
            & (LoginSession.last_seen_at > param("seen_after"))
        )
        .limit(1)
    ),
)


def end_session(raw_id: str | None) -> bool:
    """Log out: True if a live session was ended."""
    if not _well_formed(raw_id):
        return False
    with db.connection():
        return _end(_hash(raw_id), utcnow())


def _end(id_hash: str, now: datetime) -> bool:
    ended = (
        LoginSession.update(ended_at=now)
        .where(
            (LoginSession.id_hash == id_hash)
            & LoginSession.ended_at.is_null()
            & (LoginSession.expires_at > now)
        )
        .execute()
    )
    return ended == 1


def _well_formed(raw_id: object) -> bool:
    return isinstance(raw_id, str) and _SESSION_ID.fullmatch(raw_id) is not None


def _hash(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode("ascii")).hexdigest()
