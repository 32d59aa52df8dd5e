"""authz/tables.py: a row read by its key with a statement built once per kind of database."""

from __future__ import annotations

import pytest

from authz.models import Person
from authz.tables import BuiltSelect, RowByKey


def test_a_row_by_key_finds_the_row_or_none_and_takes_the_key_as_a_parameter(database):
    Person.create(nrn="85020200387", given_name="Marc", family_name="Dupont")
    by_nrn = RowByKey(Person, Person.nrn)

    for _ in range(2):  # the second call uses the statement built by the first
        assert by_nrn("85020200387").given_name == "Marc"
    assert by_nrn("90010100123") is None
    assert by_nrn("' OR '1'='1") is None
    assert Person.select().count() == 1


def test_two_selects_built_under_one_name_are_refused():
    """A name is the statement's identity (built once, prepared once): another select under
    the same name would silently run the first one's SQL."""
    BuiltSelect("test: persons named", lambda param: Person.select().where(Person.nrn == "x"))
    with pytest.raises(ValueError, match="another select"):
        BuiltSelect("test: persons named", lambda param: Person.select())
    RowByKey(Person, Person.nrn)  # the same select under the same name: one statement
