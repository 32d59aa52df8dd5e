"""The espaces a person may pick after logging in: themself, or an enterprise they may act for.

Who may act for which enterprise is the policy's answer (permission ``act_for`` for the
relying party's service domain, ``policies/enterprise.polar``), asked at call time over the
facts of :mod:`authz.mandates`; nothing here decides. The chooser lists the enterprises of
:func:`espace_choices`, then the clients reached through the person's firms
(:func:`client_choices`, a page at a time); when its answer comes back, :func:`acting_for` asks
again, since the form proves nothing, and names the firm when the right comes through one. The
provider turns the answer into claims (``idp_bridge.oidc.claims``).
"""

from __future__ import annotations

import dataclasses
import heapq
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from authz import facts as F
from authz import firm_clients, mandates
from authz.engine import PolicyEngine, get_engine
from authz.identifiers import format_bce
from authz.mandates import BASIS_DESIGNATION, BASIS_GRANT, BASIS_MANDATE, BASIS_REPRESENTATION
from authz.permissions import ACT_FOR, ACT_FOR_CLIENTS
from authz.tables import today


@dataclass(frozen=True)
class EnterpriseChoice:
    """One enterprise of the espace chooser."""

    bce: str  # 10 digits
    name: str
    formatted_bce: str  # 0123.456.749
    basis: str  # grant | designation | representation | mandate
    since: date  # when that mandate began (a representation: when the registry gave it us)
    # Through an intermediary (basis "mandate"): the firm holding the client's mandate.
    firm_bce: str = ""
    firm_name: str = ""


@dataclass(frozen=True)
class ClientPage:
    """A page of the clients a person acts for through their firms."""

    choices: list[EnterpriseChoice]
    next_after: int | None  # the cursor of the next page (a mandate id); None on the last


@dataclass(frozen=True)
class Intermediary:
    """The firm a person acts through for a client: the firm, the person's roles there, and
    the client's mandate to it."""

    bce: str
    name: str
    roles: list[str]
    domains: list[str]
    valid_from: date
    valid_until: date | None


@dataclass(frozen=True)
class ActingFor:
    """A person's right to act for an enterprise in one service domain, now: the policy's
    roles and permissions, and the mandate it rests on."""

    bce: str
    name: str
    roles: list[str]
    permissions: list[str]
    basis: str  # grant | designation | representation | mandate
    valid_until: date | None  # the mandate's last day, if it has one
    intermediary: Intermediary | None = None  # basis "mandate": the firm acted through


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

    The person's own facts on the enterprise come first: roles and permissions are theirs.
    Failing those, a mandate the enterprise gave the person's firm (basis ``mandate``): no
    role on the client, the permissions the policy gives through that mandate, and the firm
    named (:class:`Intermediary`)."""
    engine = engine or get_engine()
    own, own_enterprise = direct_facts(person, enterprise)
    if not engine.allowed(own, ACT_FOR, own_enterprise):
        return _through_firm(engine, person, enterprise)
    fact = _basis(engine, own, own_enterprise)
    return ActingFor(
        enterprise.bce,
        enterprise.name,
        engine.roles(own, own_enterprise),
        engine.permissions(own, own_enterprise),
        _KIND[type(fact)],
        _valid_until(fact),
    )


def mandate_used(
    engine: PolicyEngine,
    person: F.PersonFacts,
    action: str,
    enterprise: F.EnterpriseFacts,
    *,
    allowed: bool = False,
) -> F.ClientMandate | None:
    """The client's mandate through which the person may do ``action``, when their own facts
    on the enterprise do not allow it; None otherwise (allowed directly, or not at all).

    ``allowed``: the caller already has the policy's yes for the pair. Then a person holding
    nothing of their own on the enterprise, and something in only one of its firms, acts
    through that firm's mandate (nothing else could have allowed it): the policy is not asked
    again."""
    if not enterprise.mandates:
        return None
    own, own_enterprise = direct_facts(person, enterprise)
    holds = own.grants or own.designations or own.representations
    if holds and engine.allowed(own, action, own_enterprise):
        return None
    candidates = [
        (mandate, in_firm)
        for mandate in enterprise.mandates
        if (in_firm := _in_firm(person, mandate.firm.bce)).grants or in_firm.designations
    ]
    if allowed and not holds and len(candidates) == 1:
        return candidates[0][0]
    for mandate, in_firm in candidates:
        one = dataclasses.replace(enterprise, mandates=[mandate])
        if engine.allowed(in_firm, action, one):
            return mandate
    return None


def _through_firm(
    engine: PolicyEngine, person: F.PersonFacts, enterprise: F.EnterpriseFacts
) -> ActingFor | None:
    mandate = mandate_used(engine, person, ACT_FOR, enterprise)
    if mandate is None:
        return None
    in_firm = _in_firm(person, mandate.firm.bce)
    one = dataclasses.replace(enterprise, mandates=[mandate])
    return ActingFor(
        enterprise.bce,
        enterprise.name,
        [],
        engine.permissions(in_firm, one),
        BASIS_MANDATE,
        mandate.valid_until,
        Intermediary(
            mandate.firm.bce,
            mandate.firm.name,
            engine.roles(in_firm, mandate.firm),
            list(mandate.domains),
            mandate.valid_from,
            mandate.valid_until,
        ),
    )


def _in_firm(person: F.PersonFacts, firm: str) -> F.PersonFacts:
    """The person holding only their facts in ``firm``."""
    return F.PersonFacts(
        person.nrn,
        [g for g in person.grants if g.enterprise == firm],
        [d for d in person.designations if d.enterprise == firm],
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
    nrn: str,
    service_domain: str,
    *,
    query: str | None = None,
    limit: int = 50,
    holdings: Sequence[mandates.Holding] | None = None,
) -> list[EnterpriseChoice]:
    """Enterprises this person may act for in ``service_domain``, most recent mandate first.

    ``query`` keeps those whose name contains it (ignoring case, accents and punctuation) or,
    when it spells a number (``0123.456.749``, ``BE 0123456749``, ``456 749``), whose BCE number
    contains its digits.

    One query reads the person's mandates (:func:`authz.mandates.facts_by_enterprise`); the
    engine is then asked about the enterprises in order of their latest fact, and no further
    once ``limit`` choices are found that no remaining enterprise could come before.
    ``holdings``: what that query gives today for this domain, when the caller has read it
    already (:func:`client_choices` starts from the same).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    engine = get_engine()
    match = _matcher(query)
    candidates = sorted(
        (h for h in _holdings(nrn, today(), service_domain, holdings) if match(h.enterprise)),
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


def client_choices(
    nrn: str,
    service_domain: str,
    *,
    query: str | None = None,
    after: int | None = None,
    limit: int = 20,
    exclude: frozenset[str] | set[str] = frozenset(),
    holdings: Sequence[mandates.Holding] | None = None,
) -> ClientPage:
    """The clients this person acts for through their firms in ``service_domain``, a page at
    a time, by name; each names the firm holding its mandate. ``exclude``: enterprises
    already listed (those of :func:`espace_choices`); ``query`` as there; ``after`` the
    cursor of :attr:`ClientPage.next_after`; ``holdings`` as for :func:`espace_choices`.

    Firms first: the enterprises where the person holds standing facts, kept when the policy
    gives them ``act_for_clients`` for this domain (a person is in few). Then their mandates,
    read a chunk at a time from the cursor (:func:`authz.firm_clients.held_mandates`, never
    all of them), each asked of the policy until the page is full."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    engine, day = get_engine(), today()
    firms = {}
    people = {}
    for holding in _holdings(nrn, day, service_domain, holdings):
        if engine.allowed(holding.person, ACT_FOR_CLIENTS, holding.enterprise):
            firms[holding.enterprise.bce] = holding.enterprise
            people[holding.enterprise.bce] = holding.person
    match = _matcher(query)
    name_like, digits = _sql_search(query)
    found: list[tuple[int, EnterpriseChoice]] = []
    seen: set[str] = set(exclude)
    # The policy is asked once per firm and mandate terms: every client listed is active and
    # differs from the next only by its name and number, which the rules read only to tie the
    # mandate to its client. (An answer here only offers a choice; the choice coming back is
    # asked of the policy afresh, client by client.)
    answers: dict[tuple, bool] = {}
    while firms and len(found) <= limit:
        chunk = firm_clients.held_mandates(
            firms,
            day,
            service_domain,
            name_like=name_like,
            digits=digits,
            exclude=exclude,
            after=after,
            limit=firm_clients.PAGE_CHUNK,
        )
        for held in chunk:
            after = held.id
            client = held.client
            if client.bce in seen or not match(client):
                continue
            mandate = client.mandates[0]
            terms = (held.firm.bce, tuple(mandate.domains), mandate.valid_from, mandate.valid_until)
            if terms not in answers:
                answers[terms] = engine.allowed(people[held.firm.bce], ACT_FOR, client)
            if not answers[terms]:
                continue
            seen.add(client.bce)
            found.append(
                (
                    held.id,
                    EnterpriseChoice(
                        client.bce,
                        client.name,
                        format_bce(client.bce),
                        BASIS_MANDATE,
                        mandate.valid_from,
                        held.firm.bce,
                        held.firm.name,
                    ),
                )
            )
            if len(found) > limit:
                break
        if len(chunk) < firm_clients.PAGE_CHUNK:
            break
    next_after = found[limit - 1][0] if len(found) > limit else None
    return ClientPage([choice for _, choice in found[:limit]], next_after)


def chooser_lists(
    nrn: str,
    service_domain: str,
    *,
    query: str | None = None,
    after: int | None = None,
    clients_limit: int = 20,
) -> tuple[list[EnterpriseChoice], ClientPage]:
    """The espace chooser's two lists: :func:`espace_choices`, then a page of
    :func:`client_choices` without the enterprises already in the first; the person's mandates
    read once for both."""
    holdings = mandates.facts_by_enterprise(nrn, today(), service_domain)
    choices = espace_choices(nrn, service_domain, query=query, holdings=holdings)
    clients = client_choices(
        nrn,
        service_domain,
        query=query,
        after=after,
        limit=clients_limit,
        exclude={c.bce for c in choices},
        holdings=holdings,
    )
    return choices, clients


def _holdings(
    nrn: str, day: date, service_domain: str, read: Sequence[mandates.Holding] | None
) -> Sequence[mandates.Holding]:
    return mandates.facts_by_enterprise(nrn, day, service_domain) if read is None else read


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


# Letters an accented one folds to: in SQL, where accents cannot be folded, any character may
# stand in their place; :func:`_matcher` then keeps the true matches.
_ACCENTABLE = set("aceinouyz")


def _sql_search(query: str | None) -> tuple[str | None, str | None]:
    """The chooser's search as SQL can test it: a LIKE pattern on the lower-cased name that
    every name :func:`_matcher` keeps also matches (``\\`` escaping), and the BCE digits."""
    folded = _fold(query or "")
    if not folded:
        return None, None
    stripped = (query or "").strip()
    digits = re.sub(r"\D", "", stripped) if _NUMBER.fullmatch(stripped) else None

    def literal(c: str) -> str:
        if c in _ACCENTABLE or not c.isascii():
            return "_"
        return "\\" + c if c in "%_\\" else c

    words = ["".join(literal(c) for c in word) for word in folded.split()]
    return "%" + "%".join(words) + "%", digits


def _fold(text: str) -> str:
    """Lower case, no accents, punctuation as single spaces: "Dubois-Démo" -> "dubois demo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())
