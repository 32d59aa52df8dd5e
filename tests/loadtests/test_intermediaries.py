"""The benchmark of a firm of many clients in quick mode: it builds the firm, times every
measure and prints a row for each. No timing is asserted (CI machines vary); this keeps the
benchmark working as the chooser, the claims and the searches it measures change."""

from __future__ import annotations

import pytest

from loadtests import intermediaries


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_quick_mode_times_every_measure(kind, capsys):
    status = intermediaries.main(["--quick", "--database", kind])
    printed = capsys.readouterr().out
    assert f"a firm of 100 clients and 5 client agents on {kind}" in printed
    for measure in (
        "uncached decision: firm / direct",
        "cached decision: firm / direct",
        "chooser, first page",
        "chooser, name search",
        "chooser, BCE number search",
        "chooser, far page",
        "search: who may act for a client",
        "search: clients of an agent, first page",
        "search: clients of an agent, far page",
    ):
        line = next(line for line in printed.splitlines() if line.startswith(measure))
        assert "PASS" in line or "FAIL" in line
    assert status == (0 if "FAIL" not in printed else 1)


def test_the_generated_identifiers_are_valid():
    from stdnum.be import nn, vat

    assert all(vat.is_valid(intermediaries.client_bce(k)) for k in (0, 1234, 1999))
    assert all(nn.is_valid(intermediaries.agent_nrn(k)) for k in (0, 49))
    assert all(nn.is_valid(intermediaries.owner_nrn(k)) for k in (0, 49))
    assert (
        len(
            {intermediaries.agent_nrn(k) for k in range(50)}
            | {intermediaries.owner_nrn(k) for k in range(50)}
        )
        == 100
    )
