"""The decision point: fast, cached, explainable answers to "may P do A for E?".

A bounded cache (cachetools) sits in front of the policy engine. Its keys carry the
enterprise's authorization epoch and the date, so:

- a cached decision is never used after the access of its enterprise changed (the epoch moved:
  see ``authz.epochs`` for how every process hears of it), nor after midnight UTC (end dates are
  dates);
- while the epoch tracker is unhealthy (the PostgreSQL listener lost its connection), no cached
  allow is served: every allow is computed afresh from the database;
- entries also expire after ``ttl`` seconds, and the cache never holds more than ``size`` of
  them.

The facts are read after the epoch, so a decision is cached under the epoch of its facts or an
older one, never a newer one.

A decision about a client of intermediaries also rests on facts of the firms holding its
mandates (the person's role there, the firm's status). Those changes move the firm's epoch, not
the client's: so each entry also remembers the epochs of those firms, read with its facts, and
is used only while every one of them is still current. The set of firms is the client's own
fact (accepting or ending a mandate moves the client's epoch), so it cannot change unseen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cachetools import TTLCache

from authz import facts as F
from authz import mandates, metrics
from authz.decisionlog import DecisionLog
from authz.engine import Explanation, PolicyEngine, get_engine
from authz.epochs import EpochTracker
from authz.espaces import ActingFor, acting_for_pair, mandate_used
from authz.permissions import ALL_PERMISSIONS
from authz.tables import today

_ALL_ACTIONS = "*"  # cache key of the list of permissions of a pair
_ACTING_FOR = "acting_for"  # cache key of what a person may do for an enterprise (claims)
_THROUGH = "through:"  # cache key prefix of the firm a permission comes through (searches)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    cache: str  # hit | miss
    epoch: int | None
    facts: tuple[str, ...]
    policy_version: str
    explanation: Explanation | None = None


def _fact_ids(person: F.PersonFacts) -> tuple[str, ...]:
    return (
        *(f"designation#{d.id}" for d in person.designations),
        *(f"grant#{g.id}" for g in person.grants),
        *(f"representation#{r.id}" for r in person.representations),
    )


class DecisionPoint:
    def __init__(
        self,
        tracker: EpochTracker,
        engine: PolicyEngine | None = None,
        cache_size: int = 100_000,
        ttl: float = 300,
        log: DecisionLog | None = None,
    ):
        self.tracker = tracker
        self.engine = engine or get_engine()
        self.log = log or DecisionLog("off")
        self._cache: TTLCache | None = TTLCache(cache_size, ttl) if cache_size else None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Empty the cache: every answer is then computed afresh (benchmarks of uncached
        searches)."""
        if self._cache is not None:
            with self._lock:
                self._cache.clear()

    # -- single decisions ----------------------------------------------------------------

    def evaluate(
        self,
        nrn: str,
        action: str,
        bce: str,
        service_domain: str | None = None,
        *,
        explain: bool = False,
        client_id: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """Decide; with ``explain``, bypass the cache and attach the explanation."""
        day = today()
        decision = self._decide(nrn, action, bce, service_domain, day, explain)
        metrics.DECISION_COUNTS[decision.allowed, decision.cache].inc()
        if self.log.wanted(explained=explain):
            self.log.record(
                request_id=request_id,
                client=client_id,
                subject=nrn,
                action=action,
                resource=bce,
                service_domain=service_domain,
                decision=decision.allowed,
                cache=decision.cache,
                epoch=decision.epoch,
                policy_version=decision.policy_version,
                facts=list(decision.facts),
            )
        return decision

    def _decide(
        self, nrn: str, action: str, bce: str, domain: str | None, day: date, explain: bool
    ) -> Decision:
        version = self.engine.version
        if action not in ALL_PERMISSIONS:
            return Decision(False, "miss", None, (), version)
        if not explain:
            cached = self._cached((nrn, action, bce, domain, day))
            if cached is not None:
                allowed, epoch, facts = cached
                return Decision(allowed, "hit", epoch, facts, version)
        started = time.perf_counter()
        pair = mandates.load_pair(nrn, bce, day, domain)
        if pair is None:
            if not explain:
                metrics.UNCACHED_SECONDS.observe(time.perf_counter() - started)
            explanation = self._explain(nrn, action, bce, domain, day) if explain else None
            return Decision(False, "miss", None, (), version, explanation)
        person, enterprise = pair
        allowed = self.engine.allowed(person, action, enterprise)
        facts = _fact_ids(person)
        self._store((nrn, action, bce, domain, day), enterprise, (allowed, facts))
        if not explain:
            metrics.UNCACHED_SECONDS.observe(time.perf_counter() - started)
        explanation = self._explain(nrn, action, bce, domain, day) if explain else None
        return Decision(allowed, "miss", enterprise.epoch, facts, version, explanation)

    def _explain(self, nrn: str, action: str, bce: str, domain: str | None, day: date):
        # Callers of the decision point are relying parties of one service domain: they see
        # the facts of their domain and the unscoped ones, never another domain's grants.
        return self.engine.explain(nrn, action, bce, domain, day).seen_from(domain)

    def _cached(self, question: tuple) -> tuple | None:
        """(allowed, epoch, facts) from the cache, if usable now."""
        if self._cache is None:
            return None
        epoch = self.tracker.epoch(question[2])
        if epoch is None:
            return None
        with self._lock:
            hit = self._cache.get((*question, epoch))
        if hit is None:
            return None
        (allowed, facts), firm_epochs = hit
        if allowed and not self.tracker.healthy:
            return None  # changes may be going unheard: recompute every allow
        for firm, firm_epoch in firm_epochs:
            if self.tracker.epoch(firm) != firm_epoch:
                return None  # something changed in an intermediary of this enterprise
        return allowed, epoch, facts

    def _store(self, question: tuple, enterprise: F.EnterpriseFacts, value: tuple) -> None:
        """Keep ``value`` under the enterprise's epoch, with the epochs of the intermediaries
        holding its mandates (:attr:`authz.facts.EnterpriseFacts.firm_epochs`)."""
        if self._cache is not None:
            with self._lock:
                self._cache[(*question, enterprise.epoch)] = (value, enterprise.firm_epochs)

    # -- searches ------------------------------------------------------------------------

    def actions(self, nrn: str, bce: str, service_domain: str | None = None) -> list[str]:
        """Every permission ``nrn`` has on ``bce``, cached like single decisions.

        Stored as (any permission?, permissions): an empty list counts as a deny, a non-empty
        one as an allow, for the rule on unhealthy trackers.
        """

        def permissions(person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> tuple:
            found = tuple(self.engine.permissions(person, enterprise))
            return bool(found), found

        return list(self._on_pair(_ALL_ACTIONS, nrn, bce, service_domain, permissions, ()))

    def acting_for(self, nrn: str, bce: str, service_domain: str | None) -> ActingFor | None:
        """:func:`authz.espaces.acting_for` (the ``represents`` claim of tokens), cached like
        single decisions: under the enterprise's epoch and the day, so an answer is never
        used after a change of the enterprise's mandates, on any node (as soon as its
        tracker hears of it), and no cached allow is used while the tracker is unhealthy."""

        def acting(person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> tuple:
            found = acting_for_pair(person, enterprise, engine=self.engine)
            return found is not None, found

        return self._on_pair(_ACTING_FOR, nrn, bce, service_domain, acting, None)

    def through(
        self, nrn: str, action: str, bce: str, service_domain: str | None, *, allowed: bool = False
    ) -> tuple[str, str] | None:
        """(BCE number, name) of the firm through whose mandate ``nrn`` may do ``action`` for
        ``bce``; None when their own facts allow it, or nothing does. ``allowed``: the policy
        said yes already (a search's result), which spares asking it again when only one firm
        can be the reason (:func:`authz.espaces.mandate_used`). Cached like decisions (under
        the epochs of the enterprise and of its firms)."""

        def firm(person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> tuple:
            mandate = mandate_used(self.engine, person, action, enterprise, allowed=allowed)
            found = None if mandate is None else (mandate.firm.bce, mandate.firm.name)
            return found is not None, found

        return self._on_pair(_THROUGH + action, nrn, bce, service_domain, firm, None)

    def _on_pair(
        self,
        kind: str,
        nrn: str,
        bce: str,
        service_domain: str | None,
        answer: Callable[[F.PersonFacts, F.EnterpriseFacts], tuple[bool, Any]],
        unknown: Any,
    ) -> Any:
        """What ``answer`` gives (an allow?, the value) on the pair's facts, cached like single
        decisions under ``kind``; ``unknown`` when the person or the enterprise is not known."""
        day = today()
        question = (nrn, kind, bce, service_domain, day)
        cached = self._cached(question)
        if cached is not None:
            return cached[2]
        pair = mandates.load_pair(nrn, bce, day, service_domain)
        if pair is None:
            return unknown
        allowed, value = answer(*pair)
        self._store(question, pair[1], (allowed, value))
        return value

    def enterprises_of(
        self,
        nrn: str,
        action: str,
        service_domain: str | None = None,
        after: int = 0,
        limit: int = 50,
    ) -> tuple[list[str], int | None]:
        """BCE numbers of enterprises where ``nrn`` may do ``action``, and the next cursor."""
        return self._search(
            mandates.enterprises_held(nrn, today(), after, service_domain),
            lambda bce: self.evaluate(nrn, action, bce, service_domain).allowed,
            limit,
        )

    def persons_for(
        self,
        bce: str,
        action: str,
        service_domain: str | None = None,
        after: int = 0,
        limit: int = 50,
    ) -> tuple[list[str], int | None]:
        """NRNs of persons who may do ``action`` for ``bce``, and the next cursor."""
        return self._search(
            mandates.holders_for(bce, today(), after),
            lambda nrn: self.evaluate(nrn, action, bce, service_domain).allowed,
            limit,
        )

    @staticmethod
    def _search(chunks, allowed, limit: int) -> tuple[list[str], int | None]:
        """Walk the holders (id, name) in order of id, keep those allowed; a cursor only if
        more remain. Holders are those of standing facts: the policy is given no other."""
        found: list[tuple[int, str]] = []
        for chunk in chunks:
            for row_id, name in chunk:
                if allowed(name):
                    if len(found) == limit:  # one more exists: the page is not the last
                        return [name for _, name in found], found[-1][0]
                    found.append((row_id, name))
        return [name for _, name in found], None
