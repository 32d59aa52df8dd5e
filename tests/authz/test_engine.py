"""The policy engine: loading, versions, explanations, and facts loaded per pair only."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest

from authz import facts as F
from authz import mandates
from authz.engine import PolicyEngine, PolicyError, get_engine
from authz.models import Enterprise, GapDesignation, Person, RoleGrant
from authz.permissions import ALL_PERMISSIONS
from policies import POLICY_DIR

ACME, GLOBEX = "0123456749", "0999999922"
GAP, OWNER, OTHER = "85020200387", "70030300538", "90010100123"


@pytest.fixture
def policy_copy(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_permission_names_match_the_code():
    assert get_engine().declared_permissions() == set(ALL_PERMISSIONS)


def test_a_permission_missing_from_the_code_is_refused(policy_copy):
    path = policy_copy / "enterprise.polar"
    path.write_text(
        path.read_text().replace('"act_for_clients"\n', '"act_for_clients",\n"sign_x"\n')
    )
    with pytest.raises(PolicyError, match="sign_x"):
        PolicyEngine(policy_copy)


def test_a_syntax_error_is_one_line(policy_copy):
    path = policy_copy / "enterprise.polar"
    path.write_text(
        path.read_text().replace('"agent" if "client_agent";', '"agent" if "client_agent"')
    )
    with pytest.raises(PolicyError) as error:
        PolicyEngine(policy_copy)
    assert "\n" not in str(error.value)
    assert "line" in str(error.value)


def test_version_changes_with_the_files(policy_copy):
    before = PolicyEngine(policy_copy).version
    assert before == get_engine().version
    path = policy_copy / "enterprise.polar"
    path.write_text(path.read_text() + "\n# a comment changes the version too\n")
    assert PolicyEngine(policy_copy).version != before


def test_version_is_the_sha256sum_of_the_files_listing(policy_copy):
    import hashlib

    from authz.engine import policy_files, policy_version

    (policy_copy / "another.polar").write_text("# a second file\n")
    listing = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in sorted(policy_copy.glob("*.polar"))
    )
    # What `sha256sum *.polar | sha256sum` prints, in full.
    expected = hashlib.sha256(listing.encode()).hexdigest()
    assert PolicyEngine(policy_copy).version == expected
    # Whatever order the files are listed in, and whatever the line endings of a checkout.
    files = policy_files(policy_copy)
    assert policy_version(list(reversed(files))) == expected
    for path in files:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert policy_version(files) == expected
    assert len(expected) == 64


def test_version_changes_when_a_rule_or_a_file_name_changes(policy_copy):
    before = PolicyEngine(policy_copy).version
    path = policy_copy / "enterprise.polar"
    path.write_text(path.read_text().replace('"act_for" if "agent";', '"act_for" if "owner";'))
    after_rule = PolicyEngine(policy_copy).version
    path.rename(policy_copy / "rules.polar")

    assert len({before, after_rule, PolicyEngine(policy_copy).version}) == 3


def test_no_policy_files(tmp_path):
    with pytest.raises(PolicyError, match=r"no policy files"):
        PolicyEngine(tmp_path)


@pytest.fixture
def acme(database):
    acme = Enterprise.create(bce=ACME, name="Acme Demo SA")
    globex = Enterprise.create(bce=GLOBEX, name="Globex Fictive SRL")
    gap, owner = Person.create(nrn=GAP), Person.create(nrn=OWNER)
    GapDesignation.create(enterprise=acme, person=gap)
    RoleGrant.create(person=owner, enterprise=acme, role="owner")
    RoleGrant.create(person=owner, enterprise=globex, role="reader")
    return acme


def test_decide_by_identifiers(acme):
    engine = get_engine()
    assert engine.decide(OWNER, "act_for", ACME)
    assert not engine.decide(OWNER, "act_for", GLOBEX)
    assert not engine.decide(OTHER, "act_for", ACME)  # unknown person
    assert not engine.decide(OWNER, "act_for", "0888888895")  # unknown enterprise


def test_roles_and_permissions_for_claims(acme):
    engine = get_engine()
    person, enterprise = mandates.load_pair(OWNER, ACME, date.today())
    assert engine.roles(person, enterprise) == ["owner", "client_agent", "agent", "reader"]
    assert engine.permissions(person, enterprise) == [
        "act_for",
        "read_dossier",
        "edit_dossier",
        "submit_dossier",
        "act_for_clients",
    ]
    stopped = F.EnterpriseFacts(ACME, "Acme", False, date.today())
    assert engine.roles(person, stopped) == []
    assert engine.permissions(person, stopped) == []


def test_explain_allow_names_fact_and_rule_chain(acme):
    explanation = get_engine().explain(GAP, "act_for", ACME)
    assert explanation.allowed
    assert explanation.path == "designation:gap"
    rules = [rule.text for rule in explanation.paths[0].rules]
    assert rules == [
        '"access_manager" if "gap";',
        '"owner" if "access_manager";',
        '"client_agent" if "owner";',
        '"agent" if "client_agent";',
        '"act_for" if "agent";',
    ]
    as_dict = explanation.to_dict()
    assert as_dict["decision"] is True
    assert as_dict["policy_version"] == get_engine().version
    assert as_dict["paths"][0]["fact"].startswith("designation#")


def test_explain_deny_gives_reasons(acme):
    grant = RoleGrant.get(RoleGrant.role == "owner", RoleGrant.enterprise == acme)
    grant.valid_until = date.today() - timedelta(days=1)
    grant.save()
    explanation = get_engine().explain(OWNER, "act_for", ACME)
    assert not explanation.allowed
    assert explanation.path is None
    assert any("ended on" in reason for reason in explanation.reasons)
    assert "DENY" in explanation.render()


def test_explain_unknown_enterprise_and_action(acme):
    assert "no enterprise" in get_engine().explain(OWNER, "act_for", GLOBEX[:-2] + "00").reasons[0]
    assert "not a permission" in get_engine().explain(OWNER, "fly", ACME).reasons[0]


def test_facts_are_loaded_for_the_pair_only(acme, monkeypatch):
    """Decision cost must not grow with the number of grants: only pair lookups are run."""
    globex = Enterprise.get(Enterprise.bce == GLOBEX)
    for i in range(50):
        someone = Person.create(nrn=f"{i:02d}" + "0" * 9)
        RoleGrant.create(person=someone, enterprise=globex, role="reader")
    statements: list[str] = []
    real = type(acme._meta.database.obj).execute_sql

    def spy(self, sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(type(acme._meta.database.obj), "execute_sql", spy)
    person, _ = mandates.load_pair(OWNER, ACME, date.today())
    assert [g.role for g in person.grants] == ["owner"]
    # One statement: the enterprise (with its epoch) and the person's facts, selected by the
    # pair's ids; no scan of other people's grants. (PostgreSQL runs it prepared: the first
    # use on a connection prepares it.)
    executed = [sql for sql in statements if not sql.startswith("PREPARE")]
    assert len(executed) == 1
    sql = next((text for text in statements if "FROM enterprise" in text), mandates._PAIR_SQL_PG)
    # The enterprise, its three kinds of facts, and its mandates to intermediaries with the
    # person's facts in those firms (four branches); each by the pair's ids.
    assert sql.count("FROM enterprise WHERE bce =") == 8
    assert sql.count("FROM person WHERE nrn =") == 5


# -- explanations through an intermediary ------------------------------------------------------


@pytest.fixture
def truth_world(database):
    from authz import policytest

    table = policytest.load_table()
    policytest.populate(table)
    return table


def test_explain_through_a_firm_shows_the_chain(truth_world):
    people, firms = truth_world.persons, truth_world.enterprises
    explanation = get_engine().explain(
        people["accountant"], "act_for", firms["acme"]["bce"], "fiscalite", on=truth_world.on
    )
    assert explanation.allowed and explanation.path == "mandate:client_agent"
    chain = explanation.paths[0].chain
    assert chain[0] == f"person {people['accountant']}"
    assert chain[1].startswith(f"client_agent in {firms['fidu']['bce']} Fidu Comptable SRL")
    assert chain[2].startswith("mandate#") and f"from {firms['acme']['bce']}" in chain[2]
    assert chain[3] == "fiscalite"
    rendered = explanation.render()
    assert "chain: person " in rendered and "mandate_source(" in rendered
    assert explanation.to_dict()["paths"][0]["chain"] == list(chain)
    # A relying party of another domain sees neither the path nor the mandate.
    assert explanation.seen_from("environnement").paths == []


@pytest.mark.parametrize(
    ("who", "client", "domain", "reason"),
    [
        ("accountant", "globex", "fiscalite", "ended on 2026-06-14"),
        ("accountant", "solo", "fiscalite", "begins on 2026-07-01"),
        ("accountant", "acme", "environnement", "the question was asked for environnement"),
        ("fidu_agent", "acme", "fiscalite", "does not give act_for_clients"),
        ("shut_agent", "acme", "fiscalite", "has stopped: it acts for no client"),
        ("accountant", "acme", "fiscalite", "a mandate gives only"),
    ],
)
def test_explain_names_the_broken_link(truth_world, who, client, domain, reason):
    action = "view_members" if reason == "a mandate gives only" else "act_for"
    explanation = get_engine().explain(
        truth_world.persons[who],
        action,
        truth_world.enterprises[client]["bce"],
        domain,
        on=truth_world.on,
    )
    assert not explanation.allowed
    assert any(reason in line for line in explanation.reasons), explanation.reasons


@pytest.mark.parametrize(("client", "status"), [("delta", "ended"), ("epsilon", "proposed")])
def test_explain_lists_mandates_not_in_force(truth_world, client, status):
    explanation = get_engine().explain(
        truth_world.persons["accountant"],
        "act_for",
        truth_world.enterprises[client]["bce"],
        "fiscalite",
        on=truth_world.on,
    )
    assert not explanation.allowed
    assert any(status in fact and "gives nothing" in fact for fact in explanation.facts)
    assert any("no mandate that is accepted" in reason for reason in explanation.reasons)


# -- many rows at once ---------------------------------------------------------------------


def test_allowed_each_answers_as_allowed_does_one_question_at_a_time():
    engine = get_engine()
    today = date(2026, 1, 1)
    acme = F.EnterpriseFacts("0123456749", "Acme", True, today)
    stopped = F.EnterpriseFacts("0888888895", "Stopped", False, today)
    gap = F.PersonFacts("1", designations=[F.Designation(1, acme.bce)])
    agent = F.PersonFacts("2", grants=[F.Grant(2, acme.bce, "agent", [], None)])
    ended = F.PersonFacts("3", grants=[F.Grant(3, acme.bce, "owner", [], today - timedelta(1))])
    stranger = F.PersonFacts("4")
    asked = [
        (person, action, enterprise)
        for person in (gap, agent, ended, stranger)
        for action in ("act_for", "view_members", "designate_gap")
        for enterprise in (acme, stopped)
    ]
    questions = [F.Question(n, *q) for n, q in enumerate(asked)]
    expected = {n for n, q in enumerate(asked) if engine.allowed(*q)}
    assert engine.allowed_each(questions) == expected
    assert expected  # some allowed (the GAP's, the agent's act_for), some refused
    assert len(expected) < len(asked)
    assert engine.allowed_each([]) == set()


def test_decidable_leaves_out_the_persons_own_offers():
    engine = get_engine()
    marc = F.PersonFacts("85020200387")
    offers = [
        F.Offer("request", 1, "85020200387"),  # his own
        F.Offer("request", 2, "90010100123"),
        F.Offer("request", 3, "70030300538"),
    ]
    assert engine.decidable(marc, offers) == {2, 3}
    assert engine.decidable(marc, []) == set()
