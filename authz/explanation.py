"""Explanations of decisions: which fact and which rules gave a permission, or why none did.

Built by :meth:`authz.engine.PolicyEngine.explain` for ``monespace policy explain`` (every fact)
and the decision API's ``explain`` (only what the caller's service domain may know:
:meth:`Explanation.seen_from`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from authz import facts as F
from authz.permissions import CLIENT_PERMISSIONS


@dataclass(frozen=True)
class RuleLine:
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}  {self.text}"


@dataclass(frozen=True)
class DecisionPath:
    """One fact that, on its own, gives the permission asked about."""

    kind: str  # designation | grant | representation | mandate
    fact_id: int
    role: str | None  # for a mandate: the person's role in the intermediary
    rules: tuple[RuleLine, ...] = ()
    scope: tuple[str, ...] = ()  # the grant's (or mandate's) service domains; () for every domain
    # Through an intermediary: person -> role in the firm -> mandate from the client -> domain.
    chain: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.role}" if self.role else self.kind


@dataclass
class Explanation:
    allowed: bool
    action: str
    nrn: str
    bce: str
    service_domain: str | None
    on: date
    policy_version: str
    paths: list[DecisionPath] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # The service domains of the fact each line of ``facts`` and ``reasons`` speaks of (by
    # position; () for an unscoped fact or a line about no fact), for seen_from().
    fact_scopes: list[tuple[str, ...]] = field(default_factory=list, repr=False)
    reason_scopes: list[tuple[str, ...]] = field(default_factory=list, repr=False)

    def add_fact(self, line: str, scope: tuple[str, ...] | list[str] = ()) -> None:
        self.facts.append(line)
        self.fact_scopes.append(tuple(scope))

    def add_reason(self, line: str, scope: tuple[str, ...] | list[str] = ()) -> None:
        self.reasons.append(line)
        self.reason_scopes.append(tuple(scope))

    def seen_from(self, service_domain: str | None) -> Explanation:
        """The explanation as a caller of ``service_domain`` may read it: only the facts that
        are unscoped or whose scope includes that domain, so that a relying party of one
        domain never learns of grants (ids, roles, scopes) held for another. None: a caller
        of no domain sees only unscoped facts."""

        def visible(scope: tuple[str, ...]) -> bool:
            return not scope or service_domain in scope

        shown = Explanation(
            self.allowed,
            self.action,
            self.nrn,
            self.bce,
            self.service_domain,
            self.on,
            self.policy_version,
            paths=[p for p in self.paths if visible(p.scope)],
        )
        for line, scope in zip(self.facts, self._padded(self.fact_scopes, self.facts), strict=True):
            if visible(scope):
                shown.add_fact(line, scope)
        for line, scope in zip(
            self.reasons, self._padded(self.reason_scopes, self.reasons), strict=True
        ):
            if visible(scope):
                shown.add_reason(line, scope)
        if not shown.allowed and not shown.facts and self.facts:
            shown.add_reason(
                "the person holds no role, GAP designation or legal representation in force "
                "on this enterprise for this service domain"
            )
        return shown

    @staticmethod
    def _padded(scopes: list[tuple[str, ...]], lines: list[str]) -> list[tuple[str, ...]]:
        # A line added without add_fact/add_reason speaks of no scoped fact.
        return scopes + [()] * (len(lines) - len(scopes))

    @property
    def path(self) -> str | None:
        """The strongest path that allows, e.g. ``grant:owner``; None when denied."""
        return self.paths[0].label if self.paths else None

    def to_dict(self) -> dict:
        return {
            "decision": self.allowed,
            "action": self.action,
            "person": self.nrn,
            "enterprise": self.bce,
            "service_domain": self.service_domain,
            "date": self.on.isoformat(),
            "policy_version": self.policy_version,
            "paths": [
                {
                    "path": p.label,
                    "fact": f"{p.kind}#{p.fact_id}",
                    "rules": [str(r) for r in p.rules],
                    **({"chain": list(p.chain)} if p.chain else {}),
                }
                for p in self.paths
            ],
            "facts": list(self.facts),
            "reasons": list(self.reasons),
        }

    def render(self) -> str:
        verdict = "ALLOW" if self.allowed else "DENY"
        domain = self.service_domain or "(none)"
        lines = [
            f"{verdict}  {self.action}  person {self.nrn}  enterprise {self.bce}",
            f"  service domain: {domain}   date: {self.on.isoformat()}   "
            f"policy version: {self.policy_version}",
        ]
        for p in self.paths:
            lines.append(f"  path: {p.label} (fact {p.kind}#{p.fact_id})")
            if p.chain:
                lines.append(f"    chain: {' -> '.join(p.chain)}")
            lines.extend(f"    rule {r}" for r in p.rules)
        if self.facts:
            lines.append("  facts:")
            lines.extend(f"    - {f}" for f in self.facts)
        if self.reasons:
            lines.append("  reasons:")
            lines.extend(f"    - {r}" for r in self.reasons)
        return "\n".join(lines)


def describe(fact) -> str:
    if isinstance(fact, F.Designation):
        return f"designation#{fact.id}: GAP of {fact.enterprise}"
    if isinstance(fact, F.Representation):
        capacity = f" ({fact.capacity})" if fact.capacity else ""
        return f"representation#{fact.id}: legal representative{capacity} of {fact.enterprise}"
    scope = " ".join(fact.scope) or "all service domains"
    until = fact.valid_until.isoformat() if fact.valid_until else "no end date"
    return f"grant#{fact.id}: {fact.role}, scope {scope}, until {until}"


def why_not(fact, action: str, enterprise: F.EnterpriseFacts) -> str:
    if isinstance(fact, F.Grant):
        if fact.valid_until is not None and fact.valid_until < enterprise.today:
            return f"grant#{fact.id} ({fact.role}) ended on {fact.valid_until.isoformat()}"
        if fact.scope and enterprise.service_domain not in fact.scope:
            asked = enterprise.service_domain or "no service domain"
            return (
                f"grant#{fact.id} ({fact.role}) is limited to {', '.join(fact.scope)}; "
                f"the question was asked for {asked}"
            )
        return f"grant#{fact.id}: the role {fact.role} does not give {action}"
    if isinstance(fact, F.Designation):
        return f"designation#{fact.id}: the GAP role does not give {action}"
    return f"representation#{fact.id}: a legal representative may only designate the GAP"


def describe_mandate(mandate: F.ClientMandate) -> str:
    until = mandate.valid_until.isoformat() if mandate.valid_until else "no end date"
    active = "" if mandate.firm.active else " (the firm has stopped)"
    return (
        f"mandate#{mandate.id}: from {mandate.client} to the firm {mandate.firm.bce} "
        f"{mandate.firm.name}{active}, for {', '.join(mandate.domains)}, "
        f"{mandate.valid_from.isoformat()} to {until}"
    )


def why_not_mandate(
    mandate: F.ClientMandate, fact, action: str, client: F.EnterpriseFacts, in_firm: bool
) -> str:
    """Which link of person -> role in the firm -> mandate -> domain breaks. ``in_firm``:
    whether the person's fact gives ``act_for_clients`` in the firm (asked of the policy)."""
    name = f"mandate#{mandate.id}"
    if action not in CLIENT_PERMISSIONS:
        return f"{name}: a mandate gives only {', '.join(CLIENT_PERMISSIONS)}, never {action}"
    if client.service_domain not in mandate.domains:
        asked = client.service_domain or "no service domain"
        return f"{name} is for {', '.join(mandate.domains)}; the question was asked for {asked}"
    if client.today < mandate.valid_from:
        return f"{name} begins on {mandate.valid_from.isoformat()}"
    if mandate.valid_until is not None and mandate.valid_until < client.today:
        return f"{name} ended on {mandate.valid_until.isoformat()}"
    if not mandate.firm.active:
        return f"{name}: the firm {mandate.firm.bce} has stopped: it acts for no client"
    if not in_firm:
        what = "the GAP role" if isinstance(fact, F.Designation) else f"the role {fact.role}"
        return (
            f"{name}: {what} in the firm {mandate.firm.bce} does not give act_for_clients "
            "(for this service domain)"
        )
    return f"{name} does not give {action}"
