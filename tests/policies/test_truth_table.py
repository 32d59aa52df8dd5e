"""The policy's truth table, case by case, on each test database."""

import pytest

from authz import policytest
from authz.engine import get_engine

TABLE = policytest.load_table()


@pytest.fixture
def world(database):
    policytest.build_world(TABLE)
    return TABLE


@pytest.mark.parametrize("case", TABLE.decisions, ids=lambda c: c.name)
def test_decision(world, case):
    assert policytest.check_decision(get_engine(), world, case) is None


@pytest.mark.parametrize("case", TABLE.role_changes, ids=lambda c: c.name)
def test_role_change(world, case):
    assert policytest.check_role_change(get_engine(), world, case) is None


def test_table_covers_allowed_and_denied_for_every_permission():
    from authz.permissions import ALL_PERMISSIONS

    for permission in ALL_PERMISSIONS:
        verdicts = {c.expected for c in TABLE.decisions if c.action == permission}
        assert verdicts == {True, False}, f"{permission}: needs an allowed and a denied case"
