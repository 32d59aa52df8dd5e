"""The policy's truth table (``policies/truth_table.toml``), run against the real engine.

Used by ``monespace policy test`` (on a throw-away SQLite database) and by the test suite (on
each test database). The table is a document: a small world of people and enterprises, the
decisions the policy must take about them, and the fact each allowed decision must come from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from authz import facts as F
from authz import mandates
from authz.engine import PolicyEngine, PolicyError
from authz.models import (
    Enterprise,
    EnterpriseMandate,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
)
from policies import POLICY_DIR

TRUTH_TABLE = POLICY_DIR / "truth_table.toml"


@dataclass(frozen=True)
class DecisionCase:
    who: str
    action: str
    enterprise: str
    service_domain: str | None
    expected: bool
    path: str | None

    @property
    def name(self) -> str:
        domain = f" [{self.service_domain}]" if self.service_domain else ""
        verdict = "allow" if self.expected else "deny"
        return f"{self.who} {self.action} {self.enterprise}{domain} -> {verdict}"


@dataclass(frozen=True)
class RoleChangeCase:
    who: str
    action: str
    role: str
    enterprise: str
    expected: bool

    @property
    def name(self) -> str:
        verdict = "allow" if self.expected else "deny"
        return f"{self.who} {self.action} {self.role} on {self.enterprise} -> {verdict}"


@dataclass(frozen=True)
class GivingCase:
    """May ``who`` give a grant on these terms to ``to`` (rule ``may_give``)?"""

    who: str
    enterprise: str
    role: str
    scope: tuple[str, ...]
    valid_until: date | None
    to: str | None  # a person of the table, or None: not known yet (an unbound invitation)
    own_change: bool
    expected: bool

    @property
    def name(self) -> str:
        verdict = "allow" if self.expected else "deny"
        scope = f" [{' '.join(self.scope)}]" if self.scope else ""
        until = f" until {self.valid_until.isoformat()}" if self.valid_until else ""
        to = "(own grant changed)" if self.own_change else f"to {self.to or 'someone'}"
        return f"{self.who} gives {self.role}{scope}{until} {to} on {self.enterprise} -> {verdict}"


@dataclass(frozen=True)
class DecidingCase:
    """May ``who`` decide on an invitation or request made by ``made_by`` (``may_decide``)?"""

    who: str
    made_by: str
    expected: bool

    @property
    def name(self) -> str:
        verdict = "allow" if self.expected else "deny"
        return f"{self.who} decides on what {self.made_by} made -> {verdict}"


@dataclass(frozen=True)
class TruthTable:
    on: date
    persons: dict[str, str]
    enterprises: dict[str, dict]
    facts: list[dict]
    decisions: list[DecisionCase]
    role_changes: list[RoleChangeCase]
    gives: list[GivingCase] = field(default_factory=list)
    decides: list[DecidingCase] = field(default_factory=list)


def _verdict(value: str, where: str) -> bool:
    if value not in ("allow", "deny"):
        raise PolicyError(f"{where}: expected 'allow' or 'deny', got {value!r}")
    return value == "allow"


def load_table(path: Path = TRUTH_TABLE) -> TruthTable:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read the truth table {path}: {exc}") from None
    persons, enterprises = raw.get("persons", {}), raw.get("enterprises", {})
    decisions, role_changes = [], []
    for i, row in enumerate(raw.get("expect", {}).get("decisions", []), start=1):
        who, action, enterprise, domain, expected, path_ = row
        decisions.append(
            DecisionCase(
                who,
                action,
                enterprise,
                domain or None,
                _verdict(expected, f"decision {i}"),
                None if path_ == "-" else path_,
            )
        )
    for i, row in enumerate(raw.get("expect", {}).get("role_changes", []), start=1):
        who, action, role, enterprise, expected = row
        role_changes.append(
            RoleChangeCase(who, action, role, enterprise, _verdict(expected, f"role change {i}"))
        )
    expect = raw.get("expect", {})
    gives = [_giving_case(row, i) for i, row in enumerate(expect.get("gives", []), start=1)]
    decides = [
        DecidingCase(who, made_by, _verdict(expected, f"deciding case {i}"))
        for i, (who, made_by, expected) in enumerate(expect.get("decides", []), start=1)
    ]
    table = TruthTable(
        on=date.fromisoformat(raw["on"]),
        persons=persons,
        enterprises=enterprises,
        facts=raw.get("world", {}).get("facts", []),
        decisions=decisions,
        role_changes=role_changes,
        gives=gives,
        decides=decides,
    )
    _check_names(table)
    return table


def _giving_case(row: list, i: int) -> GivingCase:
    who, enterprise, role, scope, until, to, via, expected = row
    if via not in ("give", "own_change"):
        raise PolicyError(f"giving case {i}: expected 'give' or 'own_change', got {via!r}")
    return GivingCase(
        who,
        enterprise,
        role,
        tuple(scope.split()),
        date.fromisoformat(until) if until else None,
        None if to == "-" else to,
        via == "own_change",
        _verdict(expected, f"giving case {i}"),
    )


def _check_names(table: TruthTable) -> None:
    for fact in table.facts:
        if fact.get("kind") == "mandate":
            for end in (fact.get("from"), fact.get("to")):
                if end not in table.enterprises:
                    raise PolicyError(f"truth table: unknown enterprise {end!r}")
    person_facts = [f for f in table.facts if f.get("kind") != "mandate"]
    for item in [*person_facts, *table.decisions, *table.role_changes, *table.gives]:
        who = item["person"] if isinstance(item, dict) else item.who
        where = item["enterprise"] if isinstance(item, dict) else item.enterprise
        if who not in table.persons:
            raise PolicyError(f"truth table: unknown person {who!r}")
        if where not in table.enterprises:
            raise PolicyError(f"truth table: unknown enterprise {where!r}")
    for case in table.gives:
        if case.to is not None and case.to not in table.persons:
            raise PolicyError(f"truth table: unknown person {case.to!r}")
    for case in table.decides:
        if not {case.who, case.made_by} <= table.persons.keys():
            raise PolicyError(f"truth table: unknown person in {case.name!r}")


def populate(table: TruthTable) -> None:
    """Write the table's world into an empty database at the current schema."""
    people = {key: Person.create(nrn=nrn, given_name=key) for key, nrn in table.persons.items()}
    firms = {
        key: Enterprise.create(
            bce=e["bce"],
            name=e["name"],
            legal_form=e.get("legal_form", "company"),
            status=e.get("status", "active"),
        )
        for key, e in table.enterprises.items()
    }
    ended = datetime.combine(table.on, time()) if table.on else None
    for fact in table.facts:
        kind = fact["kind"]
        if kind == "mandate":
            _populate_mandate(fact, firms, next(iter(people.values())), ended)
            continue
        person, enterprise = people[fact["person"]], firms[fact["enterprise"]]
        if kind == "representation":
            LegalRepresentation.create(person=person, enterprise=enterprise)
        elif kind == "designation":
            GapDesignation.create(
                person=person,
                enterprise=enterprise,
                ended_at=ended if fact.get("ended") else None,
            )
        elif kind == "grant":
            until = fact.get("valid_until")
            RoleGrant.create(
                person=person,
                enterprise=enterprise,
                role=fact["role"],
                scope=" ".join(fact.get("scope", [])),
                valid_until=date.fromisoformat(until) if until else None,
                ended_at=ended if fact.get("ended") else None,
                end_reason="revoked" if fact.get("ended") else None,
            )
        else:
            raise PolicyError(f"truth table: unknown fact kind {kind!r}")


def _populate_mandate(fact: dict, firms: dict, anyone: Person, ended: datetime | None) -> None:
    """A mandate between two enterprises of the table: from (the client) to (the firm)."""
    status = fact.get("status", "accepted")
    until = fact.get("valid_until")
    EnterpriseMandate.create(
        mandator=firms[fact["from"]],
        mandatee=firms[fact["to"]],
        domains=" ".join(sorted(fact["domains"])),
        valid_from=date.fromisoformat(fact["valid_from"]),
        valid_until=date.fromisoformat(until) if until else None,
        status=status,
        proposed_by=anyone,
        decided_at=ended if status in ("accepted", "refused", "ended") else None,
        ended_at=ended if status == "ended" else None,
    )


def check_decision(engine: PolicyEngine, table: TruthTable, case: DecisionCase) -> str | None:
    """None if the engine agrees with the case, else what went wrong."""
    nrn, bce = table.persons[case.who], table.enterprises[case.enterprise]["bce"]
    explanation = engine.explain(nrn, case.action, bce, case.service_domain, on=table.on)
    if explanation.allowed != case.expected:
        got = "allow" if explanation.allowed else "deny"
        detail = "; ".join(explanation.reasons) or (explanation.path or "")
        return f"{case.name}: got {got} ({detail})"
    if case.expected and explanation.path != case.path:
        return f"{case.name}: allowed by {explanation.path}, expected by {case.path}"
    return None


def check_role_change(engine: PolicyEngine, table: TruthTable, case: RoleChangeCase) -> str | None:
    nrn, bce = table.persons[case.who], table.enterprises[case.enterprise]["bce"]
    pair = mandates.load_pair(nrn, bce, table.on)
    got = pair is not None and engine.allow_role_change(pair[0], case.action, case.role, pair[1])
    if got != case.expected:
        return f"{case.name}: got {'allow' if got else 'deny'}"
    return None


def check_giving(engine: PolicyEngine, table: TruthTable, case: GivingCase) -> str | None:
    nrn, bce = table.persons[case.who], table.enterprises[case.enterprise]["bce"]
    pair = mandates.load_pair(nrn, bce, table.on)
    recipient = table.persons[case.to] if case.to else None
    terms = F.GrantTerms(
        case.role, list(case.scope), case.valid_until, recipient, changes_own=case.own_change
    )
    got = pair is not None and engine.may_give(pair[0], terms, pair[1])
    if got != case.expected:
        return f"{case.name}: got {'allow' if got else 'deny'}"
    return None


def check_deciding(engine: PolicyEngine, table: TruthTable, case: DecidingCase) -> str | None:
    offer = F.Offer("request", 1, table.persons[case.made_by])
    got = engine.may_decide(F.PersonFacts(table.persons[case.who]), offer)
    if got != case.expected:
        return f"{case.name}: got {'allow' if got else 'deny'}"
    return None


def run(engine: PolicyEngine, table: TruthTable) -> list[tuple[str, str | None]]:
    """(case name, failure or None) for every case, decisions first."""
    results = [(c.name, check_decision(engine, table, c)) for c in table.decisions]
    results += [(c.name, check_role_change(engine, table, c)) for c in table.role_changes]
    results += [(c.name, check_giving(engine, table, c)) for c in table.gives]
    results += [(c.name, check_deciding(engine, table, c)) for c in table.decides]
    return results
