"""Prometheus metrics of the logins and the provider: logins by upstream and outcome, tokens
issued and refused by grant type. Labels take values from fixed sets (an upstream's name comes
from the configuration, never from a request), so the number of series stays bounded; see
``authz.metrics`` for how the values are kept across granian's workers."""

from __future__ import annotations

from prometheus_client import Counter

from authz.metrics import FastCounter

LOGINS = Counter(
    "monespace_logins",
    "Logins that came back from an upstream (or could not start), by upstream and outcome.",
    ["upstream", "outcome"],
)
# success; the reasons of idp_bridge.upstreams.base.UpstreamError as the login page words
# them; not_started: the upstream could not be reached to start one.
LOGIN_OUTCOMES = ("success", "refused", "cancelled", "timed_out", "invalid", "not_started")

TOKENS = Counter(
    "monespace_tokens",
    "Answers of the token endpoint, by grant type and outcome (issued, refused).",
    ["grant_type", "outcome"],
)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_TOKEN_COUNTS = {
    (grant, issued): FastCounter(TOKENS.labels(grant, "issued" if issued else "refused"))
    for grant in (*GRANT_TYPES, "other")
    for issued in (True, False)
}


def count_login(upstream: str, outcome: str) -> None:
    LOGINS.labels(upstream, outcome if outcome in LOGIN_OUTCOMES else "invalid").inc()


def expect_logins(upstreams: list[str]) -> None:
    """Show every (upstream, outcome) at zero from the start: rates and alerts need a series
    before its first event."""
    for upstream in upstreams:
        for outcome in LOGIN_OUTCOMES:
            LOGINS.labels(upstream, outcome)


def count_token(grant_type: str | None, issued: bool) -> None:
    """One answer of the token endpoint; a grant type this provider does not know (or none)
    counts as ``other``. Fast lanes of the token endpoint call it too."""
    grant = grant_type if grant_type in GRANT_TYPES else "other"
    _TOKEN_COUNTS[grant, issued].inc()
