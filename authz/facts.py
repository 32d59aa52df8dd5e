"""The facts a decision reads, loaded for one (person, enterprise) pair.

The policy never sees tables: it sees these small immutable objects, built from indexed queries
on the pair at hand (person by NRN, enterprise by BCE number, grants / designation /
representation by (person, enterprise)), so the cost of a decision does not grow with the
number of grants in the database.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from datetime import date

from authz import db
from authz.db import database
from authz.models import (
    Enterprise,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    utcnow,
)

SERVICE_DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


@dataclass(frozen=True)
class Grant:
    """A role grant not revoked (it may still be past its end date: the policy decides)."""

    id: int
    enterprise: str
    role: str
    scope: list[str]
    valid_until: date | None


@dataclass(frozen=True)
class Designation:
    """The GAP designation in force."""

    id: int
    enterprise: str


@dataclass(frozen=True)
class Representation:
    """A legal representation from the BCE registry, not ended."""

    id: int
    enterprise: str
    capacity: str


@dataclass(frozen=True)
class PersonFacts:
    """The actor as the policy sees it (registered in Polar as ``Person``)."""

    nrn: str
    grants: list[Grant] = field(default_factory=list)
    designations: list[Designation] = field(default_factory=list)
    representations: list[Representation] = field(default_factory=list)

    def only(self, fact: Grant | Designation | Representation) -> PersonFacts:
        """The same person holding just one fact: used to explain which fact decides."""
        return PersonFacts(
            self.nrn,
            grants=[fact] if isinstance(fact, Grant) else [],
            designations=[fact] if isinstance(fact, Designation) else [],
            representations=[fact] if isinstance(fact, Representation) else [],
        )


@dataclass(frozen=True)
class EnterpriseFacts:
    """The resource as the policy sees it (registered in Polar as ``Enterprise``)."""

    bce: str
    name: str
    active: bool
    today: date
    service_domain: str | None = None
    epoch: int = 0


@dataclass(frozen=True)
class GrantTerms:
    """A grant someone is about to give (registered in Polar as ``Terms``).

    ``recipient`` is the NRN of the person receiving it, None while unknown (an invitation not
    bound to an NRN); ``changes_own`` marks the change of the recipient's own grant by
    themself.
    """

    role: str
    scope: list[str]
    valid_until: date | None
    recipient: str | None
    changes_own: bool = False

    @classmethod
    def of(
        cls,
        role: str,
        scope: str,
        valid_until: date | None,
        recipient: str | None,
        changes_own: bool = False,
    ) -> GrantTerms:
        """Terms from stored values (``scope`` space-separated, as in the tables)."""
        return cls(role, scope.split() if scope else [], valid_until, recipient, changes_own)


@dataclass(frozen=True)
class Offer:
    """An invitation or a role request, as the policy sees it when someone decides on it
    (registered in Polar as ``Offer``): ``made_by`` is the NRN of the person who sent the
    invitation or asked for the role."""

    kind: str  # invitation | request
    id: int
    made_by: str


# The enterprise (with its epoch) and the person's facts on it, in one statement: one round
# trip and one snapshot. Values are cast to text so that the branches of the UNION agree. The
# ids are scalar subqueries on the unique indexes (CTEs would be materialized by SQLite, at a
# cost that grows with the tables).
_PAIR_SQL = """
SELECT 'e', id, name, status, CAST(authz_epoch AS TEXT) FROM enterprise WHERE bce = {p}
UNION ALL
SELECT 'g', id, role, scope, CAST(valid_until AS TEXT) FROM role_grant
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND ended_at IS NULL
UNION ALL
SELECT 'd', id, NULL, NULL, NULL FROM gap_designation
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND ended_at IS NULL
UNION ALL
SELECT 'r', id, capacity, NULL, NULL FROM legal_representation
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND (ended_on IS NULL OR ended_on >= {p})
"""


def _sql(template: str) -> str:
    return template.format(p=database.param)


# PostgreSQL plans a statement at every execution unless it is prepared; planning costs more
# than running this one. Prepared once per pooled connection ($1 BCE, $2 NRN, $3 date).
_PAIR_PREPARED = "monespace_pair"
_PAIR_SQL_PG = _PAIR_SQL.replace("bce = {p}", "bce = $1").replace("nrn = {p}", "nrn = $2")
_PAIR_SQL_PG = _PAIR_SQL_PG.replace("ended_on >= {p}", "ended_on >= $3")
_prepared_on: weakref.WeakSet = weakref.WeakSet()


def _pair_rows(nrn: str, bce: str, today: date) -> list[tuple]:
    if not db.is_postgresql():
        return database.execute_sql(
            _sql(_PAIR_SQL), (bce, bce, nrn, bce, nrn, bce, nrn, today)
        ).fetchall()
    connection = database.connection()
    if connection not in _prepared_on:
        database.execute_sql(f"PREPARE {_PAIR_PREPARED} (text, text, date) AS {_PAIR_SQL_PG}")
        _prepared_on.add(connection)
    return database.execute_sql(
        f"EXECUTE {_PAIR_PREPARED} (%s, %s, %s)", (bce, nrn, today)
    ).fetchall()


def _as_date(value) -> date | None:
    # SQLite returns the stored text, PostgreSQL a date.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def load_pair(
    nrn: str, bce: str, today: date, service_domain: str | None = None
) -> tuple[PersonFacts, EnterpriseFacts] | None:
    """Facts for (NRN, BCE) and the enterprise's epoch, read together; None for an unknown
    enterprise. A person never seen holds nothing."""
    rows = _pair_rows(nrn, bce, today)
    enterprise = None
    grants, designations, representations = [], [], []
    for kind, row_id, a, b, c in rows:
        if kind == "e":
            enterprise = EnterpriseFacts(bce, a, b == "active", today, service_domain, int(c))
        elif kind == "g":
            grants.append(Grant(row_id, bce, a, b.split() if b else [], _as_date(c)))
        elif kind == "d":
            designations.append(Designation(row_id, bce))
        else:
            representations.append(Representation(row_id, bce, a or ""))
    if enterprise is None:
        return None
    return PersonFacts(nrn, grants, designations, representations), enterprise


def ended_facts_description(nrn: str, bce: str) -> list[tuple[str, list[str]]]:
    """Grants and designations of the pair that no longer count, for explanations only: each
    line with the service domains of its fact ([] for every domain)."""
    person = Person.get_or_none(Person.nrn == nrn)
    enterprise = Enterprise.get_or_none(Enterprise.bce == bce)
    if person is None or enterprise is None:
        return []
    lines = [
        (
            f"grant#{g.id}: {g.role}, {g.end_reason or 'ended'} on {g.ended_at:%Y-%m-%d} "
            "(no longer counts)",
            g.scope.split() if g.scope else [],
        )
        for g in RoleGrant.select().where(
            (RoleGrant.person == person)
            & (RoleGrant.enterprise == enterprise)
            & RoleGrant.ended_at.is_null(False)
        )
    ]
    lines += [
        (f"designation#{d.id}: GAP until {d.ended_at:%Y-%m-%d}, replaced (no longer counts)", [])
        for d in GapDesignation.select().where(
            (GapDesignation.person == person)
            & (GapDesignation.enterprise == enterprise)
            & GapDesignation.ended_at.is_null(False)
        )
    ]
    lines += [
        (
            f"representation#{r.id}: legal representative until {r.ended_on:%Y-%m-%d} "
            "(no longer counts)",
            [],
        )
        for r in LegalRepresentation.select().where(
            (LegalRepresentation.person == person)
            & (LegalRepresentation.enterprise == enterprise)
            & LegalRepresentation.ended_on.is_null(False)
            & (LegalRepresentation.ended_on < utcnow().date())
        )
    ]
    return lines
