"""authz/policydiff.py: the decisions a change of the policy changes, by shape or exactly."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from authz import db, policydiff, policytest, schema
from authz import facts as F
from authz.engine import PolicyEngine, get_engine
from authz.models import today
from policies import POLICY_DIR
from tests.authz.conftest import LUC, SOPHIE

INES, FIRM = "86091215791", "0444555552"  # the demo's client agent and accounting firm

BOULANGERIE = "0123456749"


def changed(tmp_path, old: str, new: str, name: str = "changed") -> PolicyEngine:
    target = tmp_path / name
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "enterprise.polar"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return PolicyEngine(target)


@pytest.fixture
def agents_cannot_act(tmp_path) -> PolicyEngine:
    return changed(tmp_path, '"act_for" if "agent";', '"act_for" if "owner";')


def all_changes(old, new, **options) -> tuple[policydiff.DatabaseDiff, list[policydiff.Change]]:
    found, changes = policydiff.database_changes(old, new, today(), **options)
    return found, list(changes)


def test_the_same_policy_changes_nothing(story):
    found, changes = all_changes(get_engine(), get_engine())

    assert changes == []
    assert found.progress.pairs > 0
    # Each pair in each domain, and the person holding nothing on an active and on a stopped
    # enterprise, about each of the 14 permissions.
    assert found.progress.questions == (found.progress.pairs + 2) * len(found.domains) * 14
    assert None in found.domains and "fiscalite" in found.domains


@pytest.mark.parametrize("exact", [False, True])
def test_a_changed_rule_names_each_changed_decision(story, agents_cannot_act, exact):
    found, changes = all_changes(get_engine(), agents_cannot_act, exact=exact)

    assert found.exact is exact
    # Luc is the demo's agent of Boulangerie (for fiscalite); Inès, client agent of the demo's
    # accounting firm, is an agent of the firm itself (in every domain); owners still act.
    assert [(c.about, c.old, c.new) for c in changes] == [
        ((LUC, "act_for", BOULANGERIE, "fiscalite"), True, False),
        ((INES, "act_for", FIRM, None), True, False),
        ((INES, "act_for", FIRM, "fiscalite"), True, False),
    ]
    explained = policydiff.explain(get_engine(), agents_cannot_act, changes[0], today())
    assert explained.old_explanation.startswith("ALLOW  act_for")
    assert '"act_for" if "agent";' in explained.old_explanation
    assert explained.new_explanation.startswith("DENY  act_for")
    assert "the role agent does not give act_for" in explained.new_explanation


def test_a_rule_giving_to_anyone_is_a_change_for_every_person_holding_nothing(story, tmp_path):
    everyone_reads = changed(
        tmp_path,
        "# The GAP role comes only",
        'has_permission(_person: Person, "read_dossier", _enterprise: Enterprise);\n\n'
        "# The GAP role comes only",
    )
    _found, changes = all_changes(get_engine(), everyone_reads)

    nobody = [c for c in changes if c.about[0] == policydiff.NOBODY_NRN]
    assert nobody and all(c.about[1] == "read_dossier" and c.new for c in nobody)
    assert any("any person holding nothing on an active enterprise" in c.question for c in nobody)
    # Claire, legal representative only, did not read before and does now.
    assert any(
        c.about[1] == "read_dossier" and c.about[0] != policydiff.NOBODY_NRN for c in changes
    )


def test_a_policy_naming_an_identifier_is_asked_pair_by_pair(story, tmp_path):
    sophie_sees = changed(
        tmp_path,
        "# The GAP role comes only",
        'has_permission(person: Person, "view_members", _enterprise: Enterprise) if\n'
        f'  person.nrn = "{SOPHIE}";\n\n'
        "# The GAP role comes only",
    )
    assert not policydiff.identifier_blind(sophie_sees)

    found, changes = all_changes(get_engine(), sophie_sees)

    # Shapes would have given the same answer to every owner: each pair is asked instead.
    assert found.exact
    assert {(c.about[0], c.about[1], c.about[2]) for c in changes} == {
        (SOPHIE, "view_members", BOULANGERIE)
    }


@pytest.mark.parametrize(
    "rule",
    [
        'has_permission(_p: Person, "act_for", e: Enterprise) if e.name = "Acme";',
        'has_permission(p: Person, "act_for", _e: Enterprise) if p.nrn = "90.01.01-001.23";',
        'has_permission(p: Person, "act_for", _e: Enterprise) if p.nrn < "5";',
        'has_permission(_p: Person, "act_for", e: Enterprise) if e.bce.startswith("01");',
        'has_permission(p: Person, "act_for", _e: Enterprise) if g in p.grants and g.id = 3;',
    ],
)
def test_identifier_blindness_is_refused_to_rules_reading_identifiers(tmp_path, rule):
    engine = changed(tmp_path, "# The GAP role comes only", f"{rule}\n# The GAP role comes only")

    assert policydiff.identifier_blind(get_engine())
    assert not policydiff.identifier_blind(engine)


def test_pairs_of_one_shape_are_asked_as_one():
    day = date(2026, 6, 15)
    acme = F.EnterpriseFacts("0123456749", "Acme", True, day, "fiscalite", epoch=4)
    globex = F.EnterpriseFacts("0999999922", "Globex", True, day, "fiscalite", epoch=9)
    luc = F.PersonFacts(LUC, [F.Grant(7, acme.bce, "agent", ["fiscalite"], None)])
    sophie = F.PersonFacts(SOPHIE, [F.Grant(8, globex.bce, "agent", ["fiscalite"], None)])
    owner = F.PersonFacts(SOPHIE, [F.Grant(8, globex.bce, "owner", ["fiscalite"], None)])

    assert policydiff.shape(luc, acme) == policydiff.shape(sophie, globex)
    assert policydiff.shape(luc, acme) != policydiff.shape(owner, globex)
    person, enterprise = policydiff.shaped(luc, acme)
    assert (person.nrn, enterprise.bce, enterprise.name) == (
        policydiff.SHAPE_NRN,
        policydiff.SHAPE_BCE,
        "",
    )
    assert person.grants[0].enterprise == enterprise.bce
    # The shape is decided as the pair itself is.
    assert get_engine().permissions(person, enterprise) == get_engine().permissions(luc, acme)


def test_truth_table_changes_name_the_case_with_both_explanations(tmp_path, agents_cannot_act):
    table = policytest.load_table()
    database = db.connect(f"sqlite:///{tmp_path}/table.sqlite3")
    with db.connection():
        schema.upgrade()
        policytest.populate(table)
        count, same = policydiff.truth_table_changes(get_engine(), get_engine(), table)
        _count, changes = policydiff.truth_table_changes(get_engine(), agents_cannot_act, table)
    database.close()

    assert same == []
    assert count == len(table.decisions + table.role_changes + table.gives + table.decides)
    # The agents of Acme and of the firm Fidu (its client agent among them: an agent too).
    assert [(c.question, c.verdicts) for c in changes] == [
        ("agent act_for acme [fiscalite]", "allow -> deny"),
        ("accountant act_for fidu [fiscalite]", "allow -> deny"),
        ("fidu_agent act_for fidu [fiscalite]", "allow -> deny"),
    ]
    assert "path: grant:agent" in changes[0].old_explanation
    assert "the role agent does not give act_for" in changes[0].new_explanation
