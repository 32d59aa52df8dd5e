"""Representation claims: the espace a person logged in for, in ID tokens and userinfo.

The shapes are fixed by DESIGN.md §6 ("Representation claims") so that relying parties can
rely on them::

    "espace": "citoyen"                       # acting for oneself: nothing else
    "espace": "professionnel",
    "represents": {"sub": "0403170701",
                   "sub_id_type": "urn:be:fgov:kbo-bce:organization:cbe-number",
                   "iss": "<this issuer>", "name": "...",
                   "roles": ["owner", ...], "permissions": ["act_for", ...],
                   "basis": "grant", "valid_until": "2027-03-31"}

They follow the ``represents`` claim of the Dutch government profile of OpenID Connect
(OpenID NLGov, Logius): the person who logged in stays in the token's ``sub``, and the party
they act for goes in ``represents``, with its own ``sub`` and ``sub_id_type``. The direction is
deliberate: a relying party that knows nothing of representation reads the token as "this
person logged in" and is never misled into thinking the person *is* the enterprise.

Who may act for which enterprise is the policy's answer (permission ``act_for`` for the
relying party's service domain, ``policies/enterprise.polar``), asked of the policy engine at
call time; nothing here decides. The espace chooser lists the enterprises of
:func:`espace_choices`; when its answer comes back, :func:`represents_claim` (or
:func:`may_represent`) asks again, since the form proves nothing.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from peewee import Value

from authz import facts as F
from authz.engine import PolicyEngine, get_engine
from authz.errors import InvalidInput
from authz.identifiers import format_bce, normalize_bce
from authz.models import (
    Enterprise,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    today,
)
from authz.permissions import ACT_FOR

ESPACE_CITOYEN = "citoyen"
ESPACE_PROFESSIONNEL = "professionnel"
CBE_SUB_ID_TYPE = "urn:be:fgov:kbo-bce:organization:cbe-number"

# The kind of fact a mandate rests on, as named in the claim's "basis".
BASIS_GRANT, BASIS_DESIGNATION, BASIS_REPRESENTATION = "grant", "designation", "representation"


@dataclass(frozen=True)
class EnterpriseChoice:
    """One enterprise of the espace chooser."""

    bce: str  # 10 digits
    name: str
    formatted_bce: str  # 0123.456.749
    basis: str  # grant | designation | representation
    since: date  # when that mandate began (a representation: when the registry gave it us)


# -- claims ------------------------------------------------------------------------------------


def citizen_claims() -> dict:
    return {"espace": ESPACE_CITOYEN}


def professional_claims(represents: dict) -> dict:
    """The claims of a person acting for an enterprise (``represents`` from
    :func:`represents_claim`)."""
    if not represents:
        # represents_claim() said no: a token must not claim the espace without the enterprise.
        raise ValueError("no representation to claim: the person acts as a citizen")
    return {"espace": ESPACE_PROFESSIONNEL, "represents": represents}


def may_represent(nrn: str, bce: object, service_domain: str) -> bool:
    """May this person act for ``bce`` (any spelling) in this service domain, now?"""
    number = _bce_or_none(bce)
    return number is not None and get_engine().decide(
        nrn, ACT_FOR, number, service_domain, on=today()
    )


def represents_claim(nrn: str, bce: object, service_domain: str, issuer: str) -> dict | None:
    """The ``represents`` claim, or None when the person may not act for the enterprise.

    Roles and permissions are the engine's answer at this moment, so a token issued after a
    revocation never carries the revoked rights.
    """
    number = _bce_or_none(bce)
    if number is None:
        return None
    pair = F.load_pair(nrn, number, today(), service_domain)
    if pair is None:
        return None
    person, enterprise = pair
    engine = get_engine()
    if not engine.allowed(person, ACT_FOR, enterprise):
        return None
    fact = _basis(engine, person, enterprise)
    claim = {
        "sub": number,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "iss": issuer,
        "name": enterprise.name,
        "roles": engine.roles(person, enterprise),
        "permissions": engine.permissions(person, enterprise),
        "basis": _KIND[type(fact)],
    }
    until = _valid_until(fact)
    if until is not None:
        claim["valid_until"] = until.isoformat()
    return claim


# -- the chooser -------------------------------------------------------------------------------


def espace_choices(
    nrn: str, service_domain: str, *, query: str | None = None, limit: int = 50
) -> list[EnterpriseChoice]:
    """Enterprises this person may act for in ``service_domain``, most recent mandate first.

    ``query`` keeps those whose name contains it (ignoring case, accents and punctuation) or,
    when it spells a number (``0123.456.749``, ``BE 0123456749``, ``456 749``), whose BCE number
    contains its digits.

    One query reads the person's mandates; the engine is then asked about the enterprises in
    order of their latest fact, and no further once ``limit`` choices are found that no
    remaining enterprise could come before.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    engine = get_engine()
    match = _matcher(query)
    candidates = sorted(
        (c for c in _mandates(nrn, today(), service_domain) if match(c.enterprise)),
        key=lambda c: c.latest,
        reverse=True,
    )
    kept: list[tuple[datetime, int]] = []  # min-heap of the best `limit` (started, index)
    found: list[tuple[datetime, EnterpriseChoice]] = []
    for candidate in candidates:
        if len(kept) == limit and candidate.latest < kept[0][0]:
            break  # every later candidate began before the last choice kept
        person, enterprise = candidate.person, candidate.enterprise
        if not engine.allowed(person, ACT_FOR, enterprise):
            continue
        fact = _basis(engine, person, enterprise)
        started = candidate.started[_key(fact)]
        found.append(
            (
                started,
                EnterpriseChoice(
                    enterprise.bce,
                    enterprise.name,
                    format_bce(enterprise.bce),
                    _KIND[type(fact)],
                    started.date(),
                ),
            )
        )
        heapq.heappush(kept, (started, len(found)))
        if len(kept) > limit:
            heapq.heappop(kept)
    found.sort(key=lambda item: (_fold(item[1].name), item[1].bce))
    found.sort(key=lambda item: item[0], reverse=True)
    return [choice for _, choice in found[:limit]]


# -- facts -------------------------------------------------------------------------------------

_KIND = {
    F.Grant: BASIS_GRANT,
    F.Designation: BASIS_DESIGNATION,
    F.Representation: BASIS_REPRESENTATION,
}


def _key(fact: F.Grant | F.Designation | F.Representation) -> tuple[str, int]:
    return _KIND[type(fact)], fact.id


@dataclass(frozen=True)
class _Candidate:
    """An enterprise on which the person holds some fact, with the facts as the policy sees
    them and when each began."""

    person: F.PersonFacts
    enterprise: F.EnterpriseFacts
    started: dict[tuple[str, int], datetime]

    @property
    def latest(self) -> datetime:
        """When its most recent fact began: no choice on it can be more recent."""
        return max(self.started.values())


def _mandates(nrn: str, day: date, service_domain: str | None) -> list[_Candidate]:
    """Every enterprise where ``nrn`` holds a fact in force, in one statement.

    The facts are those :func:`authz.facts.load_pair` reads for each pair (grants and
    designations not ended, representations not ended before ``day``; a test checks they
    agree), read for all the person's enterprises at once through the (person, enterprise)
    indexes.
    """

    def branch(kind: str, model, detail, scope, until, started, condition):
        return (
            model.select(
                Value(kind),
                model.id,
                Enterprise.bce,
                Enterprise.name,
                Enterprise.status,
                Enterprise.authz_epoch,
                detail,
                scope,
                until,
                started,
            )
            .join_from(model, Enterprise, on=(model.enterprise == Enterprise.id))
            .join_from(model, Person, on=(model.person == Person.id))
            .where((Person.nrn == nrn) & condition)
        )

    none = Value(None)
    statement = (
        branch(
            BASIS_GRANT,
            RoleGrant,
            RoleGrant.role,
            RoleGrant.scope,
            RoleGrant.valid_until,
            RoleGrant.granted_at,
            RoleGrant.ended_at.is_null(),
        )
        + branch(
            BASIS_DESIGNATION,
            GapDesignation,
            none,
            none,
            none,
            GapDesignation.started_at,
            GapDesignation.ended_at.is_null(),
        )
        + branch(
            BASIS_REPRESENTATION,
            LegalRepresentation,
            LegalRepresentation.capacity,
            none,
            LegalRepresentation.ended_on,
            LegalRepresentation.imported_at,
            LegalRepresentation.ended_on.is_null() | (LegalRepresentation.ended_on >= day),
        )
    )
    by_bce: dict[str, tuple[F.EnterpriseFacts, list, list, list, dict]] = {}
    for (
        kind,
        fact_id,
        bce,
        name,
        status,
        epoch,
        detail,
        scope,
        until,
        started,
    ) in statement.tuples():
        if bce not in by_bce:
            enterprise = F.EnterpriseFacts(
                bce, name, status == "active", day, service_domain, int(epoch)
            )
            by_bce[bce] = (enterprise, [], [], [], {})
        _, grants, designations, representations, starts = by_bce[bce]
        if kind == BASIS_GRANT:
            grants.append(
                F.Grant(fact_id, bce, detail, scope.split() if scope else [], _day(until))
            )
        elif kind == BASIS_DESIGNATION:
            designations.append(F.Designation(fact_id, bce))
        else:
            representations.append(F.Representation(fact_id, bce, detail or ""))
        starts[(kind, fact_id)] = _moment(started)
    return [
        _Candidate(F.PersonFacts(nrn, grants, designations, representations), enterprise, starts)
        for enterprise, grants, designations, representations, starts in by_bce.values()
    ]


def _basis(
    engine: PolicyEngine, person: F.PersonFacts, enterprise: F.EnterpriseFacts
) -> F.Grant | F.Designation | F.Representation:
    """The fact that, on its own, lets the person act for the enterprise: the strongest one,
    in the order of the engine's explanations (designation, grant, representation)."""
    facts = [*person.designations, *person.grants, *person.representations]
    if len(facts) > 1:
        for fact in facts:
            if engine.allowed(person.only(fact), ACT_FOR, enterprise):
                return fact
    # A single fact, or (no such rule today) a permission only facts together give.
    return facts[0]


def _valid_until(fact: F.Grant | F.Designation | F.Representation) -> date | None:
    """The mandate's last day, if it has one (a designation lasts until replaced)."""
    if isinstance(fact, F.Grant):
        return fact.valid_until
    if isinstance(fact, F.Representation):
        # The facts leave the end out (the policy does not read it): one lookup by id.
        ended_on = (
            LegalRepresentation.select(LegalRepresentation.ended_on)
            .where(LegalRepresentation.id == fact.id)
            .scalar()
        )
        return _day(ended_on)
    return None


# -- helpers -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?:BE)?[\s.\-/]*\d[\d\s.\-/]*", re.IGNORECASE)


def _matcher(query: str | None):
    """A test on EnterpriseFacts for the chooser's search box (None or blank: everything)."""
    folded = _fold(query or "")
    if not folded:
        return lambda _enterprise: True
    stripped = (query or "").strip()
    digits = re.sub(r"\D", "", stripped) if _NUMBER.fullmatch(stripped) else None

    def match(enterprise: F.EnterpriseFacts) -> bool:
        return folded in _fold(enterprise.name) or (digits is not None and digits in enterprise.bce)

    return match


def _fold(text: str) -> str:
    """Lower case, no accents, punctuation as single spaces: "Dubois-Démo" -> "dubois demo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def _bce_or_none(value: object) -> str | None:
    try:
        return normalize_bce(value)
    except InvalidInput:
        return None


def _day(value) -> date | None:
    # SQLite hands back the stored text, PostgreSQL a date.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _moment(value) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
