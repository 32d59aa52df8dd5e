"""authz.bce_import: enterprises and legal representatives from BCE extracts."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import date

import pytest

from authz import audit
from authz.bce_import import detect_kind, import_file
from authz.errors import InvalidInput
from authz.models import AuditEvent, Enterprise, LegalRepresentation, Person
from tests.bce_data import (
    ENTERPRISE_HEADER,
    REPRESENTATIVE_HEADER,
    fake_bce,
    fake_nrn,
    write_csv,
)

ACTOR = "operator:test"


def enterprises_file(tmp_path, rows, name="enterprises.csv", **options):
    return write_csv(tmp_path / name, ENTERPRISE_HEADER, rows, **options)


def representatives_file(tmp_path, rows, name="representatives.csv", **options):
    return write_csv(tmp_path / name, REPRESENTATIVE_HEADER, rows, **options)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq))


def snapshot() -> tuple:
    """Every row an import may touch, to check that a re-import writes nothing."""
    return (
        [tuple(e.__data__.values()) for e in Enterprise.select().order_by(Enterprise.id)],
        [tuple(p.__data__.values()) for p in Person.select().order_by(Person.id)],
        [
            tuple(r.__data__.values())
            for r in LegalRepresentation.select().order_by(LegalRepresentation.id)
        ],
    )


@pytest.fixture
def companies(database, tmp_path):
    """Three fictional enterprises, imported."""
    path = enterprises_file(
        tmp_path,
        [
            (fake_bce(1), "Fromagerie Imaginaire SRL", "company", "active"),
            (fake_bce(2), "Les Amis du Vent ASBL", "asbl", "active"),
            (fake_bce(3), "Jean Exemple", "sole_trader", "stopped"),
        ],
        name="companies.csv",
    )
    import_file(path, actor=ACTOR)
    return path


def test_good_enterprises_file(database, tmp_path):
    path = enterprises_file(
        tmp_path,
        [
            (fake_bce(1), "Fromagerie Imaginaire SRL", "company", "active"),
            (
                f"BE {fake_bce(2)[:4]}.{fake_bce(2)[4:7]}.{fake_bce(2)[7:]}",
                "CPAS de Nullepart",
                "CPAS",
                "Active",
            ),
            (fake_bce(3)[1:], "Jean Exemple", "sole_trader", "stopped"),
        ],
    )
    result = import_file(path, actor=ACTOR)

    assert (result.kind, result.rows, result.new, result.updated, result.bad) == (
        "enterprises",
        3,
        3,
        0,
        0,
    )
    assert result.errors == []
    cpas = Enterprise.get(Enterprise.bce == fake_bce(2))
    assert (cpas.name, cpas.legal_form, cpas.status) == ("CPAS de Nullepart", "cpas", "active")
    assert Enterprise.get(Enterprise.bce == fake_bce(3)).status == "stopped"
    [summary] = events("bce.import")
    details = json.loads(summary.details)
    assert summary.actor == ACTOR
    assert details["file"] == "enterprises.csv"
    assert details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (details["new"], details["bad"], details["kind"]) == (3, 0, "enterprises")


def test_good_representatives_file(companies, tmp_path):
    path = representatives_file(
        tmp_path,
        [
            (fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", ""),
            (fake_bce(1), fake_nrn(2), "Bruno", "Fictif", "administrateur", "2020-06-30"),
            (fake_bce(2), fake_nrn(1), "Alice", "Exemple", "présidente", ""),
        ],
    )
    epochs = {e.bce: e.authz_epoch for e in Enterprise.select()}

    result = import_file(path, actor=ACTOR)

    assert (result.kind, result.new, result.bad) == ("representatives", 3, 0)
    alice = Person.get(Person.nrn == fake_nrn(1))
    assert (alice.given_name, alice.family_name) == ("Alice", "Exemple")
    bruno = LegalRepresentation.get(
        LegalRepresentation.person == Person.get(Person.nrn == fake_nrn(2))
    )
    assert bruno.ended_on == date(2020, 6, 30)
    assert bruno.capacity == "administrateur"
    after = {e.bce: e.authz_epoch for e in Enterprise.select()}
    assert after[fake_bce(1)] > epochs[fake_bce(1)]
    assert after[fake_bce(2)] > epochs[fake_bce(2)]
    assert after[fake_bce(3)] == epochs[fake_bce(3)]
    added = events("bce.representation_add")
    assert len(added) == 3
    assert {e.enterprise_bce for e in added} == {fake_bce(1), fake_bce(2)}


def test_bad_rows_are_reported_and_good_rows_kept(database, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "bce,name,legal_form,status\n"
        f"{fake_bce(1)},Bonne Entreprise,company,active\n"  # line 2
        "0123,Numéro Trop Court,company,active\n"  # line 3
        f"{fake_bce(2)},Forme Inconnue,gmbh,active\n"  # line 4
        f"{fake_bce(3)},,company,active\n"  # line 5
        f"{fake_bce(4)},Trop De Colonnes,company,active,extra\n"  # line 6
        "\n"  # line 7: blank, ignored
        f"{fake_bce(5)},Statut Bizarre,company,sleeping\n"  # line 8
        f"{fake_bce(6)},Autre Bonne Entreprise,asbl,active\n",  # line 9
        encoding="utf-8",
    )
    result = import_file(path, actor=ACTOR)

    assert (result.new, result.bad, result.rows) == (2, 5, 7)
    lines = [line for line, _reason in result.errors]
    assert lines == [3, 4, 5, 6, 8]
    reasons = dict(result.errors)
    assert reasons[3].startswith("invalid BCE number '0123'")
    assert "unknown legal form 'gmbh'" in reasons[4]
    assert reasons[5] == "missing name"
    assert reasons[6] == "expected 4 columns, found 5"
    assert "unknown status 'sleeping'" in reasons[8]
    assert {e.bce for e in Enterprise.select()} == {fake_bce(1), fake_bce(6)}
    assert json.loads(events("bce.import")[0].details)["bad"] == 5


def test_bad_representative_rows(companies, tmp_path):
    path = representatives_file(
        tmp_path,
        [
            (fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", ""),  # line 2
            (fake_bce(9), fake_nrn(2), "Bruno", "Fictif", "gérant", ""),  # line 3
            (fake_bce(1), "12345678901", "Chloé", "Inventée", "gérante", ""),  # line 4
            (fake_bce(1), fake_nrn(3), "Denis", "Supposé", "gérant", "31/12/2024"),  # line 5
            (fake_bce(2), fake_nrn(4), "Eva", "Hypothèse", "trésorière", "2024-12-31"),  # 6
        ],
    )
    result = import_file(path, actor=ACTOR)

    assert (result.new, result.bad) == (2, 3)
    reasons = dict(result.errors)
    assert sorted(reasons) == [3, 4, 5]
    assert reasons[3].startswith(f"unknown enterprise {fake_bce(9)}")
    assert reasons[4].startswith("invalid national register number '12345678901'")
    assert reasons[5].startswith("invalid end date '31/12/2024'")
    # Nobody from a skipped row was created.
    assert {p.nrn for p in Person.select()} == {fake_nrn(1), fake_nrn(4)}


def test_reimport_is_idempotent_and_writes_nothing(companies, tmp_path):
    reps = representatives_file(
        tmp_path,
        [
            (fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", ""),
            (fake_bce(2), fake_nrn(2), "Bruno", "Fictif", "président", "2021-01-31"),
        ],
    )
    import_file(reps, actor=ACTOR)
    before, events_before = snapshot(), AuditEvent.select().count()

    again_companies = import_file(companies, actor=ACTOR)
    again_reps = import_file(reps, actor=ACTOR)

    assert (again_companies.unchanged, again_companies.new, again_companies.updated) == (3, 0, 0)
    assert (again_reps.unchanged, again_reps.new, again_reps.updated) == (2, 0, 0)
    assert snapshot() == before
    # Only the two summaries were appended; the chain is intact.
    assert AuditEvent.select().count() == events_before + 2
    assert audit.verify().ok


def test_status_change_to_stopped_bumps_epoch_and_is_audited(companies, tmp_path):
    epoch = Enterprise.get(Enterprise.bce == fake_bce(1)).authz_epoch
    other_epoch = Enterprise.get(Enterprise.bce == fake_bce(2)).authz_epoch
    path = enterprises_file(
        tmp_path,
        [
            (fake_bce(1), "Fromagerie Imaginaire SRL", "company", "stopped"),
            (fake_bce(2), "Les Amis du Vent (renamed) ASBL", "asbl", "active"),
        ],
    )
    result = import_file(path, actor=ACTOR)

    assert (result.updated, result.unchanged, result.new) == (2, 0, 0)
    stopped = Enterprise.get(Enterprise.bce == fake_bce(1))
    assert (stopped.status, stopped.authz_epoch) == ("stopped", epoch + 1)
    renamed = Enterprise.get(Enterprise.bce == fake_bce(2))
    # A new name does not change who may do what: no epoch bump, no access audit event.
    assert renamed.name == "Les Amis du Vent (renamed) ASBL"
    assert renamed.authz_epoch == other_epoch
    [event] = events("bce.enterprise_status")
    assert (event.actor, event.enterprise_bce, event.target_id) == (ACTOR, fake_bce(1), fake_bce(1))
    details = json.loads(event.details)
    assert (details["previous"], details["status"]) == ("active", "stopped")
    assert event.policy_version


def test_representation_end_and_reopen(companies, tmp_path):
    current = [(fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", "")]
    import_file(representatives_file(tmp_path, current), actor=ACTOR)
    epoch = Enterprise.get(Enterprise.bce == fake_bce(1)).authz_epoch

    ended = [(fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", "2024-03-31")]
    result = import_file(representatives_file(tmp_path, ended, name="ended.csv"), actor=ACTOR)

    assert (result.updated, result.new) == (1, 0)
    representation = LegalRepresentation.get()
    assert representation.ended_on == date(2024, 3, 31)
    assert Enterprise.get(Enterprise.bce == fake_bce(1)).authz_epoch == epoch + 1
    [event] = events("bce.representation_end")
    details = json.loads(event.details)
    assert (details["previous"], details["ended_on"]) == (None, "2024-03-31")
    assert event.target_id == str(representation.id)

    result = import_file(representatives_file(tmp_path, current, name="again.csv"), actor=ACTOR)

    assert result.updated == 1
    assert LegalRepresentation.get().ended_on is None
    assert Enterprise.get(Enterprise.bce == fake_bce(1)).authz_epoch == epoch + 2
    assert len(events("bce.representation_end")) == 2


def test_person_names_filled_only_when_given(companies, tmp_path):
    rows = [(fake_bce(1), fake_nrn(1), "", "", "gérante", "")]
    import_file(representatives_file(tmp_path, rows), actor=ACTOR)
    assert Person.get().display_name == fake_nrn(1)

    rows = [(fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", "")]
    assert import_file(representatives_file(tmp_path, rows, name="b.csv"), actor=ACTOR).updated == 1
    rows = [(fake_bce(1), fake_nrn(1), "", "", "gérante", "")]
    assert (
        import_file(representatives_file(tmp_path, rows, name="c.csv"), actor=ACTOR).unchanged == 1
    )
    assert Person.get().display_name == "Alice Exemple"


def test_bom_and_semicolon(database, tmp_path):
    path = enterprises_file(
        tmp_path,
        [
            (
                f"{fake_bce(1)[:4]}.{fake_bce(1)[4:7]}.{fake_bce(1)[7:]}",
                "Café; Thé & Cie",
                "company",
                "active",
            )
        ],
        delimiter=";",
        bom=True,
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbfbce;name")
    assert detect_kind(path) == "enterprises"

    result = import_file(path, actor=ACTOR)

    assert (result.new, result.bad) == (1, 0)
    assert Enterprise.get().name == "Café; Thé & Cie"


def test_unreadable_files_write_nothing(database, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        f"bce,name,legal_form,status\n{fake_bce(1)},Soci\xe9t\xe9,company,active\n".encode(
            "latin-1"
        )
    )
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("number,label\n1,x\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")

    with pytest.raises(InvalidInput, match=r"latin1.csv: not UTF-8 text \(line 2\)"):
        import_file(latin1, actor=ACTOR)
    with pytest.raises(InvalidInput, match="unrecognized header"):
        import_file(unknown, actor=ACTOR)
    with pytest.raises(InvalidInput, match="empty"):
        import_file(empty, actor=ACTOR)
    with pytest.raises(OSError):
        import_file(tmp_path / "missing.csv", actor=ACTOR)
    assert Enterprise.select().count() == 0
    assert AuditEvent.select().count() == 0


def test_large_file_imports_in_batches_and_reimport_is_unchanged(database, tmp_path):
    count = 20_000
    enterprises = enterprises_file(
        tmp_path,
        ((fake_bce(i), f"Entreprise Fictive {i}", "company", "active") for i in range(count)),
    )
    representatives = representatives_file(
        tmp_path,
        (
            (fake_bce(i % 2_000), fake_nrn(i), "Prénom", f"Nom{i}", "administrateur", "")
            for i in range(2_000)
        ),
    )
    calls = []

    result = import_file(enterprises, actor=ACTOR, progress=lambda d, t: calls.append((d, t)))
    reps = import_file(representatives, actor=ACTOR)

    assert (result.new, result.bad, result.rows) == (count, 0, count)
    assert (reps.new, reps.bad) == (2_000, 0)
    assert Enterprise.select().count() == count
    assert calls[0] == (0, count) and calls[-1] == (count, count)
    assert len(calls) >= count // 500
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))

    before = snapshot()
    again = import_file(enterprises, actor=ACTOR)
    again_reps = import_file(representatives, actor=ACTOR)
    assert (again.unchanged, again.new, again.updated) == (count, 0, 0)
    assert again_reps.unchanged == 2_000
    assert snapshot() == before


def test_duplicate_rows_in_one_file(database, tmp_path):
    path = enterprises_file(
        tmp_path,
        [
            (fake_bce(1), "Premier Nom", "company", "active"),
            (fake_bce(1), "Second Nom", "company", "active"),
            (fake_bce(1), "Second Nom", "company", "active"),
        ],
    )
    result = import_file(path, actor=ACTOR)
    assert (result.new, result.updated, result.unchanged) == (1, 1, 1)
    assert Enterprise.get().name == "Second Nom"


def test_duplicate_representative_rows_in_one_file(companies, tmp_path):
    path = representatives_file(
        tmp_path,
        [
            (fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", ""),
            (fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", "2024-01-31"),
        ],
    )
    result = import_file(path, actor=ACTOR)

    assert (result.new, result.updated, result.bad) == (1, 1, 0)
    assert LegalRepresentation.get().ended_on == date(2024, 1, 31)
    [event] = events("bce.representation_add")
    assert json.loads(event.details)["ended_on"] == "2024-01-31"
    assert event.target_id == str(LegalRepresentation.get().id)
