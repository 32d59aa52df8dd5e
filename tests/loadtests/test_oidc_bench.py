"""The comparison with node oidc-provider at its smallest: both providers start, every kind of
request is checked and then timed on both sides, and the table has them all; an error answer
is never timed. No timing is asserted (CI machines vary)."""

from __future__ import annotations

import pytest

from loadtests import oidc_bench, oidc_sides
from loadtests.bench import render
from loadtests.oidc_bench import NODE, PROJECT

pytestmark = pytest.mark.slow  # node is there: .ci/run installs it for the browser tests


def test_every_kind_of_request_is_answered_and_timed_on_both_sides():
    messages: list[str] = []
    outcome = oidc_bench.run(oidc_bench.TINY, messages.append, workers=1, threads=2)

    assert [m.endpoint for m in outcome.measured] == list(oidc_bench.ENDPOINTS)
    for measured in outcome.measured:
        for side in (PROJECT, NODE):
            result = measured.sides[side]
            # Every timed request was answered 200; the first of each kind also carried its
            # token (checked before timing, or the run stops).
            assert result.requests > 0 and result.errors == 0, (measured.endpoint, side)
    names = [row.measure for row in outcome.rows]
    for endpoint in oidc_bench.ENDPOINTS:
        for suffix in (PROJECT, NODE, f"{PROJECT} / node"):
            assert f"{endpoint}: {suffix}" in names
    ratios = [row for row in outcome.rows if row.measure.endswith("/ node")]
    assert all(row.passed is not None and row.target == "≥ 0.5" for row in ratios)
    rss = outcome.rows[names.index(f"peak RSS of a {PROJECT} worker")]
    assert rss.passed is not None and rss.value.endswith(" MB") and rss.value != "0 MB"
    table = render("", outcome.rows)
    assert "req/s" in table and "p99 ≤ 25 ms" in table


def test_an_answer_without_its_token_stops_the_benchmark(tmp_path):
    """A used code, a wrong PKCE verifier or a bad client secret is refused by the provider;
    the check refuses to time such answers."""
    with oidc_sides.node_peer(tmp_path, lambda _msg: None) as node:
        code, other = node.mint("codes", 2)
        redeem = oidc_bench.requests_for(node, "authorization_code", [code])[0]
        oidc_bench.check(node, "authorization_code", redeem)  # allowed: 200 and tokens
        with pytest.raises(oidc_sides.BenchmarkError, match="authorization_code"):
            oidc_bench.check(node, "authorization_code", redeem)  # the same code again

        wrong_verifier = redeem.replace(code.encode(), other.encode()).replace(
            oidc_sides.VERIFIER.encode(), b"x" * len(oidc_sides.VERIFIER)
        )
        with pytest.raises(oidc_sides.BenchmarkError, match="HTTP 400"):
            oidc_bench.check(node, "authorization_code", wrong_verifier)

        wrong_secret = oidc_sides.Side(
            node.name, node.port, node.paths, node.mint, node.peak_rss, ("demo-rp", "nope")
        )
        request = oidc_bench.requests_for(wrong_secret, "client_credentials")[0]
        with pytest.raises(oidc_sides.BenchmarkError, match="HTTP 401"):
            oidc_bench.check(node, "client_credentials", request)
        good = oidc_bench.requests_for(node, "client_credentials")[0]
        oidc_bench.check(node, "client_credentials", good)
