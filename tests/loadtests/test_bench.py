"""The benchmark's in-process part on a tiny database: it runs and reports its rows.

No timing is asserted (CI machines vary); this keeps the benchmark code working as the code it
measures changes.
"""

from __future__ import annotations

from datetime import date

from authz import audit
from authz.identifiers import normalize_bce, normalize_nrn
from loadtests import bench, dataset, inprocess
from monespace import demo


def test_generated_identifiers_are_valid_and_distinct():
    nrns = [dataset.nrn(k) for k in range(0, 300_000, 997)]
    bces = [dataset.bce(k) for k in range(0, 120_000, 997)]
    assert [normalize_nrn(n) for n in nrns] == nrns and len(set(nrns)) == len(nrns)
    assert [normalize_bce(b) for b in bces] == bces and len(set(bces)) == len(bces)


def test_a_bigger_dataset_keeps_the_smaller_ones_grants():
    today = date(2026, 1, 1)
    assert [dataset.grant_row(i, today) for i in range(80)] == [
        dataset.grant_row(i, today) for i in range(80)
    ]
    asked = dataset.questions(80, 50, today=today)
    assert asked == dataset.questions(80, 50, today=today)
    assert len(asked) == 50 and set(dataset.DEMO_QUESTIONS) <= set(asked)


def test_in_process_benchmark_reports_its_rows(database, database_url):
    demo.seed()
    data = dataset.Dataset()
    results = inprocess.measure(
        database_url, data, sizes=(40, 200), budgets=inprocess.TINY, question_count=30
    )
    assert [r.grants for r in results] == [40, 200]
    assert results[0].answers == results[1].answers and any(results[0].answers)
    assert not all(results[0].answers)

    rows = bench.in_process_rows(results)
    names = [row.measure for row in rows]
    for size in ("40", "200"):
        assert f"uncached decision, {size} grants" in names
        assert f"cached decision, {size} grants" in names
    assert "uncached decision, 200 / 40 grants" in names
    assert "same answers at both sizes" in names
    same = rows[names.index("same answers at both sizes")]
    assert same.passed is True
    table = bench.render("database: test", rows)
    assert "uncached decision, 200 grants" in table and "median < 1 ms" in table


def test_prepare_keys_the_audit_log_itself(empty_database, database_url, monkeypatch):
    """``python -m loadtests.bench`` runs outside any app: no configured key, its own."""
    monkeypatch.setattr(audit, "_keyring", None)
    dataset.prepare(database_url)
    assert audit.keyring().current.secret == dataset.AUDIT_KEY.encode()
    result = audit.verify()
    assert result.ok and result.rows > 0
