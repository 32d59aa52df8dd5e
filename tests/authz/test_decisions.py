"""The decision point: cache keyed on epochs and dates, unhealthy trackers, logging, searches."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from authz import decisions as decisions_module
from authz.decisionlog import DecisionLog
from authz.decisions import DecisionPoint
from authz.epochs import EpochTracker
from authz.models import Person, RoleGrant
from authz.services import Caller, grant_role, revoke_role
from monespace import demo

BOULANGERIE = "0123456749"
MARC, LUC, EMMA, ALICE = "85020200387", "90010100123", "90010100222", "99090900920"


class FlakyTracker(EpochTracker):
    """A tracker whose health the test decides (as if its listener lost the connection)."""

    def __init__(self):
        super().__init__()
        self.is_healthy = True

    @property
    def healthy(self) -> bool:
        return self.is_healthy


@pytest.fixture
def tracker():
    return FlakyTracker()


@pytest.fixture
def point(database, tracker):
    demo.seed()
    return DecisionPoint(tracker, cache_size=1000, ttl=300)


def gap():
    return Caller.for_person(Person.get(Person.nrn == MARC))


def test_second_decision_is_a_cache_hit(point):
    first = point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    second = point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    assert (first.allowed, first.cache) == (True, "miss")
    assert (second.allowed, second.cache) == (True, "hit")
    assert second.facts == first.facts and first.facts[0].startswith("grant#")
    assert second.policy_version == point.engine.version


def test_revocation_is_denied_at_once(point):
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").allowed
    grant = RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == LUC))
    revoke_role(gap(), grant.id)
    after = point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    assert (after.allowed, after.cache) == (False, "miss")


def test_new_grant_is_allowed_at_once(point):
    assert not point.evaluate(ALICE, "read_dossier", BOULANGERIE).allowed
    grant_role(gap(), BOULANGERIE, ALICE, "reader")
    assert point.evaluate(ALICE, "read_dossier", BOULANGERIE).allowed


def test_unhealthy_tracker_serves_no_cached_allow(point, tracker):
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").cache == "miss"
    assert point.evaluate(EMMA, "act_for", BOULANGERIE).cache == "miss"
    tracker.is_healthy = False
    allow = point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    deny = point.evaluate(EMMA, "act_for", BOULANGERIE)
    assert (allow.allowed, allow.cache) == (True, "miss")  # recomputed from the database
    assert (deny.allowed, deny.cache) == (False, "hit")  # a stale deny is only a delay
    tracker.is_healthy = True
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").cache == "hit"


def test_keys_carry_the_date(point, monkeypatch):
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").cache == "miss"
    tomorrow = date.today() + timedelta(days=1)
    monkeypatch.setattr(decisions_module, "today", lambda: tomorrow)
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").cache == "miss"


def test_keys_carry_the_service_domain(point):
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").allowed
    other = point.evaluate(LUC, "act_for", BOULANGERIE, "environnement")
    assert (other.allowed, other.cache) == (False, "miss")


def test_cache_is_bounded(database, tracker):
    demo.seed()
    point = DecisionPoint(tracker, cache_size=2, ttl=300)
    for nrn in (LUC, EMMA, MARC, ALICE):
        point.evaluate(nrn, "read_dossier", BOULANGERIE)
    assert len(point._cache) == 2
    assert point.evaluate(LUC, "read_dossier", BOULANGERIE).cache == "miss"  # evicted


def test_no_cache_at_size_zero(database, tracker):
    demo.seed()
    point = DecisionPoint(tracker, cache_size=0)
    point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    assert point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite").cache == "miss"


def test_explain_bypasses_the_cache_and_explains(point):
    point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite")
    explained = point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite", explain=True)
    assert explained.cache == "miss"
    assert explained.explanation.path == "grant:agent"


def test_unknown_action_and_enterprise_are_denied(point):
    assert not point.evaluate(LUC, "fly", BOULANGERIE).allowed
    unknown = point.evaluate(LUC, "act_for", "0888888994", explain=True)
    assert not unknown.allowed
    assert "no enterprise" in unknown.explanation.reasons[0]


def test_actions_lists_permissions_and_follows_revocation(point):
    assert point.actions(EMMA, BOULANGERIE) == ["read_dossier"]
    assert point.actions(LUC, BOULANGERIE) == []  # scoped grant, no domain asked
    assert point.actions(LUC, BOULANGERIE, "fiscalite") == [
        "act_for",
        "read_dossier",
        "edit_dossier",
    ]
    revoke_role(gap(), RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == EMMA)).id)
    assert point.actions(EMMA, BOULANGERIE) == []


def test_searches_page_through_candidates(point):
    for i in range(5):
        nrn = f"5{i}010100{i}"
        nrn = f"{nrn}{97 - int(nrn) % 97:02d}"
        grant_role(gap(), BOULANGERIE, nrn, "reader")
    page1, cursor = point.persons_for(BOULANGERIE, "read_dossier", limit=4)
    page2, cursor2 = point.persons_for(BOULANGERIE, "read_dossier", after=cursor, limit=4)
    everyone = page1 + page2
    assert len(page1) == 4 and cursor is not None
    assert cursor2 is None
    assert len(everyone) == len(set(everyone)) == 8  # Marc, Sophie, Emma and five readers
    assert LUC not in everyone  # scoped to fiscalite: nothing without a domain
    assert LUC in point.persons_for(BOULANGERIE, "read_dossier", "fiscalite", limit=50)[0]
    assert point.enterprises_of(MARC, "grant_role") == ([BOULANGERIE], None)
    assert point.enterprises_of(ALICE, "act_for") == ([], None)


def test_decision_log_lines(point, tmp_path):
    path = tmp_path / "decisions.log"
    point.log = DecisionLog("full", path=path)
    point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite", client_id="demo-rp", request_id="r1")
    point.evaluate(LUC, "act_for", BOULANGERIE, "fiscalite", client_id="demo-rp", request_id="r2")
    lines = [json.loads(line) for line in path.read_text().splitlines()[-2:]]
    assert [line["cache"] for line in lines] == ["miss", "hit"]
    first = lines[0]
    assert first["subject"] == LUC and first["resource"] == BOULANGERIE
    assert first["decision"] is True and first["client"] == "demo-rp"
    assert first["policy_version"] == point.engine.version
    assert first["facts"][0].startswith("grant#") and first["epoch"] >= 1


def test_decision_log_sampling_and_off():
    assert not DecisionLog("off").wanted(explained=True)
    assert DecisionLog("full", rate=0).wanted()
    never = DecisionLog("sample", rate=0.0)
    assert not any(never.wanted() for _ in range(100))
    assert never.wanted(explained=True)
    always = DecisionLog("sample", rate=1.0)
    assert all(always.wanted() for _ in range(100))
    with pytest.raises(ValueError):
        DecisionLog("sometimes")


def test_acting_for_is_cached_and_follows_a_revocation(point, tracker, monkeypatch):
    """The answer behind the ``represents`` claim: the policy is asked once, then the cache
    answers, until the enterprise's mandates change; an unhealthy tracker serves no cached
    allow."""
    asked = []
    real = decisions_module.acting_for_pair
    monkeypatch.setattr(
        decisions_module, "acting_for_pair", lambda *a, **k: asked.append(a) or real(*a, **k)
    )
    first = point.acting_for(LUC, BOULANGERIE, "fiscalite")
    assert first is not None and first.permissions == ["act_for", "read_dossier", "edit_dossier"]
    assert point.acting_for(LUC, BOULANGERIE, "fiscalite") == first
    assert len(asked) == 1
    assert point.acting_for(LUC, BOULANGERIE, "social") is None  # another domain: its own key
    assert len(asked) == 2
    tracker.is_healthy = False
    assert point.acting_for(LUC, BOULANGERIE, "fiscalite") == first
    assert len(asked) == 3  # recomputed while changes may go unheard
    tracker.is_healthy = True
    revoke_role(gap(), RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == LUC)).id)
    assert point.acting_for(LUC, BOULANGERIE, "fiscalite") is None  # the epoch moved
    assert point.acting_for(LUC, BOULANGERIE, "fiscalite") is None
    assert len(asked) == 4  # asked again after the revocation, then the deny is cached
