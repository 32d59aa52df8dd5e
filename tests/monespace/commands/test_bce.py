"""``monespace import-bce``: messages, progress and exit status."""

from __future__ import annotations

import json

from authz.models import AuditEvent, Enterprise, LegalRepresentation
from tests.bce_data import (
    ENTERPRISE_HEADER,
    REPRESENTATIVE_HEADER,
    fake_bce,
    fake_nrn,
    write_csv,
)
from tests.monespace.conftest import run_cli


def test_good_file_exits_zero(cli_env, capsys, tmp_path):
    path = write_csv(
        tmp_path / "enterprises.csv",
        ENTERPRISE_HEADER,
        [(fake_bce(1), "Fromagerie Imaginaire SRL", "company", "active")],
    )
    code, out, err = run_cli(capsys, "import-bce", str(path))

    assert code == 0, err
    assert out == (
        "enterprises.csv: enterprises: 1 rows, 1 new, 0 updated, 0 unchanged, 0 skipped\n"
    )
    assert err == ""
    assert Enterprise.get().name == "Fromagerie Imaginaire SRL"
    assert AuditEvent.get(AuditEvent.action == "bce.import").actor == "operator:cli"


def test_bad_rows_are_listed_and_exit_one(cli_env, capsys, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "bce,name,legal_form,status\n"
        f"{fake_bce(1)},Bonne Entreprise,company,active\n"
        "0123,Numéro Trop Court,company,active\n"
        f"{fake_bce(2)},Forme Inconnue,gmbh,active\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "import-bce", str(path))

    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("line 3: invalid BCE number '0123': ")
    assert lines[1].startswith("line 4: unknown legal form 'gmbh'")
    assert "1 new" in out and "2 skipped" in out
    assert [e.bce for e in Enterprise.select()] == [fake_bce(1)]


def test_unreadable_file_is_one_line(cli_env, capsys, tmp_path):
    code, out, err = run_cli(capsys, "import-bce", str(tmp_path / "missing.csv"))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: cannot read ") and "missing.csv" in err

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"bce,name,legal_form,status\n0200000142,Soci\xe9t\xe9,company,active\n")
    code, _out, err = run_cli(capsys, "import-bce", str(latin1))
    assert (code, err) == (1, "error: latin1.csv: not UTF-8 text (line 2)\n")

    header = tmp_path / "other.csv"
    header.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _out, err = run_cli(capsys, "import-bce", str(header))
    assert code == 1
    assert err.startswith("error: other.csv: unrecognized header 'a,b'")
    assert err.count("\n") == 1


def test_both_files_in_one_run_enterprises_first(cli_env, capsys, tmp_path):
    reps = write_csv(
        tmp_path / "reps.csv",
        REPRESENTATIVE_HEADER,
        [(fake_bce(1), fake_nrn(1), "Alice", "Exemple", "gérante", "")],
        delimiter=";",
        bom=True,
    )
    companies = write_csv(
        tmp_path / "companies.csv",
        ENTERPRISE_HEADER,
        [(fake_bce(1), "Fromagerie Imaginaire SRL", "company", "active")],
    )
    code, out, err = run_cli(capsys, "import-bce", str(reps), str(companies))

    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == ["companies.csv", "reps.csv"]
    assert LegalRepresentation.select().count() == 1


def test_progress_bar_for_large_files_and_reimport(cli_env, capsys, tmp_path):
    count = 1_500
    path = write_csv(
        tmp_path / "big.csv",
        ENTERPRISE_HEADER,
        ((fake_bce(i), f"Entreprise Fictive {i}", "asbl", "active") for i in range(count)),
    )
    code, out, err = run_cli(capsys, "import-bce", str(path))
    assert code == 0
    assert f"{count} new" in out
    assert "big.csv" in err  # the bar's label (stderr is not a terminal: drawn once)

    code, out, _err = run_cli(capsys, "import-bce", str(path))
    assert code == 0
    assert f"0 new, 0 updated, {count} unchanged, 0 skipped" in out
    summaries = AuditEvent.select().where(AuditEvent.action == "bce.import")
    assert [json.loads(e.details)["unchanged"] for e in summaries.order_by(AuditEvent.seq)] == [
        0,
        count,
    ]
