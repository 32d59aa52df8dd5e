"""Subject identifiers in the database: public and pairwise subjects of a user side by side,
the reverse index from a subject to its user, merges instead of overwrites, and a subject that
names another user refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from idp_bridge.oidc.storage import DatabaseStorage
from idp_bridge.oidc.subjects import SubjectCollisionError, SubjectIdentifierStorage


def test_a_user_has_one_public_subject_and_any_number_of_pairwise_ones(database):
    subjects = SubjectIdentifierStorage()
    assert subjects.user_for("pub-1") is None
    subjects.add_pairwise("user-1", "pw-a")
    assert subjects.public("user-1", lambda: "pub-1") == "pub-1"
    assert subjects.public("user-1", lambda: "pub-other") == "pub-1"  # kept
    subjects.add_pairwise("user-1", "pw-b")
    subjects.add_pairwise("user-1", "pw-a")  # known: nothing changes
    assert SubjectIdentifierStorage()["user-1"] == {"public": "pub-1", "pairwise": ["pw-a", "pw-b"]}
    for sub in ("pub-1", "pw-a", "pw-b"):
        assert SubjectIdentifierStorage().user_for(sub) == "user-1"
    assert subjects.user_for("pub-other") is None
    assert subjects.user_for(None) is None


def test_setting_a_users_record_merges_it_and_indexes_its_subjects(database):
    subjects = SubjectIdentifierStorage()
    subjects.add_pairwise("user-1", "pw-a")
    subjects["user-1"] = {"public": "chosen"}  # what pyop's Provider writes
    subjects["user-1"] = {"pairwise": ["pw-b", "pw-a"]}
    assert subjects["user-1"] == {"public": "chosen", "pairwise": ["pw-a", "pw-b"]}
    assert subjects.user_for("chosen") == "user-1"
    assert subjects.user_for("pw-b") == "user-1"
    subjects["user-2"] = {"public": "other"}
    assert subjects["user-2"] == {"public": "other"}
    with pytest.raises(TypeError, match="mappings"):
        subjects["user-3"] = ["chosen"]


def test_a_subject_naming_another_user_is_refused_and_nothing_is_written(database):
    subjects = SubjectIdentifierStorage()
    subjects.add_pairwise("user-1", "taken")
    subjects.public("user-2", lambda: "pub-2")
    for write in (
        lambda: subjects.add_pairwise("user-2", "taken"),
        lambda: subjects.__setitem__("user-2", {"public": "taken"}),
        lambda: subjects.public("user-3", lambda: "taken"),
    ):
        with pytest.raises(SubjectCollisionError):
            write()
    assert subjects.user_for("taken") == "user-1"
    assert subjects["user-2"] == {"public": "pub-2"}
    assert "user-3" not in subjects


def test_the_index_lives_in_its_own_collection(database):
    SubjectIdentifierStorage().add_pairwise("user-1", "pw-a")
    assert DatabaseStorage("subject_users")["pw-a"] == {"user_id": "user-1"}
    assert DatabaseStorage("subject_identifiers")["user-1"] == {"pairwise": ["pw-a"]}


def test_the_user_of_a_subject_is_read_once_per_node(database, sql_log):
    """An indexed subject never changes user: a node reads it once. A subject not yet indexed
    is read again, so that one indexed meanwhile by another node is found."""
    subjects, other_node = SubjectIdentifierStorage(), SubjectIdentifierStorage()
    assert subjects.user_for("sub-1") is None
    other_node.add_pairwise("user-1", "sub-1")
    assert subjects.user_for("sub-1") == "user-1"
    sql_log.clear()
    assert subjects.user_for("sub-1") == "user-1"
    assert sql_log.statements == []
    assert subjects.user_for(42) is None


def test_a_pairwise_subject_is_recorded_once_per_node(database, sql_log):
    subjects = SubjectIdentifierStorage()
    subjects.add_pairwise("user-1", "sub-1")
    sql_log.clear()
    subjects.add_pairwise("user-1", "sub-1")
    assert sql_log.statements == []
    assert SubjectIdentifierStorage()["user-1"] == {"pairwise": ["sub-1"]}
    with pytest.raises(SubjectCollisionError):  # the cache never lets a subject change user
        subjects.add_pairwise("user-2", "sub-1")
