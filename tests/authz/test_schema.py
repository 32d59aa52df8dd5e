"""Schema sets: each package's tables, version row and upgrade steps, side by side."""

from __future__ import annotations

import pytest
from peewee import CharField, IntegerField
from playhouse.migrate import migrate

from authz import db, schema
from authz.errors import SchemaError
from authz.models import BaseModel


class GadgetSchemaInfo(BaseModel):
    version = IntegerField()


class Gadget(BaseModel):
    name = CharField()


def _v2_colour(migrator):
    """Gadgets have a colour."""
    migrate(migrator.add_column("gadget", "colour", CharField(default="blue")))


@pytest.fixture(autouse=True)
def no_gadget_tables(database):
    """The gadget tables exist only within a test (PostgreSQL keeps tables between tests)."""
    database.drop_tables([Gadget, GadgetSchemaInfo])
    yield
    database.drop_tables([Gadget, GadgetSchemaInfo])


def gadget_set(steps=None) -> schema.SchemaSet:
    return schema.SchemaSet("gadgets", GadgetSchemaInfo, (Gadget,), steps or {})


def test_a_second_set_has_its_own_version(database):
    messages = []
    assert gadget_set().upgrade(messages.append) == [1]
    assert messages == ["created gadgets schema version 1"]
    assert gadget_set().upgrade(messages.append) == []
    assert messages[-1] == "gadgets schema already at version 1; nothing to do"
    assert schema.current_version() == schema.CURRENT_VERSION  # authz untouched
    gadget_set().require_current()


def test_a_set_is_upgraded_step_by_step(database):
    gadget_set().upgrade()
    Gadget.create(name="first")
    upgraded = gadget_set({2: _v2_colour})
    with pytest.raises(SchemaError, match=r"the gadgets tables are at schema version 1"):
        upgraded.require_current()
    assert upgraded.upgrade() == [2]
    row = db.database.execute_sql("SELECT name, colour FROM gadget").fetchone()
    assert tuple(row) == ("first", "blue")
    upgraded.require_current()


def test_a_set_newer_than_the_code_is_refused(database):
    gadget_set().upgrade()
    GadgetSchemaInfo.update(version=5).execute()
    with pytest.raises(SchemaError, match="gadgets schema version 5, newer than this software"):
        gadget_set().upgrade()


def test_tables_without_a_version_are_refused(database):
    db.database.create_tables([Gadget])
    with pytest.raises(SchemaError, match="gadgets tables but no schema version"):
        gadget_set().version()
