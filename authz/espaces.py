"""The espaces a person may pick after logging in: themself, or an enterprise they may act for.

Who may act for which enterprise is the policy's answer (permission ``act_for`` for the
relying party's service domain, ``policies/enterprise.polar``), asked at call time over the
facts of :mod:`authz.mandates`; nothing here decides. The chooser lists the enterprises of
:func:`espace_choices`; when its answer comes back, :func:`acting_for` asks again, since the
form proves nothing. The provider turns the answer into claims (``idp_bridge.oidc.claims``).
"""

from __future__ import annotations

import dataclasses
import heapq
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from authz import facts as F
from authz import mandates
from authz.engine import PolicyEngine, get_engine
from authz.identifiers import format_bce
from authz.mandates import BASIS_DESIGNATION, BASIS_GRANT, BASIS_REPRESENTATION
from authz.permissions import ACT_FOR
from authz.tables import today


@dataclass(frozen=True)
class EnterpriseChoice:
    """One enterprise of the espace chooser."""

    bce: str  # 10 digits
    name: str
    formatted_bce: str  # 0123.456.749
    basis: str  # grant | designation | representation
    since: date  # when that mandate began (a representation: when the registry gave it us)


@dataclass(frozen=True)
class ActingFor:
    """A person's right to act for an enterprise in one service domain, now: the policy's
    roles and permissions, and the mandate it rests on."""

    bce: str
    name: str
    roles: list[str]
    permissions: list[str]
    basis: str  # grant | designation | representation
    valid_until: date | None  # the mandate's last day, if it has one


def acting_for(nrn: str, bce: str, service_domain: str) -> ActingFor | None:
    """What ``nrn`` may do for ``bce`` (10 digits) in ``service_domain`` today, or None when
    the policy does not let them act for it. Asked afresh each time, so an answer given after
    a revocation never carries the revoked rights."""
    pair = mandates.load_pair(nrn, bce, today(), service_domain)
    return None if pair is None else acting_for_pair(*pair)


def acting_for_pair(
    person: F.PersonFacts, enterprise: F.EnterpriseFacts, engine: PolicyEngine | None = None
) -> ActingFor | None:
    """:func:`acting_for` over facts already read (:func:`authz.mandates.load_pair`).

    Only the person's own facts on the enterprise count here: acting for a client through an
    intermediary (a mandate to the person's firm) is answered by the decision API, but its
    representation claim, which must name the firm, is not issued yet (docs/intermediaries.md),
    so the chooser does not offer such clients and this answers None for them."""
    engine = engine or get_engine()
    person, enterprise = direct_facts(person, enterprise)
    if not engine.allowed(person, ACT_FOR, enterprise):
        return None
    fact = _basis(engine, person, enterprise)
    return ActingFor(
        enterprise.bce,
        enterprise.name,
        engine.roles(person, enterprise),
        engine.permissions(person, enterprise),
        _KIND[type(fact)],
        _valid_until(fact),
    )


def direct_facts(
    person: F.PersonFacts, enterprise: F.EnterpriseFacts
) -> tuple[F.PersonFacts, F.EnterpriseFacts]:
    """The pair without what comes through intermediaries: the person's facts on this
    enterprise only, and none of its mandates to firms."""
    if not enterprise.mandates:
        return person, enterprise
    return (
        F.PersonFacts(
            person.nrn,
            [g for g in person.grants if g.enterprise == enterprise.bce],
            [d for d in person.designations if d.enterprise == enterprise.bce],
            person.representations,
        ),
        dataclasses.replace(enterprise, mandates=[]),
    )


def espace_choices(
    nrn: str, service_domain: str, *, query: str | None = None, limit: int = 50
) -> list[EnterpriseChoice]:
    """Enterprises this person may act for in ``service_domain``, most recent mandate first.

    ``query`` keeps those whose name contains it (ignoring case, accents and punctuation) or,
    when it spells a number (``0123.456.749``, ``BE 0123456749``, ``456 749``), whose BCE number
    contains its digits.

    One query reads the person's mandates (:func:`authz.mandates.facts_by_enterprise`); the
    engine is then asked about the enterprises in order of their latest fact, and no further
    once ``limit`` choices are found that no remaining enterprise could come before.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    engine = get_engine()
    match = _matcher(query)
    candidates = sorted(
        (
            h
            for h in mandates.facts_by_enterprise(nrn, today(), service_domain)
            if match(h.enterprise)
        ),
        key=lambda h: h.latest,
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
        started = candidate.started[(_KIND[type(fact)], fact.id)]
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


# -- the mandate an answer rests on ------------------------------------------------------------

_KIND = {
    F.Grant: BASIS_GRANT,
    F.Designation: BASIS_DESIGNATION,
    F.Representation: BASIS_REPRESENTATION,
}


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
        return mandates.representation_end(fact.id)  # the policy's facts leave it out
    return None


# -- the chooser's search box ------------------------------------------------------------------

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
