"""Input no form expects is a refusal in words, never a server error (a 500)."""

from __future__ import annotations

import re

import pytest

from authz.models import Invitation, RoleRequest
from tests.idp_bridge.web_client import (
    Browser,
)

BASE = "/entreprises/0123456749/acces"
HUGE = "9" * 5000


def logged_in(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


def token(browser: Browser, path: str) -> str:
    page = browser.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]


@pytest.mark.parametrize("path", [f"/entreprises/{HUGE}/acces", f"/representant/{HUGE}"])
def test_a_number_of_thousands_of_digits_is_not_found(app, path):
    assert logged_in(app, "marc").get(path).status_code == 404


def test_a_token_with_other_characters_is_refused(app):
    alice = logged_in(app, "alice")
    response = alice.post("/entreprises/ajouter", data={"csrf_token": "é", "bce": "0123456749"})
    assert response.status_code == 400
    assert alice.post("/logout", data={"csrf_token": "é"}).status_code == 400


def test_control_characters_are_refused_and_nothing_is_written(app):
    alice = logged_in(app, "alice")
    form = {
        "csrf_token": token(alice, "/entreprises/ajouter"),
        "bce": HUGE,
        "role": "agent",
        "message": "Bonjour",
    }
    assert alice.post("/entreprises/ajouter", data=form).status_code == 400
    form.update(bce="0123456749", message="Bon\x00jour")
    assert alice.post("/entreprises/ajouter", data=form).status_code == 400
    assert RoleRequest.select().where(RoleRequest.message.contains("jour")).count() == 1  # Nora's
    marc = logged_in(app, "marc")
    invite = {"csrf_token": token(marc, f"{BASE}/inviter"), "role": "reader"}
    for fields in ({"email": "a\x00b@example.be"}, {"email": "a@example.be", "nrn": HUGE}):
        assert marc.post(f"{BASE}/inviter", data={**invite, **fields}).status_code == 400
    assert Invitation.select().count() == 0


def test_withdrawing_request_zero_is_not_found(app):
    alice = logged_in(app, "alice")
    data = {"csrf_token": token(alice, "/entreprises/ajouter")}
    assert alice.post("/entreprises/demandes/0/retirer", data=data).status_code == 404


def test_an_outbox_id_beyond_any_row_is_not_found(app):
    assert Browser(app).get(f"/demo/outbox/{10**20}").status_code == 404
