"""admin_ui/manage/export.py: the members as CSV, for the GAP only, with the page's filters,
escaped against formulas and streamed."""

from __future__ import annotations

import csv
import io

from admin_ui.manage.export import cell, csv_lines
from authz.models import Person
from authz.services import Caller, change_role
from loadtests.admin_pages import member_nrn
from tests.idp_bridge.web_client import Browser

BOULANGERIE = "0123456749"
EXPORT = f"/entreprises/{BOULANGERIE}/acces/membres.csv"


def logged_in(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


def table(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_gap_exports_every_member_streamed_with_the_pages_filters(app, add_members):
    add_members(1200)  # more than one chunk of the export
    marc = logged_in(app, "marc")
    response = marc.get(EXPORT)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="membres-{BOULANGERIE}.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = table(response)
    assert rows[0][:4] == ["Nom", "Prénom", "Numéro de registre national", "Rôle"]
    nrns = [row[2] for row in rows[1:]]
    assert len(nrns) == len(set(nrns)) >= 1200 and member_nrn(1199) in nrns
    # The members page's search and filters apply.
    rows = table(marc.get(f"{EXPORT}?q=Member+00042"))
    assert [row[:4] for row in rows[1:]] == [
        ["Member 00042", "Given42", member_nrn(42), "Propriétaire"]
    ]
    owners = table(marc.get(f"{EXPORT}?role=owner&source=invitation"))[1:]
    assert owners and {(r[3], r[6]) for r in owners} == {("Propriétaire", "Sur invitation")}
    # The members page links to the export with its search.
    page = marc.get(f"/entreprises/{BOULANGERIE}/acces?role=owner").get_data(as_text=True)
    assert f'href="{EXPORT}?role=owner"' in page


def test_cells_a_spreadsheet_would_run_are_escaped(app):
    for given in ('=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)"):
        Person.update(given_name=given).where(Person.given_name == "Sophie").execute()
        rows = table(logged_in(app, "marc").get(EXPORT))
        assert ["'" + given] == [r[1] for r in rows[1:] if r[1].endswith(given)]
        Person.update(given_name="Sophie").where(Person.given_name == given).execute()
    assert cell("=1+1") == "'=1+1" and cell("\t=1") == "'\t=1" and cell("a=b") == "a=b"
    assert cell(None) == "" and cell(3) == "3"
    assert "".join(csv_lines([["a", '"b"'], ["=c", "d,e"]])) == ('a,"""b"""\r\n\'=c,"d,e"\r\n')


def test_an_access_manager_who_is_not_the_gap_is_refused(app):
    sophie = Person.get(Person.given_name == "Sophie")
    marc = Person.get(Person.given_name == "Marc")
    from authz.models import RoleGrant

    grant = RoleGrant.get((RoleGrant.person == sophie) & RoleGrant.ended_at.is_null())
    change_role(Caller.for_person(marc), grant.id, "access_manager")
    browser = logged_in(app, "sophie")
    assert browser.get(f"/entreprises/{BOULANGERIE}/acces").status_code == 200  # she manages
    response = browser.get(EXPORT)
    assert response.status_code == 403
    assert "Seul le gestionnaire d&#39;accès principal (GAP)" in response.get_data(as_text=True)
    members = browser.get(f"/entreprises/{BOULANGERIE}/acces").get_data(as_text=True)
    assert "membres.csv" not in members


def test_the_gap_of_another_enterprise_and_strangers_are_refused(app):
    assert logged_in(app, "jean").get(EXPORT).status_code == 403  # the Atelier's GAP
    assert logged_in(app, "emma").get(EXPORT).status_code == 403  # a reader
    response = Browser(app).get(EXPORT)
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_a_bad_search_is_no_export(app):
    marc = logged_in(app, "marc")
    assert marc.get(f"{EXPORT}?q=12345").status_code == 400
    assert marc.get(f"{EXPORT}?q={'x' * 10_000}").status_code == 400
    assert marc.get(f"{EXPORT}?page=-1&tri=nope").status_code == 200
