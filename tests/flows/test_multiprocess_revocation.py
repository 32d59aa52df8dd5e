"""Proof that a cached allow never outlives a revocation made by another process.

Two app processes share one database (PostgreSQL, then SQLite). Both answer the same question
and cache the allow. The grant is revoked through the first process; the second must deny
within the bound the README states: at once on SQLite (data_version is checked before every
cached answer), and on PostgreSQL as soon as the NOTIFY arrives (worst case: the tracker's
max_delay, after which a silent listener is unhealthy and cached allows are no longer used).
"""

from __future__ import annotations

import time

from authz.epochs import PostgresEpochTracker
from authz.models import Person, RoleGrant
from tests.flows.app_processes import BOULANGERIE, LUC, call, luc_may_act

BOUND_SECONDS = {"sqlite": 0.0, "postgresql": PostgresEpochTracker.WORST_CASE_DELAY}


def test_revocation_through_one_process_is_seen_by_the_other(two_processes, database_url):
    first, second = two_processes
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    # Both processes answer and cache the allow (the demo client asks for "fiscalite").
    for port in (first, second):
        assert luc_may_act(port) is True
        status, body = call(port, "GET", f"/_test/cache/{LUC}/act_for/{BOULANGERIE}/fiscalite")
        assert (status, body["cache"]) == (200, "hit")
    grant = RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == LUC))

    status, _ = call(first, "POST", f"/_test/revoke/{grant.id}", {})
    assert status == 200
    revoked_at = time.monotonic()
    assert luc_may_act(first) is False  # the process that revoked: at once
    while luc_may_act(second):
        elapsed = time.monotonic() - revoked_at
        assert elapsed <= BOUND_SECONDS[backend] + 0.5, f"still allowed after {elapsed:.2f}s"
        time.sleep(0.01)
    elapsed = time.monotonic() - revoked_at
    assert elapsed <= BOUND_SECONDS[backend] + 0.5
