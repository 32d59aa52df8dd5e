"""The access pages' benchmark in quick mode: it builds its members, times every page and
prints a row for each. No timing is asserted (CI machines vary); this keeps the benchmark
working as the pages it measures change."""

from __future__ import annotations

import pytest

from loadtests import admin_pages


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_quick_mode_times_every_page(kind, capsys):
    status = admin_pages.main(["--quick", "--database", kind])
    printed = capsys.readouterr().out
    assert f"access pages, 200 members on {kind}" in printed
    for measure in admin_pages.measures(200):
        line = next(line for line in printed.splitlines() if line.startswith(measure.name))
        assert "median < 200 ms" in line and ("PASS" in line or "FAIL" in line)
    assert status == (0 if "FAIL" not in printed else 1)


def test_the_measures_ask_what_a_large_enterprise_needs():
    paths = [m.path for m in admin_pages.measures(10_000)]
    assert any("?q=" in p and "." in p for p in paths)  # an NRN in its dotted spelling
    assert any("page=197" in p for p in paths)  # a far page
    assert any(p.endswith("membres.csv") for p in paths)
