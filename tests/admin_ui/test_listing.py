"""admin_ui/listing.py: the access pages of a large enterprise, a page at a time: search,
sort, page links, odd query strings, and the policy asked once a page."""

from __future__ import annotations

import re

import pytest

from authz.engine import get_engine
from authz.identifiers import format_nrn
from authz.models import Enterprise, RoleGrant, today
from loadtests.admin_pages import member_nrn
from tests.idp_bridge.web_client import Browser, page_text

BOULANGERIE = "0123456749"
BASE = f"/entreprises/{BOULANGERIE}/acces"
CAPTION = "Les personnes qui ont un rôle en vigueur pour l'entreprise"


@pytest.fixture
def marc(app) -> Browser:
    browser = Browser(app)
    browser.login("eid", "person:marc")
    return browser


def names(html: str) -> list[str]:
    """The members' names on the page, in order."""
    table = html.split(f"<caption>{CAPTION}</caption>", 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row">([^<]+)<br>', table)


def count(html: str) -> str:
    return re.search(r'<p class="count">(.*?)</p>', html, re.S)[1]


def current_page(html: str) -> str | None:
    found = re.search(r'<a href="[^"]*" aria-current="page">(\d+)</a>', html)
    return found[1] if found else None


def get(browser: Browser, path: str) -> tuple[int, str]:
    response = browser.get(path)
    return response.status_code, response.get_data(as_text=True)


# -- pages -----------------------------------------------------------------------------------


def test_members_come_fifty_a_page_with_a_count_and_page_links(marc, add_members):
    add_members(120)
    total = in_force_on_boulangerie()
    status, html = get(marc, BASE)
    assert status == 200
    assert len(names(html)) == 50
    assert f"{total} membres trouvés – résultats 1 à 50, page 1 sur 3" in page_text_of(html)
    assert current_page(html) == "1"
    assert 'rel="next"' in html and 'rel="prev"' not in html
    status, html = get(marc, f"{BASE}?page=3")
    assert len(names(html)) == total - 100 and current_page(html) == "3"
    assert 'rel="prev"' in html and 'rel="next"' not in html
    # Pages never overlap: every member is on exactly one.
    seen = [n for page in (1, 2, 3) for n in names(get(marc, f"{BASE}?page={page}")[1])]
    assert len(seen) == len(set(seen)) == total


def in_force_on_boulangerie() -> int:
    return (
        RoleGrant.select()
        .join(Enterprise)
        .where(
            (Enterprise.bce == BOULANGERIE)
            & RoleGrant.ended_at.is_null()
            & (RoleGrant.valid_until.is_null() | (RoleGrant.valid_until >= today()))
        )
        .count()
    )


def page_text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        *[("0", "1"), ("-1", "1"), ("abc", "1"), ("", "1"), ("2.5", "1"), ("99", "3")],
        *[("9" * 40, "3"), ("-" + "9" * 40, "1"), ("9" * 10_000, "3")],
    ],
)
def test_a_page_number_out_of_range_or_not_a_number_is_clamped(marc, add_members, page, shown):
    add_members(120)
    status, html = get(marc, f"{BASE}?page={page}")
    assert status == 200
    assert current_page(html) == shown


# -- search ----------------------------------------------------------------------------------


def test_a_name_is_searched_word_by_word_in_either_name(marc, add_members):
    add_members(120)
    status, html = get(marc, f"{BASE}?q=member+00042")
    assert status == 200 and names(html) == ["Given42 Member 00042"]
    assert "1 membre trouvé" in count(html)
    # Given and family name words together; a word neither holds finds nobody.
    assert names(get(marc, f"{BASE}?q=Given42+Member")[1]) == ["Given42 Member 00042"]
    html = get(marc, f"{BASE}?q=Member+nobody")[1]
    assert "0 membres trouvés" in count(html)
    assert "Aucun membre ne correspond à cette recherche." in html
    # LIKE's wildcards are letters like any other.
    assert "0 membres trouvés" in count(get(marc, f"{BASE}?q=%25")[1])
    assert "0 membres trouvés" in count(get(marc, f"{BASE}?q=_")[1])


@pytest.mark.parametrize(
    "spell",
    [
        lambda n: n,  # 85073003361
        format_nrn,  # 85.07.30-033.61
        lambda n: f"{n[:6]} {n[6:9]} {n[9:]}",  # 850730 033 61
    ],
)
def test_a_national_register_number_is_found_in_any_spelling(marc, add_members, spell):
    add_members(60)
    status, html = get(marc, f"{BASE}?q={spell(member_nrn(17))}")
    assert status == 200
    assert names(html) == ["Given17 Member 00017"]


def test_a_number_that_is_no_national_register_number_is_a_form_message(marc, add_members):
    add_members(60)
    wrong = member_nrn(17)[:-1] + str((int(member_nrn(17)[-1]) + 1) % 10)  # bad check digits
    status, html = get(marc, f"{BASE}?q={wrong}")
    assert status == 400
    assert "Indiquez un numéro de registre national valide" in page_text(marc.get(f"{BASE}?q=123"))
    assert 'aria-invalid="true"' in html
    assert len(names(html)) == 50  # the list, unfiltered, below the message


def test_role_source_and_end_date_filters(marc, add_members):
    add_members(140)
    html = get(marc, f"{BASE}?role=owner&page=1")[1]
    owners = 1 + sum(1 for k in range(140) if k % 5 == 2)  # Sophie, and the generated
    assert f"{owners} membres trouvés" in count(html)
    assert set(re.findall(r"<td>([^<]+)<", html)) >= {"Propriétaire"}
    assert "Collaborateur</td>" not in html
    # Members from invitations only (every third generated one).
    html = get(marc, f"{BASE}?source=invitation&q=Member")[1]
    assert "46 membres trouvés" in count(html)  # k = 2, 5, ... 137
    # Ending within 30 days: every 7th generated member has an end date k % 120 days ahead.
    html = get(marc, f"{BASE}?fin=30&q=Member")[1]
    expected = sum(1 for k in range(140) if k % 7 == 0 and k % 120 <= 30)
    assert f"{expected} membres trouvés" in count(html)
    # Unknown values are no filter.
    assert count(get(marc, f"{BASE}?role=gap&source=x&fin=7")[1]) == count(get(marc, BASE)[1])


# -- sort ------------------------------------------------------------------------------------


def test_sort_by_name_both_ways_and_the_sorted_column_says_so(marc, add_members):
    add_members(60)
    html = get(marc, f"{BASE}?tri=name&q=Member")[1]
    shown = names(html)
    assert shown == sorted(shown, key=lambda n: n.split()[-1])
    assert 'aria-sort="ascending"' in html
    # The header link of the sorted column reverses it; the search is kept.
    assert f'href="{BASE}?q=Member&amp;tri=name&amp;ordre=desc"' in html
    html = get(marc, f"{BASE}?tri=name&ordre=desc&q=Member")[1]
    assert names(html) == [f"Given{k % 97} Member {k:05d}" for k in range(59, 9, -1)]
    assert 'aria-sort="descending"' in html


def test_default_sort_is_strongest_role_first_and_unknown_sorts_fall_back(marc, add_members):
    add_members(30)
    default = get(marc, BASE)[1]
    roles = re.findall(
        r"<td>(Gestionnaire d&#39;accès|Propriétaire|Collaborateur|Lecteur)", default
    )
    rank = ["Gestionnaire d&#39;accès", "Propriétaire", "Collaborateur", "Lecteur"]
    assert [rank.index(r) for r in roles] == sorted(rank.index(r) for r in roles)
    for odd in ("tri=nope", "tri=name;drop", "tri=" + "x" * 10_000, "ordre=sideways"):
        status, html = get(marc, f"{BASE}?{odd}")
        assert status == 200 and names(html) == names(default)


def test_sort_by_end_date_puts_members_without_one_last(marc, add_members):
    add_members(60)
    html = get(marc, f"{BASE}?tri=until&q=Member")[1]
    cells = re.findall(r"<td>([^<]*)</td>\s*<td>(?:À sa|Sur|Accordé)", html)
    dated = [c for c in cells if c != "sans date de fin"]
    assert dated and cells[: len(dated)] == dated  # dates first, then none


# -- requests, invitations, Mes entreprises --------------------------------------------------


def test_requests_are_paged_searched_and_decided_by_batch(marc, add_members):
    add_members(80, requests=60)
    status, html = get(marc, f"{BASE}/demandes")
    assert status == 200
    assert "61 demandes trouvées – résultats 1 à 50, page 1 sur 2" in page_text_of(html)
    assert html.count("/accepter") == 50
    html = get(marc, f"{BASE}/demandes?page=2")[1]
    assert html.count("/accepter") == 11
    html = get(marc, f"{BASE}/demandes?q={format_nrn(member_nrn(5))}")[1]
    assert "1 demande trouvée" in count(html) and "Given5 Member 00005" in html
    html = get(marc, f"{BASE}/demandes?tri=name&ordre=desc&q=Member")[1]
    shown = re.findall(r"(Given\d+ Member \d+) demande le rôle", html)
    assert shown == sorted(shown, key=lambda n: n.split()[-1], reverse=True)


def test_invitations_have_their_own_paged_list(marc, add_members):
    add_members(10, invitations=60)
    members_page = get(marc, BASE)[1]
    assert "Toutes les invitations en attente (60)" in page_text_of(members_page)
    status, html = get(marc, f"{BASE}/invitations")
    assert status == 200 and "60 invitations trouvées" in count(html)
    html = get(marc, f"{BASE}/invitations?q=invite42%40")[1]
    assert "1 invitation trouvée" in count(html) and "invite42@example.be" in html
    html = get(marc, f"{BASE}/invitations?q=12345")[1]  # digits are an address part here
    assert "0 invitations trouvées" in count(html)


def test_mes_entreprises_searches_by_name_and_any_spelling_of_the_number(app):
    jean = Browser(app)
    jean.login("eid", "person:jean")  # the Atelier's GAP, and more
    everything = get(jean, "/entreprises")[1]
    assert "entreprises trouvées" in count(everything) or "entreprise trouvée" in count(everything)
    for spelled in ("0888888895", "0888.888.895", "BE 0888 888 895", "be0888888895"):
        status, html = get(jean, f"/entreprises?q={spelled}")
        assert status == 200 and "1 entreprise trouvée" in count(html), spelled
    html = get(jean, "/entreprises?q=atelier")[1]
    assert "1 entreprise trouvée" in count(html)
    status, html = get(jean, "/entreprises?q=0888888896")
    assert status == 400 and "Indiquez un numéro d&#39;entreprise valide" in html


# -- the policy asked once a page ------------------------------------------------------------


@pytest.fixture
def policy_queries(monkeypatch):
    """How many queries the policy engine answers (each a question to oso)."""
    calls = []
    oso = get_engine().oso
    for name in ("query", "query_rule", "query_rule_once"):
        original = getattr(oso, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(oso, name, counted)
    return calls


def asked_for(browser: Browser, path: str, calls: list) -> int:
    calls.clear()
    status, _html = get(browser, path)
    assert status == 200
    return len(calls)


def test_the_policy_questions_of_a_page_do_not_grow_with_its_rows(
    marc, add_members, policy_queries
):
    add_members(120, requests=80)
    few = asked_for(marc, f"{BASE}?q=Member+00001", policy_queries)  # 1 row
    many = asked_for(marc, BASE, policy_queries)  # 50 rows
    assert few == many
    few = asked_for(marc, f"{BASE}/demandes?q=Member+00001", policy_queries)
    many = asked_for(marc, f"{BASE}/demandes", policy_queries)  # 50 requests
    assert few == many
