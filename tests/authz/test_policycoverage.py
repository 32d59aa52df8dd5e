"""authz/policycoverage.py: which rules the truth table reaches and holds, on a traced copy."""

from __future__ import annotations

import shutil

import pytest

from authz import policycoverage, policytest
from authz.engine import PolicyError
from policies import POLICY_DIR


@pytest.fixture
def policy_copy(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def by_line(rules: list[policycoverage.Rule]) -> dict[int, policycoverage.Rule]:
    return {rule.line: rule for rule in rules}


def test_every_rule_of_the_policy_is_found_with_its_line():
    source = (POLICY_DIR / "enterprise.polar").read_text()
    rules: list[policycoverage.Rule] = []
    policycoverage.instrument("enterprise.polar", source, rules)
    lines = source.splitlines()

    # Each rule starts on its line: a head, or a shorthand rule of the resource block.
    for rule in rules:
        assert lines[rule.line - 1].strip().rstrip(";").split("(")[0] in rule.text
    heads = [line for line in lines if line[:1].isalpha() and "(" in line.split(" ")[0]]
    shorthands = [line for line in lines if line.strip().startswith('"') and " if " in line]
    assert len(rules) == len(heads) + len(shorthands)


def test_the_truth_table_covers_the_rules_it_decides(tmp_path):
    rules, results = policycoverage.measure(POLICY_DIR, policytest.load_table())
    lines = by_line(rules)
    source = (POLICY_DIR / "enterprise.polar").read_text().splitlines()

    assert all(failure is None for _name, failure in results)  # the same table as policy test
    allow = lines[next(i for i, line in enumerate(source, 1) if line.startswith("allow("))]
    assert allow.state == "covered" and allow.reached >= allow.held > 0
    act_for = next(r for r in rules if r.text == '"act_for" if "agent"')
    assert act_for.held > 0
    assert all(rule.reached for rule in rules)


def test_a_rule_the_table_never_asks_about_is_never_reached(policy_copy):
    path = policy_copy / "enterprise.polar"
    text = path.read_text()
    path.write_text(
        text
        + "\n# Auditors read the dossiers of any enterprise.\n"
        + "may_audit(person: Person, enterprise: Enterprise) if\n"
        + '  has_role(person, "reader", enterprise);\n'
    )
    line = len(text.splitlines()) + 3

    rules, _results = policycoverage.measure(policy_copy, policytest.load_table())

    added = by_line(rules)[line]
    assert (added.text, added.state, added.reached) == (
        "may_audit(person: Person, enterprise: Enterprise)",
        "never reached",
        0,
    )


def test_a_rule_reached_but_never_true_is_told_apart(policy_copy):
    path = policy_copy / "enterprise.polar"
    text = path.read_text()
    path.write_text(
        text
        + "\n# Representatives of no enterprise act for it (never true).\n"
        + 'has_permission(person: Person, "act_for", _enterprise: Enterprise) if\n'
        + "  representation in person.representations and\n"
        + '  representation.enterprise = "nowhere";\n'
    )
    rules, _results = policycoverage.measure(policy_copy, policytest.load_table())

    added = by_line(rules)[len(text.splitlines()) + 3]
    assert added.state == "reached, never held"
    assert added.reached > 0 and added.held == 0


def test_a_policy_that_does_not_load_is_refused(policy_copy):
    path = policy_copy / "enterprise.polar"
    path.write_text(
        path.read_text().replace('"agent" if "client_agent";', '"agent" if "client_agent"')
    )

    with pytest.raises(PolicyError, match="policy does not load"):
        policycoverage.measure(policy_copy, policytest.load_table())


def test_statements_skip_comments_and_strings():
    source = 'a(x) if x = ";#";  # b(y);\nc(_z);\n'
    assert [s.text for s in policycoverage.statements(source)] == ['a(x) if x = ";#"', "c(_z)"]
