"""The pages refuse, in words, what nobody may do to their own access.

Sophie (owner of the Boulangerie in the demo) is made access manager for 30 days by Marc, the
GAP. She may not give more than her grant, nor decide her own request, nor accept an
invitation she sent; an invitation is bounded by her grant when it is accepted.
"""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from authz.models import Invitation, RoleGrant, RoleRequest, today
from authz.services import Caller, change_role, invite, request_role
from tests.admin_ui.test_manage import BASE, BOULANGERIE, grant_of, logged_in, person, post
from tests.idp_bridge.web_client import (
    page_text,
)


def page_text_of(html: str) -> str:
    return " ".join(unescape(html).split())


def in_days(days: int):
    return today() + timedelta(days=days)


@pytest.fixture
def sophie_until_30(app):
    marc = Caller.for_person(person("Marc"))
    return change_role(marc, grant_of("Sophie").id, "access_manager", valid_until=in_days(30))


def test_a_change_beyond_ones_own_end_date_is_refused_in_words(app, sophie_until_30):
    sophie = logged_in(app, "sophie")
    emma = grant_of("Emma")
    path = f"{BASE}/roles/{emma.id}/modifier"
    beyond = post(sophie, path, {"role": "reader", "valid_until": in_days(31).isoformat()})
    assert beyond.status_code == 403
    assert "personne ne donne plus que son propre rôle" in page_text(beyond)
    assert grant_of("Emma").id == emma.id
    within = post(sophie, path, {"role": "reader", "valid_until": in_days(30).isoformat()})
    assert within.status_code == 303
    assert grant_of("Emma").valid_until == in_days(30)


def test_ones_own_request_cannot_be_accepted(app):
    made = request_role(Caller.for_person(person("Sophie")), BOULANGERIE, "access_manager")
    marc = Caller.for_person(person("Marc"))
    change_role(marc, grant_of("Sophie").id, "access_manager", valid_until=in_days(30))
    sophie = logged_in(app, "sophie")
    # Her own request is listed without a form to decide it; Nora's has its forms.
    html = sophie.get(f"{BASE}/demandes").get_data(as_text=True)
    assert "C'est votre propre demande" in page_text_of(html)
    assert (
        f"/demandes/{made.id}/accepter" not in html and f"/demandes/{made.id}/refuser" not in html
    )
    nora = RoleRequest.get(RoleRequest.person == person("Nora"))
    assert f"/demandes/{nora.id}/accepter" in html
    own = post(sophie, f"{BASE}/demandes/{made.id}/accepter", {"role": "access_manager"})
    assert own.status_code == 403
    assert "personne ne décide de ses propres accès" in page_text(own)
    refused = post(sophie, f"{BASE}/demandes/{made.id}/refuser", {"reason": "non"})
    assert refused.status_code == 403
    assert grant_of("Sophie").valid_until == in_days(30)
    # Marc decides it.
    by_marc = post(
        logged_in(app, "marc"), f"{BASE}/demandes/{made.id}/accepter", {"role": "access_manager"}
    )
    assert by_marc.status_code == 303
    assert grant_of("Sophie").valid_until is None


def test_one_cannot_accept_an_invitation_one_sent(app, sophie_until_30):
    _, token = invite(
        Caller.for_person(person("Sophie")),
        BOULANGERIE,
        "sophie.perso@example.test",
        "access_manager",
        valid_until=in_days(30),
    )
    page = logged_in(app, "sophie").get(f"/invitation/{token}")
    assert page.status_code == 403
    assert "personne n'accepte sa propre invitation" in page_text(page)
    # The invited person may.
    assert logged_in(app, "nora").get(f"/invitation/{token}").status_code == 200


def test_an_invitation_beyond_its_senders_grant_at_acceptance_is_refused(app, sophie_until_30):
    _, token = invite(
        Caller.for_person(person("Sophie")),
        BOULANGERIE,
        "nora@example.test",
        "reader",
        valid_until=in_days(20),
    )
    marc = Caller.for_person(person("Marc"))
    change_role(marc, grant_of("Sophie").id, "access_manager", valid_until=in_days(10))
    page = logged_in(app, "nora").get(f"/invitation/{token}")
    assert page.status_code == 403
    assert "son propre rôle prend fin plus tôt" in page_text(page)
    assert Invitation.get().accepted_at is None
    assert not RoleGrant.select().where(RoleGrant.source == "invitation").exists()
