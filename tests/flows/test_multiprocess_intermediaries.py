"""Proof that a decision about a client never outlives a change in its intermediary, on any node.

A decision "may this accountant act for the Boulangerie?" rests on facts of two enterprises:
the Boulangerie's mandate to the firm, and the accountant's role in the firm. Two app processes
share one database (PostgreSQL, then SQLite) and both cache the answer. Then the firm changes
(the accountant's grant revoked through the first process; given again, and the firm stopped,
from a third process: this test's own); each change must reach the second process within the
bound of direct grants: at once on SQLite, within the tracker's max_delay on PostgreSQL.
"""

from __future__ import annotations

import time

from authz import db, epochs
from authz.epochs import PostgresEpochTracker
from authz.models import Enterprise, LegalRepresentation, Person, RoleGrant
from authz.services import Caller, accept_mandate, designate_gap, grant_role, propose_mandate
from tests.flows.app_processes import BOULANGERIE, call, may_act

BOUND_SECONDS = {"sqlite": 0.0, "postgresql": PostgresEpochTracker.WORST_CASE_DELAY}
MARC = "85020200387"  # the Boulangerie's GAP in the demo
FIRM, FIRM_GAP, ACCOUNTANT = "0403170701", "80060600285", "80060600384"


def _firm_with_a_mandate_from_the_boulangerie() -> RoleGrant:
    firm = Enterprise.create(bce=FIRM, name="Fidu Comptable SRL")
    rep = Person.create(nrn="80060600483", given_name="Rita")
    gap = Person.create(nrn=FIRM_GAP, given_name="Gérard")
    Person.create(nrn=ACCOUNTANT, given_name="Ana")
    LegalRepresentation.create(person=rep, enterprise=firm)
    designate_gap(Caller.for_person(rep), FIRM, FIRM_GAP)
    mandate = propose_mandate(
        Caller.for_person(Person.get(Person.nrn == MARC)), BOULANGERIE, FIRM, ["fiscalite"]
    )
    accept_mandate(Caller.for_person(gap), mandate.id)
    return grant_role(Caller.for_person(gap), FIRM, ACCOUNTANT, "client_agent")


def _both_answer(ports, expected: bool, since: float, bound: float) -> None:
    for port in ports:
        while may_act(port, ACCOUNTANT, BOULANGERIE) is not expected:
            elapsed = time.monotonic() - since
            assert elapsed <= bound + 0.5, f"port {port}: still {not expected} after {elapsed:.2f}s"
            time.sleep(0.01)


def _cached_everywhere(ports) -> None:
    for port in ports:
        status, body = call(
            port, "GET", f"/_test/cache/{ACCOUNTANT}/act_for/{BOULANGERIE}/fiscalite"
        )
        assert (status, body["cache"]) == (200, "hit")


def test_a_change_in_the_firm_reaches_every_process(two_processes, database_url):
    first, second = two_processes
    bound = BOUND_SECONDS["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    grant = _firm_with_a_mandate_from_the_boulangerie()
    _both_answer((first, second), True, time.monotonic(), bound)
    _cached_everywhere((first, second))

    # The firm's GAP revokes the accountant's role there, through the first process: only the
    # firm's epoch moves, and the client's cached allow must still go.
    status, _ = call(first, "POST", f"/_test/revoke/{grant.id}", {})
    assert status == 200
    revoked_at = time.monotonic()
    assert may_act(first, ACCOUNTANT, BOULANGERIE) is False
    _both_answer((second,), False, revoked_at, bound)
    _cached_everywhere((first, second))  # the denial is cached in turn

    # Given again from a third process: the cached denials go too.
    gap = Caller.for_person(Person.get(Person.nrn == FIRM_GAP))
    grant_role(gap, FIRM, ACCOUNTANT, "client_agent")
    _both_answer((first, second), True, time.monotonic(), bound)
    _cached_everywhere((first, second))

    # The firm stops (as the BCE import records it): it acts for no client any more.
    with db.transaction():
        Enterprise.update(status="stopped").where(Enterprise.bce == FIRM).execute()
        epochs.bump([Enterprise.get(Enterprise.bce == FIRM).id])
    _both_answer((first, second), False, time.monotonic(), bound)
