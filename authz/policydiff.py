"""What a change of the policy changes (``monespace policy diff OLD NEW``).

Two engines, the old policy and the new, answer the same questions:

1. the truth table's cases (:func:`truth_table_changes`, on the table's own small world);
2. every question the current database can ask (:func:`database_changes`): for each
   (person, enterprise) pair where the person holds a standing fact (a grant, a GAP
   designation, a legal representation), each permission, in each service domain the database
   knows (none, the registered clients' domains, the domains of grant scopes); and, for each
   domain, the question about a person who holds nothing on an active or a stopped
   enterprise, which stands for every such person.

At a million grants, asking oso every question twice would take hours: each pair's facts are
reduced to their *shape*, what the policy can tell apart (the enterprise active or not, the
service domain, each grant's role, scope and end date, the number of designations, the
capacities of representations), with the identifiers (NRN, BCE number, row ids) replaced by
fixed ones. Both engines answer each shape once; every pair of a shape whose answers differ is
a changed decision. This is exact as long as neither policy tells identifiers apart other than
by comparing them with each other: :func:`identifier_blind` checks the policy texts for that
(no ``.id``, ``.name`` or ``.epoch``, no literal that looks like an NRN or a BCE number, no
order or method on an identifier) and otherwise every pair is asked as it is (``exact``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date

from authz import clients, mandates, policytest
from authz import facts as F
from authz.engine import PolicyEngine
from authz.permissions import ALL_PERMISSIONS

# Fixed identifiers of the shapes: valid-looking, and never compared with anything else.
SHAPE_NRN, SHAPE_BCE = "00000000097", "0000000097"
# The person asked about in the "holds nothing" questions (no such person is ever recorded).
NOBODY_NRN = "00000000196"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BLIND = (
    re.compile(r"\.\s*(id|name|epoch)\b"),
    re.compile(r"\.\s*(nrn|bce|enterprise|made_by|recipient)\s*(<|>|\.)"),
    re.compile(r"(<|>)=?\s*\w+\s*\.\s*(nrn|bce|enterprise|made_by|recipient)\b"),
)


def identifier_blind(engine: PolicyEngine) -> bool:
    """Whether the policy tells identifiers apart only by comparing them with each other:
    the condition under which pairs of the same shape get the same answers."""
    for path in engine.files:
        text = re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8"))
        if any(pattern.search(text) for pattern in _NOT_BLIND):
            return False
        # A literal that may be an NRN or a BCE number, in any spelling (9 digits or more).
        if any(len(re.sub(r"\D", "", literal)) >= 9 for literal in _STRING.findall(text)):
            return False
    return True


@dataclass(frozen=True)
class Change:
    """One decision that differs: the question, both answers, both explanations."""

    source: str  # "truth table" or "database"
    question: str
    old: bool
    new: bool
    old_explanation: str | None = None
    new_explanation: str | None = None
    # (NRN, action, BCE number, service domain) of a database question, to explain it.
    about: tuple[str, str, str, str | None] | None = None

    @property
    def verdicts(self) -> str:
        return f"{_verdict(self.old)} -> {_verdict(self.new)}"


def _verdict(allowed: bool) -> str:
    return "allow" if allowed else "deny"


def _label(nrn: str, action: str, bce: str, domain: str | None) -> str:
    return f"{action}  person {nrn}  enterprise {bce}  service domain {domain or '(none)'}"


# -- the truth table ---------------------------------------------------------------------------


def _table_answers(engine: PolicyEngine, table: policytest.TruthTable) -> list[tuple]:
    """(name, allowed, explanation) of every case of ``table`` under ``engine``; the table's
    world must be in the database."""
    answers = []
    for case in table.decisions:
        nrn, bce = table.persons[case.who], table.enterprises[case.enterprise]["bce"]
        explanation = engine.explain(nrn, case.action, bce, case.service_domain, on=table.on)
        question = case.name.rsplit(" -> ", 1)[0]
        answers.append((question, explanation.allowed, explanation.render()))
    checks = (
        (table.role_changes, policytest.check_role_change, "allow_role_change"),
        (table.gives, policytest.check_giving, "may_give"),
        (table.decides, policytest.check_deciding, "may_decide"),
    )
    for cases, check, rule in checks:
        for case in cases:
            # A check fails exactly when the answer is not the expected one.
            allowed = case.expected == (check(engine, table, case) is None)
            question = case.name.rsplit(" -> ", 1)[0]
            answers.append((question, allowed, f"{_verdict(allowed).upper()}  by rule {rule}"))
    return answers


def truth_table_changes(
    old: PolicyEngine, new: PolicyEngine, table: policytest.TruthTable
) -> tuple[int, list[Change]]:
    """(number of cases, the cases answered differently); the table's world must be in the
    database (:func:`authz.policytest.populate`)."""
    before, after = _table_answers(old, table), _table_answers(new, table)
    changes = [
        Change("truth table", name, was, now, was_text, now_text)
        for (name, was, was_text), (_name, now, now_text) in zip(before, after, strict=True)
        if was != now
    ]
    return len(before), changes


# -- the database ------------------------------------------------------------------------------


def service_domains(day: date) -> list[str | None]:
    """None (questions about managing access) and every service domain the database knows."""
    known = {client.service_domain for client in clients.list_clients()}
    known |= mandates.scoped_service_domains(day)
    return [None, *sorted(known)]


def shape(person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> tuple:
    grants = sorted((g.role, tuple(g.scope), g.valid_until or date.max) for g in person.grants)
    capacities = sorted(r.capacity for r in person.representations)
    return (
        enterprise.active,
        enterprise.service_domain,
        tuple(grants),
        len(person.designations),
        tuple(capacities),
    )


def shaped(
    person: F.PersonFacts, enterprise: F.EnterpriseFacts
) -> tuple[F.PersonFacts, F.EnterpriseFacts]:
    """The pair with its identifiers replaced by the fixed ones of every shape."""
    number = iter(range(1, 1_000_000))
    return (
        F.PersonFacts(
            SHAPE_NRN,
            [
                F.Grant(next(number), SHAPE_BCE, g.role, g.scope, g.valid_until)
                for g in person.grants
            ],
            [F.Designation(next(number), SHAPE_BCE) for _d in person.designations],
            [F.Representation(next(number), SHAPE_BCE, r.capacity) for r in person.representations],
        ),
        replace(enterprise, bce=SHAPE_BCE, name="", epoch=0),
    )


def _permissions(engine: PolicyEngine, person: F.PersonFacts, enterprise: F.EnterpriseFacts):
    return frozenset(engine.permissions(person, enterprise))


@dataclass
class Progress:
    """Counts for the progress indicator, passed to the caller's ``report`` now and then."""

    enterprises_done: int = 0
    enterprises: int = 0
    pairs: int = 0
    questions: int = 0
    shapes: int = 0
    changes: int = 0
    started: float = 0.0


@dataclass
class DatabaseDiff:
    """What :func:`database_changes` found: the changes are yielded as they are found, the
    counts are complete once the iterator is exhausted."""

    exact: bool
    domains: list[str | None]
    progress: Progress


def database_changes(
    old: PolicyEngine,
    new: PolicyEngine,
    day: date,
    *,
    exact: bool = False,
    report: Callable[[Progress], None] = lambda _p: None,
    every: float = 1.0,
) -> tuple[DatabaseDiff, Iterator[Change]]:
    """Every question of the database whose answer changes, without explanations (ask
    :func:`explain` for those). ``exact`` asks every pair as it is, even when both policies
    are identifier blind; ``report`` hears the progress about every ``every`` seconds."""
    exact = exact or not (identifier_blind(old) and identifier_blind(new))
    domains = service_domains(day)
    progress = Progress(enterprises=mandates.enterprise_count(), started=time.monotonic())
    result = DatabaseDiff(exact, domains, progress)
    answers: dict[tuple, tuple[frozenset, frozenset]] = {}

    def answer(person: F.PersonFacts, enterprise: F.EnterpriseFacts):
        if exact:
            return _permissions(old, person, enterprise), _permissions(new, person, enterprise)
        key = shape(person, enterprise)
        if key not in answers:
            asked = shaped(person, enterprise)
            answers[key] = (_permissions(old, *asked), _permissions(new, *asked))
            progress.shapes = len(answers)
        return answers[key]

    def changes() -> Iterator[Change]:
        examples: dict[bool, str] = {}
        last = time.monotonic()
        for batch in mandates.all_pairs(day):
            for person, enterprise in batch:
                examples.setdefault(enterprise.active, enterprise.bce)
                if person is None:
                    continue
                progress.pairs += 1
                for domain in domains:
                    asked = replace(enterprise, service_domain=domain)
                    before, after = answer(person, asked)
                    progress.questions += len(ALL_PERMISSIONS)
                    for action in ALL_PERMISSIONS:
                        if (action in before) != (action in after):
                            progress.changes += 1
                            about = (person.nrn, action, enterprise.bce, domain)
                            yield Change(
                                "database",
                                _label(*about),
                                action in before,
                                action in after,
                                about=about,
                            )
            progress.enterprises_done += len({enterprise.bce for _p, enterprise in batch})
            if time.monotonic() - last >= every:
                report(progress)
                last = time.monotonic()
        yield from _nobody_changes(old, new, day, domains, examples, progress)
        report(progress)

    return result, changes()


def _nobody_changes(
    old: PolicyEngine,
    new: PolicyEngine,
    day: date,
    domains: list[str | None],
    examples: dict[bool, str],
    progress: Progress,
) -> Iterator[Change]:
    """The questions about a person holding nothing, one per domain and enterprise state,
    standing for every such person; asked about an enterprise of the database."""
    for active, bce in sorted(examples.items()):
        for domain in domains:
            enterprise = F.EnterpriseFacts(bce, "", active, day, domain)
            person = F.PersonFacts(NOBODY_NRN)
            before, after = (
                _permissions(old, person, enterprise),
                _permissions(new, person, enterprise),
            )
            progress.questions += len(ALL_PERMISSIONS)
            state = "an active" if active else "a stopped"
            for action in ALL_PERMISSIONS:
                if (action in before) != (action in after):
                    progress.changes += 1
                    question = (
                        f"{action}  any person holding nothing on {state} enterprise "
                        f"(such as {bce})  service domain {domain or '(none)'}"
                    )
                    about = (NOBODY_NRN, action, bce, domain)
                    yield Change(
                        "database", question, action in before, action in after, about=about
                    )


def explain(old: PolicyEngine, new: PolicyEngine, change: Change, day: date) -> Change:
    """``change`` with both explanations, asked of the database as it is."""
    assert change.about is not None, "only a database question is explained here"
    nrn, action, bce, domain = change.about
    return replace(
        change,
        old_explanation=old.explain(nrn, action, bce, domain, on=day).render(),
        new_explanation=new.explain(nrn, action, bce, domain, on=day).render(),
    )
