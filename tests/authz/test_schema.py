"""Schema sets: each package's tables, version row and upgrade steps, side by side."""

from __future__ import annotations

import pytest
from peewee import CharField, IntegerField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from authz import db, schema
from authz.errors import SchemaError
from authz.models import BaseModel


class GadgetSchemaInfo(BaseModel):
    version = IntegerField()
    compatible_from = IntegerField(null=True)


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


def gadget_set(steps=None, **options) -> schema.SchemaSet:
    return schema.SchemaSet("gadgets", GadgetSchemaInfo, (Gadget,), steps or {}, **options)


@schema.backward_compatible
def _v2_shape(migrator):
    """Gadgets may have a shape (a nullable column: the software before runs on)."""
    migrate(migrator.add_column("gadget", "shape", CharField(null=True)))


@schema.backward_compatible
def _v3_weight(migrator):
    """Gadgets may have a weight."""
    migrate(migrator.add_column("gadget", "weight", IntegerField(null=True)))


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
    GadgetSchemaInfo.update(version=5, compatible_from=5).execute()
    with pytest.raises(
        SchemaError,
        match=r"gadgets schema version 5, newer than this software \(1\) and not compatible "
        r"with it \(software of version 5 or later runs on it\): upgrade monespace",
    ):
        gadget_set().upgrade()
    with pytest.raises(SchemaError, match="newer than this software"):
        gadget_set().require_compatible()


def test_tables_without_a_version_are_refused(database):
    db.database.create_tables([Gadget])
    with pytest.raises(SchemaError, match="gadgets tables but no schema version"):
        gadget_set().version()


# -- rolling upgrades: the software of the release before on the upgraded tables --------------


def test_a_fresh_set_runs_from_its_own_version(database):
    gadget_set({2: _v2_shape}).upgrade()

    assert gadget_set({2: _v2_shape}).runs_from() == 2
    assert gadget_set({2: _v2_shape}).check().state == "current"


def test_the_software_before_a_backward_compatible_step_still_runs(database):
    old, new = gadget_set(), gadget_set({2: _v2_shape})
    old.upgrade()
    Gadget.create(name="first")

    new.upgrade()

    found = old.require_compatible()  # a node of the release before, started or checked now
    assert found.state == "compatible"
    assert (found.database, found.software, found.runs_from) == (2, 1, 1)
    assert found.problem is None
    messages = []
    assert old.upgrade(messages.append) == []  # its `db upgrade` (a roll back) changes nothing
    assert messages == [
        "gadgets schema at version 2, newer than this software (1), which still runs on it; "
        "nothing to do"
    ]
    Gadget.create(name="written by the release before")  # it still writes its rows
    assert Gadget.select().count() == 2


def test_a_step_not_marked_backward_compatible_refuses_the_software_before(database):
    old, new = gadget_set(), gadget_set({2: _v2_colour})
    old.upgrade()

    new.upgrade()

    found = old.check()
    assert found.state == "newer"
    assert found.runs_from == 2
    assert found.problem == (
        "the database is at gadgets schema version 2, newer than this software (1) and not "
        "compatible with it (software of version 2 or later runs on it): upgrade monespace "
        "before using it"
    )
    with pytest.raises(SchemaError, match=r"newer than this software \(1\) and not compatible"):
        old.require_compatible()
    with pytest.raises(SchemaError, match="not compatible"):
        old.upgrade()
    new.require_compatible()


def test_the_window_is_one_version_back_whatever_each_step_says(database):
    one, two, three = (
        gadget_set(),
        gadget_set({2: _v2_shape}),
        gadget_set({2: _v2_shape, 3: _v3_weight}),
    )
    one.upgrade()
    two.upgrade()
    three.upgrade()

    assert three.runs_from() == 2  # the version before this last upgrade
    assert two.check().state == "compatible"
    assert one.check().state == "newer"  # two releases back: replaced before


def test_several_backward_compatible_steps_in_one_upgrade_keep_the_software_before(database):
    one, three = gadget_set(), gadget_set({2: _v2_shape, 3: _v3_weight})
    one.upgrade()

    assert three.upgrade() == [2, 3]

    assert one.check().state == "compatible"


def test_tables_behind_the_software_are_refused_with_the_command_to_run(database):
    gadget_set().upgrade()
    new = gadget_set({2: _v2_shape})

    found = new.check()

    assert found.state == "behind"
    assert found.problem == (
        "the gadgets tables are at schema version 1, this software needs version 2: "
        "run `monespace db upgrade`"
    )
    with pytest.raises(SchemaError, match="run `monespace db upgrade`"):
        new.require_compatible()


def test_software_that_runs_on_older_tables_says_so(database):
    gadget_set().upgrade()
    new = gadget_set({2: _v2_shape}, oldest=1)

    assert new.require_compatible().state == "compatible"
    assert gadget_set({2: _v2_shape, 3: _v3_weight}, oldest=2).check().problem == (
        "the gadgets tables are at schema version 1, this software needs version 2 to 3: "
        "run `monespace db upgrade`"
    )
    with pytest.raises(ValueError, match="oldest must be between 1 and 2"):
        gadget_set({2: _v2_shape}, oldest=3)


def test_missing_tables_are_refused(database):
    assert gadget_set().check().problem == (
        "the gadgets tables are missing, this software needs version 1: run `monespace db upgrade`"
    )


def _version_row_before_rolling_upgrades():
    """The version table as software older than rolling upgrades made it: no compatible_from."""
    migrator = SqliteMigrator(db.database.obj) if not db.is_postgresql() else None
    migrator = migrator or PostgresqlMigrator(db.database.obj)
    migrate(migrator.drop_column(GadgetSchemaInfo._meta.table_name, "compatible_from"))


def test_a_version_row_made_before_rolling_upgrades_gains_its_floor_on_upgrade(database):
    gadget_set().upgrade()
    _version_row_before_rolling_upgrades()
    old, new = gadget_set(), gadget_set({2: _v2_shape})
    assert old.version() == 1
    assert old.runs_from() is None
    assert old.check().state == "current"

    assert new.upgrade() == [2]

    assert new.runs_from() == 1
    assert old.check().state == "compatible"


def test_a_newer_version_row_that_recorded_no_floor_is_refused(database):
    gadget_set().upgrade()
    GadgetSchemaInfo.update(version=2, compatible_from=None).execute()

    assert gadget_set().check().problem == (
        "the database is at gadgets schema version 2, newer than this software (1) and not "
        "compatible with it (its upgrade recorded no compatible software version): upgrade "
        "monespace before using it"
    )
