"""admin_ui/helpdesk.py: the helpdesk console, read only, every lookup audited.

In the demo, Olivier (the operator) is also the helpdesk unless ``helpdesk`` says otherwise;
Marc (GAP of the Boulangerie) is neither.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from authz import audit
from authz.models import AuditEvent, GapDesignation, Person, RoleGrant, RoleRequest
from authz.services import Caller, revoke_role
from monespace.config import DEMO_OPERATOR_NRN
from tests.idp_bridge.web_client import Browser, page_text

MARC, SOPHIE, EMMA, NORA, ALICE = (
    "85020200387",
    "70030300538",
    "90010100222",
    "95050500928",
    "99090900920",
)
BOULANGERIE = "0123456749"
UNKNOWN_NRN = "93051822361"  # valid, nobody's
UNKNOWN_BCE = "0403170701"  # valid, not in the demo's registry
PAGES = (
    "/helpdesk",
    f"/helpdesk/personne?nrn={MARC}",
    f"/helpdesk/entreprise?bce={BOULANGERIE}",
    f"/helpdesk/pourquoi?nrn={NORA}&bce={BOULANGERIE}&action=act_for",
)
OPERATOR_PAGES = ("/operateur", "/operateur/clients", "/operateur/bce", "/operateur/politique")


def browser_of(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


@pytest.fixture
def olivier(app) -> Browser:
    return browser_of(app, "olivier")


def lookups() -> list[AuditEvent]:
    return list(
        AuditEvent.select().where(AuditEvent.action == "helpdesk.lookup").order_by(AuditEvent.seq)
    )


def text(response) -> str:
    return " ".join(page_text(response).split())


# -- who may use it ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_person_not_in_the_helpdesk_gets_403_on_every_page(app, path):
    marc = browser_of(app, "marc")
    before = AuditEvent.select().count()
    refused = marc.get(path)
    assert refused.status_code == 403
    assert "réservée au helpdesk" in text(refused)
    assert "Boulangerie" not in text(refused)
    assert AuditEvent.select().count() == before  # a refused lookup is no lookup


@pytest.mark.parametrize("path", PAGES)
def test_without_a_login_every_page_goes_to_the_login_page(app, path):
    answer = Browser(app).get(path)
    assert answer.status_code == 303
    assert "/login?next=" in answer.headers["Location"]
    assert lookups() == []


def test_helpdesk_staff_who_are_not_operators_see_nothing_of_the_operator_pages(make_app):
    app = make_app(helpdesk=ALICE)
    alice, olivier = browser_of(app, "alice"), browser_of(app, "olivier")
    for path in PAGES:
        assert alice.get(path).status_code == 200, path
        assert olivier.get(path).status_code == 403, path  # the operator is not the helpdesk
    for path in OPERATOR_PAGES:
        assert alice.get(path).status_code == 403, path
        assert olivier.get(path).status_code == 200, path
    me = text(alice.get("/me"))
    assert "Console du helpdesk" in me
    assert "Pages de l'opérateur" not in me


def test_without_helpdesk_configured_nobody_is_in_it(make_app):
    app = make_app(helpdesk="")
    assert app.config["MONESPACE"].helpdesk == frozenset()
    olivier = browser_of(app, "olivier")
    for path in PAGES:
        assert olivier.get(path).status_code == 403, path


def test_nothing_can_be_posted(olivier):
    for path in PAGES:
        assert olivier.post(path.split("?")[0]).status_code == 405, path
    assert lookups() == []


# -- a person ---------------------------------------------------------------------------------


def test_a_person_in_any_spelling_with_their_mandates_and_where_each_comes_from(olivier):
    page = olivier.get(f"/helpdesk/personne?nrn={quote('85.02.02-003.87')}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    shown = text(page)
    assert "Marc Dupont-Démo (85.02.02-003.87)" in shown
    assert "Boulangerie" in shown
    assert "Gestionnaire d'accès principal (GAP)" in shown
    assert "désigné par Claire Lambert-Démo (60.04.04-007.94)" in shown
    assert "en vigueur" in shown
    # The grants he gave and the designation are in his recent events.
    assert "Rôle accordé" in shown


def test_an_ended_grant_is_shown_with_who_ended_it(app, olivier):
    marc = Caller.for_person(Person.get(Person.nrn == MARC))
    emma = Person.get(Person.nrn == EMMA)
    revoke_role(marc, RoleGrant.get(RoleGrant.person == emma).id, reason="départ")
    shown = text(olivier.get(f"/helpdesk/personne?nrn={EMMA}"))
    assert "révoqué" in shown
    assert "par Marc Dupont-Démo" in shown
    assert "donné directement, par Marc Dupont-Démo" in shown


def test_a_persons_pending_request_is_shown(olivier):
    shown = text(olivier.get(f"/helpdesk/personne?nrn={NORA}"))
    assert "Demandes en attente" in shown
    assert "Collaborateur chez Boulangerie" in shown
    assert "Aucun mandat" in shown


def test_a_person_lookup_is_audited_on_the_person(olivier):
    olivier.get(f"/helpdesk/personne?nrn={MARC}")
    (event,) = lookups()
    assert event.actor == f"person:{DEMO_OPERATOR_NRN}"
    assert (event.target_type, event.target_id) == ("person", MARC)
    assert event.enterprise_bce is None
    assert json.loads(event.details) == {"nrn": MARC, "view": "person"}
    assert audit.verify().ok


# -- an enterprise ----------------------------------------------------------------------------


def test_an_enterprise_in_any_spelling_with_its_gap_representatives_members_and_requests(
    olivier,
):
    page = olivier.get(f"/helpdesk/entreprise?bce={quote('BE 0123.456.749')}")
    assert page.status_code == 200
    shown = text(page)
    assert "Boulangerie" in shown
    assert "active" in shown
    gap = GapDesignation.get(GapDesignation.ended_at.is_null(True))
    assert gap.person.nrn in (MARC, "75070700353")
    assert "Marc Dupont-Démo (85.02.02-003.87)" in shown
    assert "Claire Lambert-Démo (60.04.04-007.94)" in shown  # the legal representative
    for name in ("Sophie Martin-Démo", "Luc Peeters-Démo", "Emma Janssens-Démo"):
        assert name in shown
    assert "3 membres" in shown
    assert "Nora Willems-Démo (95.05.05-009.28) demande le rôle Collaborateur" in shown
    assert "Gestionnaire d'accès principal (GAP) désigné" in shown  # a recent event


def test_an_enterprise_lookup_is_audited_on_the_enterprise_and_in_its_history(app, olivier):
    olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}")
    (event,) = lookups()
    assert (event.target_type, event.target_id) == ("enterprise", BOULANGERIE)
    assert event.enterprise_bce == BOULANGERIE
    assert audit.verify().ok
    history = browser_of(app, "marc").get(f"/entreprises/{BOULANGERIE}/acces/historique")
    assert "Le helpdesk a consulté le dossier" in text(history)


# -- the policy's explanation ----------------------------------------------------------------


def test_why_a_person_cannot_act_for_an_enterprise(olivier):
    page = olivier.get(f"/helpdesk/pourquoi?nrn={NORA}&bce={BOULANGERIE}&action=act_for")
    assert page.status_code == 200
    shown = text(page)
    assert "Refusé : act_for n'est pas permis." in shown
    assert "DENY act_for" in shown
    assert "holds no role, GAP designation or legal representation" in shown
    (event,) = lookups()
    assert (event.target_type, event.target_id, event.enterprise_bce) == (
        "person",
        NORA,
        BOULANGERIE,
    )
    assert json.loads(event.details) == {
        "nrn": NORA,
        "view": "explanation",
        "permission": "act_for",
    }


def test_why_a_person_can_act_and_the_service_domain_counts(olivier):
    luc = "90010100123"  # agent for the fiscalite domain only
    base = f"/helpdesk/pourquoi?nrn={luc}&bce={quote('0123.456.749')}&action=act_for"
    assert "Autorisé" in text(olivier.get(base + "&domaine=fiscalite"))
    other = text(olivier.get(base + "&domaine=mobilite"))
    assert "Refusé" in other
    assert "is limited to fiscalite" in other
    assert json.loads(lookups()[0].details)["service_domain"] == "fiscalite"


# -- bad input: a message on the form, never a 5xx, no lookup recorded ------------------------


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/helpdesk/personne?nrn=12345", 400, "numéro de registre national n'est pas valide"),
        ("/helpdesk/personne?nrn=", 400, "numéro de registre national n'est pas valide"),
        ("/helpdesk/personne", 400, "numéro de registre national n'est pas valide"),
        ("/helpdesk/personne?nrn=" + "8" * 10_000, 400, "registre national n'est pas valide"),
        ("/helpdesk/entreprise?bce=0123456748", 400, "numéro d'entreprise n'est pas valide"),
        ("/helpdesk/entreprise?bce=" + "x" * 10_000, 400, "numéro d'entreprise n'est pas valide"),
        (
            f"/helpdesk/pourquoi?nrn=1&bce={BOULANGERIE}&action=act_for",
            400,
            "registre national n'est pas valide",
        ),
        (
            f"/helpdesk/pourquoi?nrn={MARC}&bce={BOULANGERIE}&action=drop_tables",
            400,
            "Choisissez une action",
        ),
        (
            f"/helpdesk/pourquoi?nrn={MARC}&bce={BOULANGERIE}&action=act_for&domaine=%3Cscript%3E",
            400,
            "domaine de service n'est pas valide",
        ),
        (
            "/helpdesk/pourquoi?nrn=" + "9" * 10_000 + "&bce=" + "1" * 10_000 + "&action=act_for",
            400,
            "numéro d'entreprise n'est pas valide",
        ),
    ],
)
def test_bad_input_is_a_form_message(olivier, path, status, message):
    answer = olivier.get(path)
    assert answer.status_code == status
    assert message in text(answer)
    assert 'role="alert"' in answer.get_data(as_text=True)
    assert lookups() == []


def test_an_unknown_person_or_enterprise_is_a_form_message_and_still_a_lookup(olivier):
    person = olivier.get(f"/helpdesk/personne?nrn={UNKNOWN_NRN}")
    assert person.status_code == 404
    assert "Personne n'est connu sous le numéro 93.05.18-223.61" in text(person)
    enterprise = olivier.get(f"/helpdesk/entreprise?bce={UNKNOWN_BCE}")
    assert enterprise.status_code == 404
    assert "Aucune entreprise n'est inscrite sous le numéro 0403.170.701" in text(enterprise)
    why = olivier.get(f"/helpdesk/pourquoi?nrn={UNKNOWN_NRN}&bce={UNKNOWN_BCE}&action=act_for")
    assert why.status_code == 404
    assert "Aucune entreprise" in text(why)
    assert [e.target_id for e in lookups()] == [UNKNOWN_NRN, UNKNOWN_BCE, UNKNOWN_NRN]
    assert audit.verify().ok


def test_a_lookup_changes_nothing_but_the_audit_log(olivier):
    counts = [model.select().count() for model in (RoleGrant, RoleRequest, GapDesignation)]
    before = AuditEvent.select().count()
    for path in PAGES:
        assert olivier.get(path).status_code == 200, path
    assert [model.select().count() for model in (RoleGrant, RoleRequest, GapDesignation)] == counts
    assert AuditEvent.select().count() == before + 3  # the index page looks nobody up


# -- long lists: a page at a time, the audit searched by index --------------------------------


def event_rows(html: str) -> list[str]:
    table = html.split("Derniers événements, du plus récent au plus ancien", 1)[1]
    return table.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]


def test_a_persons_events_come_a_page_at_a_time_among_thousands(olivier):
    """3,000 events of others and 40 naming Nora (in their details, as a grant's person): the
    page shows 25 of hers, newest first, and the next page the rest; nobody else's."""
    others = [
        {
            "actor": f"person:{MARC}",
            "action": "role.grant",
            "target_type": "role_grant",
            "target_id": k,
            "enterprise_bce": BOULANGERIE,
            "details": {"person": f"{k:011d}", "role": "reader"},
            "policy_version": "test",
        }
        for k in range(3000)
    ]
    hers = [
        {
            "actor": f"person:{MARC}",
            "action": "role.change",
            "target_type": "role_grant",
            "target_id": 90000 + k,
            "enterprise_bce": BOULANGERIE,
            "details": {"person": NORA, "role": "reader", "note": f"n{k:02d}"},
            "policy_version": "test",
        }
        for k in range(40)
    ]
    audit.record_many(others[:1500] + hers + others[1500:])
    first = olivier.get(f"/helpdesk/personne?nrn={NORA}")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    rows = event_rows(html)
    assert len(rows) == 25
    assert "Pages des événements" in html and "page 1 sur 2" in text(first)
    # Her events and the lookups of her record, nobody else's.
    assert all(NORA in row or "95.05.05-009.28" in row or "helpdesk" in row for row in rows)
    second = olivier.get(f"/helpdesk/personne?nrn={NORA}&page=2")
    rows = event_rows(second.get_data(as_text=True))
    # The same events as reading the whole log would find: by her, on her, or naming her.
    about = AuditEvent.select().where(
        (AuditEvent.actor == f"person:{NORA}")
        | ((AuditEvent.target_type == "person") & (AuditEvent.target_id == NORA))
        | AuditEvent.details.contains(f'"{NORA}"')
    )
    assert 40 < about.count() <= 50
    assert len(rows) == about.count() - 25
    assert "n00" in "".join(rows)  # the oldest change, on the last page
    assert olivier.get(f"/helpdesk/personne?nrn={NORA}&page=abc").status_code == 200
    assert audit.verify().ok


def test_an_enterprises_members_are_paginated_and_searched(olivier, add_members):
    add_members(120)
    page = olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}")
    shown = text(page)
    assert "123 membres" in shown and "page 1 sur 3" in shown
    html = page.get_data(as_text=True)
    assert html.count('<th scope="row"><a href="/helpdesk/personne?nrn=') == 50
    assert f'href="/helpdesk/entreprise?bce={BOULANGERIE}&amp;page=2#members"' in html
    last = text(olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}&page=3"))
    members = last.split('id="members"', 1)[1].split('id="requests"', 1)[0]
    # By name: Janssens, Martin, Member 00000 to 00119, Peeters; the last page holds 23.
    assert "page 3 sur 3" in last and "Luc Peeters-Démo" in members
    assert "Member 00097" not in members and "Member 00098" in members
    assert "Sophie Martin-Démo" not in members
    found = text(olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}&q=Member+00042"))
    assert "1 membre" in found and "Member 00042" in found and "Member 00043" not in found
    by_nrn = text(olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}&q={EMMA}"))
    assert "1 membre" in by_nrn and "Emma Janssens-Démo" in by_nrn


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("M", "Indiquez au moins 2 caractères du nom"),
        ("x" * 101, "Ce texte est trop long"),
        ("12345", "Indiquez un numéro de registre national valide"),
    ],
)
def test_a_members_search_too_short_or_wrong_is_a_form_message(olivier, q, message):
    page = olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}&q={quote(q)}")
    assert page.status_code == 400
    shown = text(page)
    assert message in shown
    assert "3 membres" in shown  # the list unfiltered below
