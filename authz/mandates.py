"""The read side of mandates: who holds what on which enterprise, read one way everywhere.

Decisions, the representation claims, the espace chooser, the decision API's searches and the
admin UI's "Mes entreprises" all read mandates here; no other module queries the mandate tables
(role grants, GAP designations, legal representations) to find who holds what. (The clients of
a firm, listed a page at a time for the chooser, are read by ``authz.firm_clients``: mandates
between enterprises only.)

A mandate rests on one fact, its *basis*: a role grant, a GAP designation or a legal
representation from the BCE registry. Two words, one definition each:

- **standing**: the fact has not ended. A grant not revoked, replaced or marked expired
  (``ended_at`` empty), a designation not replaced (``ended_at`` empty), a representation not
  ended before the day (``ended_on`` empty, or on or after the day: its last day counts).
  These are the facts the policy is given, and the policy alone says what they give: nothing
  past a grant's ``valid_until``, nothing on a stopped enterprise.
- **in force** on a day: standing, and not past its last day (a grant's ``valid_until`` empty
  or on or after the day). What a person is shown as holding. A mandate on a stopped
  enterprise may be in force; it gives no right (the policy says so) and pages show the
  enterprise as stopped.

So a grant whose ``valid_until`` passed last week, not yet marked expired by the nightly job,
is standing but no longer in force; the policy already refuses everything through it.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from peewee import JOIN, Value

from authz import db
from authz import facts as F
from authz.db import database
from authz.models import (
    Enterprise,
    EnterpriseMandate,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    today,
)

# The kind of fact a mandate rests on: the representation claim's "basis", the chooser's and
# the pages' too.
BASIS_GRANT, BASIS_DESIGNATION, BASIS_REPRESENTATION = "grant", "designation", "representation"
BASES = (BASIS_DESIGNATION, BASIS_GRANT, BASIS_REPRESENTATION)  # strongest first
# A right that comes through an intermediary: the client's mandate to the person's firm (not a
# fact of the person on the client: the facts are their role in the firm and the mandate).
BASIS_MANDATE = "mandate"

_MODELS = {
    BASIS_GRANT: RoleGrant,
    BASIS_DESIGNATION: GapDesignation,
    BASIS_REPRESENTATION: LegalRepresentation,
}


def standing(basis: str, day: date):
    """The one definition of a standing fact, as a peewee condition on the basis' table (the
    SQL of :data:`_PAIR_SQL` writes the same three conditions; a test checks they agree)."""
    if basis == BASIS_REPRESENTATION:
        return LegalRepresentation.ended_on.is_null() | (LegalRepresentation.ended_on >= day)
    return _MODELS[basis].ended_at.is_null()


def in_force(until: date | None, day: date) -> bool:
    """Whether a standing fact is in force on ``day``: not past its last day ``until`` (a
    grant's ``valid_until``, a representation's ``ended_on``; a designation has none)."""
    return until is None or until >= day


def in_force_condition(basis: str, day: date):
    """:func:`in_force` of a standing fact, as a peewee condition on the basis' table, for
    the queries that list rows in force (a test checks both agree)."""
    if basis == BASIS_GRANT:
        until = RoleGrant.valid_until
        return standing(basis, day) & (until.is_null() | (until >= day))
    return standing(basis, day)  # a representation's last day is already its standing


# -- the facts of one pair (every decision) ----------------------------------------------------

# The enterprise (with its epoch) and the person's standing facts on it, in one statement: one
# round trip and one snapshot. Values are cast to text so that the branches of the UNION agree.
# The ids are scalar subqueries on the unique indexes (CTEs would be materialized by SQLite, at
# a cost that grows with the tables).
_PAIR_SQL = """
SELECT 'e', id, name, status, CAST(authz_epoch AS TEXT), NULL FROM enterprise WHERE bce = {p}
UNION ALL
SELECT 'g', id, role, scope, CAST(valid_until AS TEXT), NULL FROM role_grant
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND ended_at IS NULL
UNION ALL
SELECT 'd', id, NULL, NULL, NULL, NULL FROM gap_designation
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND ended_at IS NULL
UNION ALL
SELECT 'r', id, capacity, NULL, NULL, NULL FROM legal_representation
 WHERE enterprise_id = (SELECT id FROM enterprise WHERE bce = {p})
   AND person_id = (SELECT id FROM person WHERE nrn = {p})
   AND (ended_on IS NULL OR ended_on >= {p})
UNION ALL
SELECT 'm', m.id, m.domains, CAST(m.valid_from AS TEXT), CAST(m.valid_until AS TEXT), f.bce
  FROM enterprise_mandate m JOIN enterprise f ON f.id = m.mandatee_id
 WHERE m.mandator_id = (SELECT id FROM enterprise WHERE bce = {p}) AND m.status = 'accepted'
UNION ALL
SELECT 'f', f.id, f.name, f.status, CAST(f.authz_epoch AS TEXT), f.bce
  FROM enterprise_mandate m JOIN enterprise f ON f.id = m.mandatee_id
 WHERE m.mandator_id = (SELECT id FROM enterprise WHERE bce = {p}) AND m.status = 'accepted'
UNION ALL
SELECT 'g', g.id, g.role, g.scope, CAST(g.valid_until AS TEXT), f.bce
  FROM enterprise_mandate m JOIN enterprise f ON f.id = m.mandatee_id
  JOIN role_grant g ON g.enterprise_id = m.mandatee_id
 WHERE m.mandator_id = (SELECT id FROM enterprise WHERE bce = {p}) AND m.status = 'accepted'
   AND g.person_id = (SELECT id FROM person WHERE nrn = {p}) AND g.ended_at IS NULL
UNION ALL
SELECT 'd', d.id, NULL, NULL, NULL, f.bce
  FROM enterprise_mandate m JOIN enterprise f ON f.id = m.mandatee_id
  JOIN gap_designation d ON d.enterprise_id = m.mandatee_id
 WHERE m.mandator_id = (SELECT id FROM enterprise WHERE bce = {p}) AND m.status = 'accepted'
   AND d.person_id = (SELECT id FROM person WHERE nrn = {p}) AND d.ended_at IS NULL
"""
# The last four branches are the intermediaries (firms) the enterprise gave a mandate to,
# accepted and not ended ('m' the mandate, 'f' the firm with its epoch), and the person's
# standing grants and designation in those firms (the sixth column names the firm). They go
# through the mandates of the one enterprise asked about, then the (person, firm) indexes:
# a firm's other clients are never read.

# PostgreSQL plans a statement at every execution unless it is prepared; planning costs more
# than running this one. Prepared once per pooled connection ($1 BCE, $2 NRN, $3 date).
_PAIR_PREPARED = "monespace_pair_v2"
_PAIR_SQL_PG = _PAIR_SQL.replace("bce = {p}", "bce = $1").replace("nrn = {p}", "nrn = $2")
_PAIR_SQL_PG = _PAIR_SQL_PG.replace("ended_on >= {p}", "ended_on >= $3")
_prepared_on: weakref.WeakSet = weakref.WeakSet()


def _pair_rows(nrn: str, bce: str, day: date) -> list[tuple]:
    if not db.is_postgresql():
        params = (bce, bce, nrn, bce, nrn, bce, nrn, day, bce, bce, bce, nrn, bce, nrn)
        return database.execute_sql(_PAIR_SQL.format(p=database.param), params).fetchall()
    connection = database.connection()
    if connection not in _prepared_on:
        database.execute_sql(f"PREPARE {_PAIR_PREPARED} (text, text, date) AS {_PAIR_SQL_PG}")
        _prepared_on.add(connection)
    return database.execute_sql(
        f"EXECUTE {_PAIR_PREPARED} (%s, %s, %s)", (bce, nrn, day)
    ).fetchall()


def load_pair(
    nrn: str, bce: str, day: date, service_domain: str | None = None
) -> tuple[F.PersonFacts, F.EnterpriseFacts] | None:
    """The standing facts of (NRN, BCE) and the enterprise's epoch, read together, as the
    policy sees them on ``day``; None for an unknown enterprise. A person never seen holds
    nothing.

    With them, the enterprise's mandates to intermediaries (accepted, not ended) and the
    person's standing facts in those firms (their grants and designation there, in
    ``grants`` and ``designations`` under the firm's BCE number: the policy keeps each fact
    to its own enterprise)."""
    enterprise = None
    grants, designations, representations = [], [], []
    firms: dict[str, F.EnterpriseFacts] = {}
    given: list[tuple] = []
    for kind, row_id, a, b, c, owner in _pair_rows(nrn, bce, day):
        on = owner or bce
        if kind == "e":
            enterprise = F.EnterpriseFacts(bce, a, b == "active", day, service_domain, int(c))
        elif kind == "g":
            grants.append(F.Grant(row_id, on, a, b.split() if b else [], _day(c)))
        elif kind == "d":
            designations.append(F.Designation(row_id, on))
        elif kind == "r":
            representations.append(F.Representation(row_id, bce, a or ""))
        elif kind == "f":
            firms[owner] = F.EnterpriseFacts(owner, a, b == "active", day, service_domain, int(c))
        else:  # "m"
            given.append((row_id, a, _day(b), _day(c), owner))
    if enterprise is None:
        return None
    if given:
        mandates_given = [
            F.ClientMandate(row_id, bce, firms[firm], domains.split(), since, until)
            for row_id, domains, since, until, firm in sorted(given)
        ]
        enterprise = dataclasses.replace(enterprise, mandates=mandates_given)
    return F.PersonFacts(nrn, grants, designations, representations), enterprise


def ended_facts_description(nrn: str, bce: str) -> list[tuple[str, list[str]]]:
    """Facts of the pair that are no longer standing, for explanations only: each line with
    the service domains of its fact ([] for every domain)."""
    person = Person.get_or_none(Person.nrn == nrn)
    enterprise = Enterprise.get_or_none(Enterprise.bce == bce)
    if person is None or enterprise is None:
        return []
    day = today()
    lines = [
        (
            f"grant#{g.id}: {g.role}, {g.end_reason or 'ended'} on {g.ended_at:%Y-%m-%d} "
            "(no longer counts)",
            g.scope.split() if g.scope else [],
        )
        for g in RoleGrant.select().where(
            (RoleGrant.person == person)
            & (RoleGrant.enterprise == enterprise)
            & ~standing(BASIS_GRANT, day)
        )
    ]
    lines += [
        (f"designation#{d.id}: GAP until {d.ended_at:%Y-%m-%d}, replaced (no longer counts)", [])
        for d in GapDesignation.select().where(
            (GapDesignation.person == person)
            & (GapDesignation.enterprise == enterprise)
            & ~standing(BASIS_DESIGNATION, day)
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
            & ~standing(BASIS_REPRESENTATION, day)
        )
    ]
    return lines


def unstanding_mandates_description(nrn: str, bce: str) -> list[tuple[str, list[str]]]:
    """Mandates the enterprise gave (or was asked to give) to firms where the person holds a
    standing fact, that are not accepted or have ended, for explanations only: each line with
    the mandate's service domains."""
    person = Person.get_or_none(Person.nrn == nrn)
    client = Enterprise.get_or_none(Enterprise.bce == bce)
    if person is None or client is None:
        return []
    day = today()
    firms = (
        RoleGrant.select(RoleGrant.enterprise)
        .where((RoleGrant.person == person) & standing(BASIS_GRANT, day))
        .union(
            GapDesignation.select(GapDesignation.enterprise).where(
                (GapDesignation.person == person) & standing(BASIS_DESIGNATION, day)
            )
        )
    )
    rows = (
        EnterpriseMandate.select(EnterpriseMandate, Enterprise)
        .join(Enterprise, on=(EnterpriseMandate.mandatee == Enterprise.id))
        .where(
            (EnterpriseMandate.mandator == client)
            & (EnterpriseMandate.status != "accepted")
            & EnterpriseMandate.mandatee.in_(firms)
        )
        .order_by(EnterpriseMandate.id)
    )
    meaning = {
        "pending": "proposed, not accepted by the firm yet",
        "refused": "refused by the firm",
        "withdrawn": "withdrawn before the firm accepted it",
        "ended": "ended",
    }
    return [
        (
            f"mandate#{m.id}: to the firm {m.mandatee.bce} {m.mandatee.name}, for "
            f"{', '.join(m.domain_list)}, {meaning.get(m.status, m.status)} (gives nothing)",
            list(m.domain_list),
        )
        for m in rows
    ]


# -- all of a person's mandates, in one statement ----------------------------------------------


@dataclass(frozen=True)
class EnterpriseRef:
    """The enterprise a mandate is on, as shown."""

    bce: str
    name: str
    active: bool


@dataclass(frozen=True)
class PersonRef:
    """Who granted or designated a mandate, as shown."""

    nrn: str
    given_name: str
    family_name: str

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.nrn


@dataclass(frozen=True)
class Mandate:
    """One fact that ties a person to an enterprise, with where it came from."""

    enterprise: EnterpriseRef
    basis: str  # grant | designation | representation
    id: int  # of the fact, in its table
    role: str  # a grant's role, "gap", or "representative"
    detail: str  # a grant's source (direct | request | invitation), a representative's capacity
    by: PersonRef | None  # who granted or designated it, when known
    since: datetime  # when it began (a representation: when the registry gave it us)
    until: date | None  # its last day, when there is one
    scope: tuple[str, ...] = ()  # a grant's service domains; () for every domain
    # A client reached through a firm (basis "mandate"): the firm holding the client's
    # mandate; ``scope`` is then the domains the person acts in for the client.
    firm: EnterpriseRef | None = None

    def in_force(self, day: date) -> bool:
        return in_force(self.until, day)


@dataclass(frozen=True)
class Holding:
    """An enterprise on which a person holds standing facts: the facts as the policy sees
    them, and when each began."""

    person: F.PersonFacts
    enterprise: F.EnterpriseFacts
    started: dict[tuple[str, int], datetime]  # (basis, fact id) -> when it began

    @property
    def latest(self) -> datetime:
        """When its most recent fact began."""
        return max(self.started.values())


def _standing_of(nrn: str, day: date, *, authors: bool) -> list[tuple]:
    """Every standing fact of ``nrn`` with its enterprise, in one statement through the
    (person, enterprise) indexes; with ``authors``, who granted or designated each. (Its SQL is
    built once: every login's espace chooser asks it.)"""
    values = {"nrn": nrn, "day": LegalRepresentation.ended_on.db_value(day)}
    cursor = db.execute_built(
        ("standing_of", authors), lambda param: _standing_statement(param, authors), values
    )
    return list(cursor.fetchall())


def _standing_statement(param, authors: bool):
    """:func:`_standing_of`'s statement, its person and day given by ``param``."""
    nrn, day = param("nrn"), param("day")

    def branch(basis: str, detail, scope, until, started, source, author_column):
        model = _MODELS[basis]
        author = Person.alias()
        columns = [
            Value(basis),
            model.id,
            Enterprise.bce,
            Enterprise.name,
            Enterprise.status,
            Enterprise.authz_epoch,
            detail,
            scope,
            until,
            started,
        ]
        if authors:
            columns += [source, *_author_columns(author, author_column)]
        query = (
            model.select(*columns)
            .join_from(model, Enterprise, on=(model.enterprise == Enterprise.id))
            .join_from(model, Person, on=(model.person == Person.id))
        )
        if authors and author_column is not None:
            query = query.join_from(model, author, JOIN.LEFT_OUTER, on=(author_column == author.id))
        return query.where((Person.nrn == nrn) & standing(basis, day))

    none = Value(None)
    statement = (
        branch(
            BASIS_GRANT,
            RoleGrant.role,
            RoleGrant.scope,
            RoleGrant.valid_until,
            RoleGrant.granted_at,
            RoleGrant.source,
            RoleGrant.granted_by,
        )
        + branch(
            BASIS_DESIGNATION,
            none,
            none,
            none,
            GapDesignation.started_at,
            none,
            GapDesignation.designated_by,
        )
        + branch(
            BASIS_REPRESENTATION,
            LegalRepresentation.capacity,
            none,
            LegalRepresentation.ended_on,
            LegalRepresentation.imported_at,
            none,
            None,
        )
    )
    return statement


def _author_columns(author, author_column) -> list:
    if author_column is None:
        return [Value(None), Value(None), Value(None)]
    return [author.nrn, author.given_name, author.family_name]


def facts_by_enterprise(nrn: str, day: date, service_domain: str | None = None) -> list[Holding]:
    """Every enterprise where ``nrn`` holds a standing fact, with the facts exactly as
    :func:`load_pair` gives them to the policy for that pair, read in one statement."""
    by_bce: dict[str, tuple[F.EnterpriseFacts, list, list, list, dict]] = {}
    for basis, fact_id, bce, name, status, epoch, detail, scope, until, started in _standing_of(
        nrn, day, authors=False
    ):
        if bce not in by_bce:
            enterprise = F.EnterpriseFacts(
                bce, name, status == "active", day, service_domain, int(epoch)
            )
            by_bce[bce] = (enterprise, [], [], [], {})
        _, grants, designations, representations, starts = by_bce[bce]
        if basis == BASIS_GRANT:
            scopes = scope.split() if scope else []
            grants.append(F.Grant(fact_id, bce, detail, scopes, _day(until)))
        elif basis == BASIS_DESIGNATION:
            designations.append(F.Designation(fact_id, bce))
        else:
            representations.append(F.Representation(fact_id, bce, detail or ""))
        starts[(basis, fact_id)] = _moment(started)
    return [
        Holding(F.PersonFacts(nrn, grants, designations, representations), enterprise, starts)
        for enterprise, grants, designations, representations, starts in by_bce.values()
    ]


def mandates_of(nrn: str, day: date | None = None) -> list[Mandate]:
    """The person's mandates in force on ``day`` (today by default), whatever the service
    domain, by enterprise name, then strongest basis first. One statement."""
    day = day or today()
    found = []
    for row in _standing_of(nrn, day, authors=True):
        basis, fact_id, bce, name, status, _epoch, detail, scope, until, started = row[:10]
        source, by_nrn, by_given, by_family = row[10:]
        until = _day(until)
        if not in_force(until, day):
            continue
        role = {BASIS_DESIGNATION: "gap", BASIS_REPRESENTATION: "representative"}.get(basis)
        found.append(
            Mandate(
                EnterpriseRef(bce, name, status == "active"),
                basis,
                fact_id,
                role or detail,
                (source if basis == BASIS_GRANT else detail) or "",
                PersonRef(by_nrn, by_given, by_family) if by_nrn else None,
                _moment(started),
                until,
                tuple(scope.split()) if scope else (),
            )
        )
    found.sort(key=lambda m: (m.enterprise.name.casefold(), m.enterprise.bce, BASES.index(m.basis)))
    return found


@dataclass(frozen=True)
class ThroughFirm:
    """A client a person may reach through a firm: a mandate the client gave the firm,
    accepted, not ended and in force on the day, where the person holds a standing grant or
    designation in the firm. Whether that lets them act for the client (their role there, its
    service domains) is the policy's answer, asked by whoever shows it."""

    client: EnterpriseRef
    firm: EnterpriseRef
    mandate_id: int
    domains: tuple[str, ...]
    valid_from: date
    valid_until: date | None


def clients_through_firms(nrn: str, day: date | None = None) -> list[ThroughFirm]:
    """The mandates in force on ``day`` (today by default) held by the firms where ``nrn``
    holds a standing grant or designation, with both enterprises, by client name. One
    statement through the (person, enterprise) and (mandatee, status) indexes."""
    day = day or today()
    in_firms = (
        RoleGrant.select(RoleGrant.enterprise)
        .join(Person, on=(RoleGrant.person == Person.id))
        .where((Person.nrn == nrn) & standing(BASIS_GRANT, day))
    ) | (
        GapDesignation.select(GapDesignation.enterprise)
        .join(Person, on=(GapDesignation.person == Person.id))
        .where((Person.nrn == nrn) & standing(BASIS_DESIGNATION, day))
    )
    client, firm = Enterprise.alias("client"), Enterprise.alias("firm")
    mandate = EnterpriseMandate
    rows = (
        mandate.select(
            mandate.id,
            mandate.domains,
            mandate.valid_from,
            mandate.valid_until,
            client.bce,
            client.name,
            client.status,
            firm.bce,
            firm.name,
            firm.status,
        )
        .join_from(mandate, client, on=(mandate.mandator == client.id))
        .join_from(mandate, firm, on=(mandate.mandatee == firm.id))
        .where(
            (mandate.status == "accepted")
            & mandate.mandatee.in_(in_firms)
            & (mandate.valid_from <= day)
            & (mandate.valid_until.is_null() | (mandate.valid_until >= day))
        )
        .tuples()
    )
    found = [
        ThroughFirm(
            EnterpriseRef(c_bce, c_name, c_status == "active"),
            EnterpriseRef(f_bce, f_name, f_status == "active"),
            mandate_id,
            tuple(domains.split()),
            _day(since),
            _day(until),
        )
        for mandate_id, domains, since, until, c_bce, c_name, c_status, f_bce, f_name, f_status in (
            rows
        )
    ]
    found.sort(key=lambda t: (t.client.name.casefold(), t.client.bce, t.firm.name.casefold()))
    return found


def representation_end(fact_id: int) -> date | None:
    """A legal representation's last day (the policy's facts leave it out), by id."""
    return _day(
        LegalRepresentation.select(LegalRepresentation.ended_on)
        .where(LegalRepresentation.id == fact_id)
        .scalar()
    )


# -- searches over holders (the decision API) --------------------------------------------------


def enterprises_held(
    nrn: str, day: date, after: int = 0, service_domain: str | None = None
) -> Iterator[list[tuple[int, str]]]:
    """(id, BCE number) of the enterprises where ``nrn`` holds a standing fact, and of the
    clients whose accepted mandates (covering ``service_domain`` when one is given) are held
    by those enterprises, ascending by id after the ``after`` cursor, a chunk at a time."""
    person = Person.select(Person.id).where(Person.nrn == nrn).first()
    if person is None:
        return iter(())

    def clients(after: int, chunk: int):
        held = RoleGrant.select(RoleGrant.enterprise).where(
            (RoleGrant.person == person.id) & standing(BASIS_GRANT, day)
        ) | GapDesignation.select(GapDesignation.enterprise).where(
            (GapDesignation.person == person.id) & standing(BASIS_DESIGNATION, day)
        )
        condition = (
            EnterpriseMandate.mandatee.in_(held)
            & (EnterpriseMandate.status == "accepted")
            & (EnterpriseMandate.mandator > after)
        )
        if service_domain is not None:
            condition &= covers(service_domain)
        column = EnterpriseMandate.mandator
        return column.model.select(column).where(condition).order_by(column).distinct().limit(chunk)

    return _holders(
        "enterprise",
        lambda model: model.person == person.id,
        day,
        after,
        lambda ids: Enterprise.select(Enterprise.id, Enterprise.bce).where(Enterprise.id.in_(ids)),
        also=clients,
    )


def holders_for(bce: str, day: date, after: int = 0) -> Iterator[list[tuple[int, str]]]:
    """(id, NRN) of the persons holding a standing fact on ``bce``, or on a firm holding an
    accepted mandate from it, ascending by id after the ``after`` cursor, a chunk at a time."""
    enterprise = Enterprise.select(Enterprise.id).where(Enterprise.bce == bce).first()
    if enterprise is None:
        return iter(())
    firms = EnterpriseMandate.select(EnterpriseMandate.mandatee).where(
        (EnterpriseMandate.mandator == enterprise.id) & (EnterpriseMandate.status == "accepted")
    )
    on = [enterprise.id, *(row[0] for row in firms.tuples())]  # a client's firms are few
    return _holders(
        "person",
        lambda model: model.enterprise.in_(on),
        day,
        after,
        lambda ids: Person.select(Person.id, Person.nrn).where(Person.id.in_(ids)),
    )


def covers(service_domain: str):
    """A mandate's domains (space-separated) include ``service_domain``, as a condition."""
    padded = Value(" ").concat(EnterpriseMandate.domains).concat(" ")
    return padded.contains(f" {service_domain} ")


def _holders(
    column_name: str, condition, day: date, after: int, names, chunk: int = 200, also=None
):
    """Each fact table (and ``also``, a query of ids) gives its ``chunk`` smallest ids above
    the cursor; the ``chunk`` smallest of their union are then exactly the next ids, however
    many facts the tables hold."""
    while True:
        ids: set[int] = set()
        for basis, model in _MODELS.items():
            column = getattr(model, column_name)
            query = (
                model.select(column)
                .where(condition(model) & standing(basis, day) & (column > after))
                .order_by(column)
                .distinct()
                .limit(chunk)
            )
            ids.update(row[0] for row in query.tuples())
        if also is not None:
            ids.update(row[0] for row in also(after, chunk).tuples())
        batch = sorted(ids)[:chunk]
        if not batch:
            return
        by_id = dict(names(batch).tuples())
        yield [(row_id, by_id[row_id]) for row_id in batch]
        after = batch[-1]


# -- every pair at once (``monespace policy diff``) ----------------------------------------------


def enterprise_count() -> int:
    return Enterprise.select().count()


def all_pairs(
    day: date, chunk: int = 500
) -> Iterator[list[tuple[F.PersonFacts, F.EnterpriseFacts]]]:
    """The facts of every (person, enterprise) pair holding a standing fact, as
    :func:`load_pair` reads them (asked without a service domain), a chunk of enterprises at
    a time (ascending by id): three queries a chunk, whatever the size of the tables. Every
    enterprise of a chunk is given, with its pairs; one where nobody holds anything as
    ``(None, enterprise)``, so that a caller counts enterprises."""
    after = 0
    while True:
        rows = list(
            Enterprise.select(
                Enterprise.id,
                Enterprise.bce,
                Enterprise.name,
                Enterprise.status,
                Enterprise.authz_epoch,
            )
            .where(Enterprise.id > after)
            .order_by(Enterprise.id)
            .limit(chunk)
            .tuples()
        )
        if not rows:
            return
        after = rows[-1][0]
        firms = {
            row_id: F.EnterpriseFacts(bce, name, status == "active", day, None, epoch or 0)
            for row_id, bce, name, status, epoch in rows
        }
        held: dict[int, dict[str, dict[str, list]]] = {row_id: {} for row_id in firms}

        def facts_of(enterprise_id: int, nrn: str, held=held) -> dict[str, list]:
            return held[enterprise_id].setdefault(nrn, {"g": [], "d": [], "r": []})

        ids = list(firms)
        grants = (
            RoleGrant.select(
                RoleGrant.enterprise,
                Person.nrn,
                RoleGrant.id,
                RoleGrant.role,
                RoleGrant.scope,
                RoleGrant.valid_until,
            )
            .join(Person, on=RoleGrant.person == Person.id)
            .where(RoleGrant.enterprise.in_(ids) & standing(BASIS_GRANT, day))
            .order_by(RoleGrant.id)
        )
        for enterprise_id, nrn, row_id, role, scope, until in grants.tuples():
            bce = firms[enterprise_id].bce
            grant = F.Grant(row_id, bce, role, scope.split() if scope else [], _day(until))
            facts_of(enterprise_id, nrn)["g"].append(grant)
        designations = (
            GapDesignation.select(GapDesignation.enterprise, Person.nrn, GapDesignation.id)
            .join(Person, on=GapDesignation.person == Person.id)
            .where(GapDesignation.enterprise.in_(ids) & standing(BASIS_DESIGNATION, day))
            .order_by(GapDesignation.id)
        )
        for enterprise_id, nrn, row_id in designations.tuples():
            designation = F.Designation(row_id, firms[enterprise_id].bce)
            facts_of(enterprise_id, nrn)["d"].append(designation)
        representations = (
            LegalRepresentation.select(
                LegalRepresentation.enterprise,
                Person.nrn,
                LegalRepresentation.id,
                LegalRepresentation.capacity,
            )
            .join(Person, on=LegalRepresentation.person == Person.id)
            .where(LegalRepresentation.enterprise.in_(ids) & standing(BASIS_REPRESENTATION, day))
            .order_by(LegalRepresentation.id)
        )
        for enterprise_id, nrn, row_id, capacity in representations.tuples():
            representation = F.Representation(row_id, firms[enterprise_id].bce, capacity or "")
            facts_of(enterprise_id, nrn)["r"].append(representation)
        batch: list = []
        for enterprise_id, enterprise in firms.items():
            pairs = sorted(held[enterprise_id].items())
            if not pairs:
                batch.append((None, enterprise))
            for nrn, f in pairs:
                batch.append((F.PersonFacts(nrn, f["g"], f["d"], f["r"]), enterprise))
        yield batch


def scoped_service_domains(day: date) -> set[str]:
    """The service domains named by the scope of a standing grant."""
    scopes = (
        RoleGrant.select(RoleGrant.scope)
        .where(standing(BASIS_GRANT, day) & (RoleGrant.scope != ""))
        .distinct()
        .tuples()
    )
    return {domain for (scope,) in scopes for domain in scope.split()}


# -- values from either database ---------------------------------------------------------------


def _day(value) -> date | None:
    # SQLite hands back the stored text, PostgreSQL a date.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _moment(value) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
