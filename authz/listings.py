"""The read side of the access pages at the size of a large enterprise: one page of rows at a
time, searched and sorted by the database.

A municipality or a large company has thousands of people with a role: the pages never load
them all. Each listing takes its filters (what the page's search form asked, already parsed:
an NRN is compact, a role is a known one) and a sort key from a closed list, counts the rows
that match, bounds the page to the pages there are, and reads that page only, with the people
it names joined in the same statement. :func:`each_member` reads every matching grant in
chunks, for an export that streams.

Nothing here decides access (the pages ask the policy first, once a page) and nothing writes.
No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from peewee import JOIN, Case

from authz import db
from authz.mandates import BASIS_GRANT, in_force_condition
from authz.models import ROLE_RANK, Enterprise, Invitation, Person, RoleGrant, RoleRequest
from authz.queries import MyRequest
from authz.services import GAP_ROLE
from authz.tables import today, utcnow

PAGE_SIZE = 50
EXPORT_CHUNK = 1000
SOURCES = ("direct", "request", "invitation")
# Search words beyond these are ignored: a name has few, and each is a condition.
MAX_WORDS = 5

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a listing: its rows, how many match in all, the page (1-based, within
    1..pages) and the number of pages (at least 1)."""

    rows: list[Row]
    total: int
    page: int
    pages: int
    size: int

    @property
    def first(self) -> int:
        """The position of the page's first row among all (1-based; 0 when none)."""
        return (self.page - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def paginate(query, page: int, size: int = PAGE_SIZE) -> Page:
    """Count ``query``'s rows, bound ``page`` to the pages there are, read that page."""
    total = query.order_by().count()
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    return Page(list(query.paginate(page, size)), total, page, pages, size)


@dataclass(frozen=True)
class Search:
    """What a listing's search form asked, parsed: name words (each must match a given or
    family name), an exact NRN, a role, a grant's source, an end date within ``ending_within``
    days; a sort key of the listing and its direction."""

    words: tuple[str, ...] = ()
    nrn: str | None = None
    role: str | None = None
    source: str | None = None
    ending_within: int | None = None
    sort: str = ""
    descending: bool = False


def _named(query, person, search: Search):
    """``query`` narrowed to the person (alias ``person``) the search names."""
    if search.nrn:
        query = query.where(person.nrn == search.nrn)
    for word in search.words[:MAX_WORDS]:
        query = query.where(person.given_name.contains(word) | person.family_name.contains(word))
    return query


def _strongest_first(column) -> Any:
    """A sort key putting the strongest role first."""
    return Case(column, [(role, -rank) for role, rank in ROLE_RANK.items()], 0)


def _ordered(query, keys: dict[str, list], search: Search, default: str, tie) -> Any:
    """``query`` in the order of ``search.sort`` (one of ``keys``, else ``default``), then
    by ``tie``, so that the pages never overlap."""
    columns = keys.get(search.sort) or keys[default]
    order = [c.desc() if search.descending else c.asc() for c in columns]
    return query.order_by(*order, tie.desc() if search.descending else tie.asc())


# -- members ---------------------------------------------------------------------------------

MEMBER_SORTS = ("role", "name", "until", "since")


GRANTER = Person.alias("granter")


def _members_query(enterprise: Enterprise, search: Search, day: date):
    granter = GRANTER
    query = (
        RoleGrant.select(RoleGrant, Person, granter)
        .join(Person, on=(RoleGrant.person == Person.id))
        .join_from(RoleGrant, granter, JOIN.LEFT_OUTER, on=(RoleGrant.granted_by == granter.id))
        .where((RoleGrant.enterprise == enterprise) & in_force_condition(BASIS_GRANT, day))
    )
    query = _named(query, Person, search)
    if search.role:
        query = query.where(RoleGrant.role == search.role)
    if search.source:
        query = query.where(RoleGrant.source == search.source)
    if search.ending_within is not None:
        query = query.where(
            RoleGrant.valid_until.is_null(False)
            & (RoleGrant.valid_until <= day + timedelta(days=search.ending_within))
        )
    name = [Person.family_name, Person.given_name]
    keys = {
        # Strongest role first when ascending: the page's natural order.
        "role": [_strongest_first(RoleGrant.role), *name],
        "name": name,
        # Without an end date sorts last: it ends latest.
        "until": [Case(None, [(RoleGrant.valid_until.is_null(), 1)], 0), RoleGrant.valid_until],
        "since": [RoleGrant.granted_at],
    }
    return _ordered(query, keys, search, "role", RoleGrant.id)


def members(
    enterprise: Enterprise,
    search: Search,
    page: int,
    size: int = PAGE_SIZE,
    day: date | None = None,
) -> Page[RoleGrant]:
    """One page of the grants in force on the enterprise that match ``search``, with their
    ``person`` and ``granted_by``."""
    return paginate(_members_query(enterprise, search, day or today()), page, size)


MEMBER_COLUMNS = (
    "family_name",
    "given_name",
    "nrn",
    "role",
    "scope",
    "valid_until",
    "source",
    "granted_by_given_name",
    "granted_by_family_name",
    "granted_at",
)


def each_member(enterprise: Enterprise, search: Search, day: date | None = None) -> Iterator[tuple]:
    """Every grant in force that matches ``search``, in its order, as plain tuples of
    :data:`MEMBER_COLUMNS` (dates as the driver gives them), read as they are sent: on
    PostgreSQL through a server-side cursor (``DECLARE``), :data:`EXPORT_CHUNK` rows at a
    time, on SQLite from its cursor. One statement, one sort; never the whole list in memory."""
    query = _members_query(enterprise, search, day or today()).select(
        Person.family_name,
        Person.given_name,
        Person.nrn,
        RoleGrant.role,
        RoleGrant.scope,
        RoleGrant.valid_until,
        RoleGrant.source,
        GRANTER.given_name,
        GRANTER.family_name,
        RoleGrant.granted_at,
    )
    sql, params = query.sql()
    if not db.is_postgresql():
        yield from db.database.execute_sql(sql, params)
        return
    # A cursor of the database's own, declared in a transaction (the driver's named cursors
    # refuse the pool's autocommit connections), fetched a chunk at a time.
    with db.database.atomic():
        db.database.execute_sql(f"DECLARE members_export NO SCROLL CURSOR FOR {sql}", params)
        try:
            while rows := db.database.execute_sql(
                f"FETCH {EXPORT_CHUNK} FROM members_export"
            ).fetchall():
                yield from rows
        finally:
            db.database.execute_sql("CLOSE members_export")


# -- pending requests ------------------------------------------------------------------------

REQUEST_SORTS = ("date", "name", "role", "expiry")


def pending_requests(
    enterprise: Enterprise,
    search: Search,
    page: int,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> Page[RoleRequest]:
    """One page of the requests that can still be decided (pending, not past their expiry)
    and match ``search``, oldest first by default, with their ``person``."""
    query = (
        RoleRequest.select(RoleRequest, Person)
        .join(Person, on=(RoleRequest.person == Person.id))
        .where(
            (RoleRequest.enterprise == enterprise)
            & (RoleRequest.status == "pending")
            & (RoleRequest.expires_at > (now or utcnow()))
        )
    )
    query = _named(query, Person, search)
    if search.role:
        query = query.where(RoleRequest.role == search.role)
    keys = {
        "date": [RoleRequest.created_at],
        "name": [Person.family_name, Person.given_name],
        "role": [_strongest_first(RoleRequest.role), RoleRequest.created_at],
        "expiry": [RoleRequest.expires_at],
    }
    return paginate(_ordered(query, keys, search, "date", RoleRequest.id), page, size)


# -- open invitations ------------------------------------------------------------------------

INVITATION_SORTS = ("date", "email", "expiry", "role")


def open_invitations(
    enterprise: Enterprise,
    email: str,
    search: Search,
    page: int,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> Page[Invitation]:
    """One page of the role invitations neither used, cancelled nor expired whose address
    contains ``email`` and whose role is ``search.role``; newest first by default, with who
    sent them. An invitation to become GAP belongs to the legal representatives' pages."""
    now = now or utcnow()
    query = (
        Invitation.select(Invitation, Person)
        .join(Person, on=(Invitation.invited_by == Person.id))
        .where(
            (Invitation.enterprise == enterprise)
            & (Invitation.role != GAP_ROLE)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
            & (Invitation.expires_at > now)
        )
    )
    if email:
        query = query.where(Invitation.email.contains(email))
    if search.role:
        query = query.where(Invitation.role == search.role)
    keys = {
        "date": [Invitation.created_at],
        "email": [Invitation.email],
        "expiry": [Invitation.expires_at],
        "role": [_strongest_first(Invitation.role)],
    }
    # By date, newest first (and oldest first when reversed).
    if search.sort not in keys or search.sort == "date":
        search = Search(sort="date", descending=not search.descending)
    return paginate(_ordered(query, keys, search, "date", Invitation.id), page, size)


# -- a person's own requests -----------------------------------------------------------------

OWN_REQUESTS_PAGE_SIZE = 25


def requests_of(person: Person, page: int, size: int = OWN_REQUESTS_PAGE_SIZE) -> Page[MyRequest]:
    """One page of the person's role requests, newest first, with their ``enterprise``, each
    as :class:`authz.queries.MyRequest` (a pending request past its expiry reads expired)."""
    query = (
        RoleRequest.select(RoleRequest, Enterprise)
        .join(Enterprise)
        .where(RoleRequest.person == person)
        .order_by(RoleRequest.created_at.desc(), RoleRequest.id.desc())
    )
    found = paginate(query, page, size)
    now = utcnow()
    mine = [
        MyRequest(r, "expired" if r.status == "pending" and r.expires_at <= now else r.status)
        for r in found.rows
    ]
    return Page(mine, found.total, found.page, found.pages, found.size)


def own_request(person: Person, request_id: int) -> RoleRequest | None:
    """The person's role request ``request_id`` with its ``enterprise``; None if not theirs."""
    return (
        RoleRequest.select(RoleRequest, Enterprise)
        .join(Enterprise)
        .where((RoleRequest.id == request_id) & (RoleRequest.person == person))
        .first()
    )
