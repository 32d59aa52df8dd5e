"""The policy's truth table, case by case, on each test database."""

import pytest

from authz import policytest
from authz.engine import get_engine

TABLE = policytest.load_table()


@pytest.fixture
def world(database):
    policytest.populate(TABLE)
    return TABLE


@pytest.mark.parametrize("case", TABLE.decisions, ids=lambda c: c.name)
def test_decision(world, case):
    assert policytest.check_decision(get_engine(), world, case) is None


@pytest.mark.parametrize("case", TABLE.role_changes, ids=lambda c: c.name)
def test_role_change(world, case):
    assert policytest.check_role_change(get_engine(), world, case) is None


@pytest.mark.parametrize("case", TABLE.gives, ids=lambda c: c.name)
def test_giving(world, case):
    assert policytest.check_giving(get_engine(), world, case) is None


@pytest.mark.parametrize("case", TABLE.decides, ids=lambda c: c.name)
def test_deciding(world, case):
    assert policytest.check_deciding(get_engine(), world, case) is None


def test_table_covers_allowed_and_denied_giving_and_deciding():
    for kind in (False, True):  # giving to someone, changing one's own grant
        verdicts = {c.expected for c in TABLE.gives if c.own_change == kind}
        assert verdicts == {True, False}
    assert {c.expected for c in TABLE.decides} == {True, False}


def test_table_covers_allowed_and_denied_for_every_permission():
    from authz.permissions import ALL_PERMISSIONS

    for permission in ALL_PERMISSIONS:
        verdicts = {c.expected for c in TABLE.decisions if c.action == permission}
        assert verdicts == {True, False}, f"{permission}: needs an allowed and a denied case"
