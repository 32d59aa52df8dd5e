"""The members page of an enterprise of 1,000 members, in Chromium: a page at a time, searched
from its form, and the CSV export downloads every member (the GAP, Marc)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import expect

from authz.models import Enterprise, Person
from loadtests import admin_pages

MEMBERS = 1000
DEMO_MEMBERS = 3  # Sophie, Luc, Emma


def test_a_thousand_members_paged_searched_and_exported(new_page, check_page):
    enterprise = Enterprise.get(Enterprise.bce == admin_pages.BOULANGERIE)
    gap = Person.get(Person.nrn == admin_pages.GAP_NRN)
    admin_pages.add_members(enterprise.id, gap.id, MEMBERS)
    total = MEMBERS + DEMO_MEMBERS

    page = new_page("marc", next_path=f"/entreprises/{admin_pages.BOULANGERIE}/acces")
    count = page.locator("p.count")
    expect(count).to_contain_text(f"{total} membres trouvés")
    expect(count).to_contain_text("page 1 sur 21")
    assert page.locator("table tbody tr").count() == 50
    check_page(page, "members-1")

    pages = page.get_by_role("navigation", name="Pages des membres")
    pages.get_by_role("link", name="Dernière page").click()
    expect(page.locator("p.count")).to_contain_text("page 21 sur 21")
    expect(pages.locator('[aria-current="page"]')).to_have_text("21")
    assert page.locator("table tbody tr").count() == total - 20 * 50

    page.get_by_label("Nom ou numéro de registre national").fill("Member 00421")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("p.count")).to_contain_text("1 membre trouvé")
    expect(page.locator("table tbody")).to_contain_text("Member 00421")
    page.get_by_label("Nom ou numéro de registre national").fill(admin_pages.member_nrn(7))
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("table tbody")).to_contain_text("Member 00007")
    check_page(page, "members-searched")

    page.get_by_label("Nom ou numéro de registre national").fill("")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("p.count")).to_contain_text(f"{total} membres trouvés")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter ces membres (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == total, header
    nrns = {row[2] for row in body}
    assert admin_pages.member_nrn(0) in nrns and admin_pages.member_nrn(MEMBERS - 1) in nrns
