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


# -- the query strings of the long lists -------------------------------------------------------

LISTS = (
    BASE,
    f"{BASE}/demandes",
    f"{BASE}/invitations",
    f"{BASE}/historique",
    f"{BASE}/membres.csv",
    "/entreprises",
)
ODD_QUERIES = (
    "page=-1",
    "page=abc",
    "page=0",
    f"page={HUGE}",
    "page=1e9",
    "page=%00",
    "tri=unknown&ordre=sideways",
    f"tri={HUGE}",
    "role=gap&source=nowhere&fin=-5",
    "fin=99999999999999999999",
    "q=%00%01",
    "q=%F0%9F%98%80",  # an emoji
    "q=%ED%A0%80",  # not UTF-8
    "q=' OR 1=1 --",
    "q=%25%25_",
    "q=" + "x" * 10_000,
    "q=" + "1" * 10_000,
    "q=1&q=2&page=1&page=2",
)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_query_strings_of_the_lists_are_clamped_or_a_form_message(app, path, query):
    marc = logged_in(app, "marc")
    response = marc.get(f"{path}?{query}")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400 and not path.endswith(".csv"):
        html = response.get_data(as_text=True)
        assert 'role="alert"' in html  # a message on the form, the list below it


def test_a_ten_kilobyte_search_is_a_message_and_no_filter(app):
    response = logged_in(app, "marc").get(f"{BASE}?q={'x' * 10_000}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Ce texte est trop long (100 caractères au plus)." in html
    assert "x" * 101 not in html  # not echoed back
    assert "Sophie Martin-Démo" in html  # the members, unfiltered
