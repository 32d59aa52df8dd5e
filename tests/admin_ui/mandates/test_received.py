"""admin_ui/mandates/received.py: the firm's GAP accepts or refuses a proposed mandate and
lists the firm's clients; nobody else of the firm does; each step audited and mailed."""

from __future__ import annotations

from admin_ui.models import OutboxMessage
from authz.listings import PAGE_SIZE
from authz.models import AuditEvent, Enterprise, EnterpriseMandate, LegalRepresentation
from authz.services import accept_mandate, propose_mandate
from tests.admin_ui.mandates.firm_people import (
    BOULANGERIE,
    EMMA,
    FIDU,
    JEAN,
    MARC,
    PAUL,
    as_,
    logged_in,
    person,
    token,
    words,
)
from tests.authz.services import make_bce

BOTH_GAPS = {"marc@demo.monespace.invalid", "jean@demo.monespace.invalid"}
INDEX = f"/entreprises/{FIDU}/mandats"


def state() -> tuple[int, int, list[str]]:
    return (
        AuditEvent.select().count(),
        OutboxMessage.select().count(),
        [m.status for m in EnterpriseMandate.select().order_by(EnterpriseMandate.id)],
    )


def mails(kind: str) -> set[str]:
    return {m.recipient for m in OutboxMessage.select().where(OutboxMessage.kind == kind)}


def post(browser, path: str, **fields):
    return browser.post(path, data={"csrf_token": token(browser, "/entreprises/ajouter"), **fields})


def test_the_firms_gap_accepts_audited_and_mailed(app, world):
    mandate = world.propose()
    jean = logged_in(app, JEAN)
    answer = post(jean, f"{INDEX}/{mandate.id}/accepter")
    assert answer.status_code == 303
    assert EnterpriseMandate.get_by_id(mandate.id).status == "accepted"
    last = AuditEvent.select().order_by(AuditEvent.id.desc()).first()
    assert last.action == "mandate.accept"
    assert mails("mandate_accepted") == BOTH_GAPS
    assert "est accepté" in words(jean.get(answer.headers["Location"]))


def test_the_firms_gap_refuses_with_a_reason(app, world):
    mandate = world.propose()
    answer = post(logged_in(app, JEAN), f"{INDEX}/{mandate.id}/refuser", reason="Pas de place")
    assert answer.status_code == 303
    refused = EnterpriseMandate.get_by_id(mandate.id)
    assert (refused.status, refused.reason) == ("refused", "Pas de place")
    last = AuditEvent.select().order_by(AuditEvent.id.desc()).first()
    assert last.action == "mandate.refuse"
    assert mails("mandate_refused") == BOTH_GAPS
    too_long = world.propose()
    before = state()
    long = post(logged_in(app, JEAN), f"{INDEX}/{too_long.id}/refuser", reason="x" * 2001)
    assert long.status_code == 400
    assert state() == before


def test_a_firms_access_manager_cannot_accept_nor_refuse(app, world):
    mandate = world.propose()
    emma = logged_in(app, EMMA)
    before = state()
    for action in ("accepter", "refuser"):
        answer = post(emma, f"{INDEX}/{mandate.id}/{action}")
        assert answer.status_code == 403
        assert "Seul le gestionnaire d'accès principal" in words(answer)
    assert emma.get(f"{INDEX}/clients").status_code == 403
    assert state() == before


def test_a_person_of_another_enterprise_gets_403_and_another_url_404(app, world):
    mandate = world.propose()
    marc = logged_in(app, MARC)
    before = state()
    assert post(marc, f"{INDEX}/{mandate.id}/accepter").status_code == 403
    assert marc.get(f"{INDEX}/clients").status_code == 403
    # Through the client's own URL, the mandate is not one it received.
    own = f"/entreprises/{BOULANGERIE}/mandats/{mandate.id}/accepter"
    assert post(marc, own).status_code == 404
    assert state() == before


def test_a_mandate_from_a_stopped_client_is_not_accepted_and_nothing_written(app, world):
    mandate = world.propose()
    Enterprise.update(status="stopped").where(Enterprise.bce == BOULANGERIE).execute()
    before = state()
    answer = post(logged_in(app, JEAN), f"{INDEX}/{mandate.id}/accepter")
    assert answer.status_code == 409
    assert "a cessé ses activités" in words(answer)
    assert state() == before


def test_the_clients_are_listed_a_page_at_a_time_and_searched(app, world):
    for n in range(PAGE_SIZE + 1):
        client = Enterprise.create(bce=make_bce(7000000 + n), name=f"Client {n:03d} SPRL")
        LegalRepresentation.create(person=person(PAUL), enterprise=client, capacity="gérant")
        given = propose_mandate(as_(PAUL), client.bce, FIDU, ["social"])
        accept_mandate(as_(JEAN), given.id)
    world.propose()  # pending: not a client yet
    jean = logged_in(app, JEAN)
    first = jean.get(f"{INDEX}/clients")
    text = words(first)
    assert first.status_code == 200
    assert f"{PAGE_SIZE + 1} clients trouvés" in text and "page 1 sur 2" in text
    assert "Client 000 SPRL" in text and "Client 050 SPRL" not in text
    assert "Boulangerie" not in text
    last = words(jean.get(f"{INDEX}/clients?page=2"))
    assert "Client 050 SPRL" in last and "Client 000 SPRL" not in last
    found = words(jean.get(f"{INDEX}/clients?q=client+007"))
    assert "1 client trouvé" in found and "Client 007 SPRL" in found
    number = make_bce(7000012)
    by_number = words(jean.get(f"{INDEX}/clients?q=BE{number}"))
    assert "1 client trouvé" in by_number and "Client 012 SPRL" in by_number
    bad = jean.get(f"{INDEX}/clients?q=0123.456.748")
    assert bad.status_code == 400 and "numéro d'entreprise valide" in words(bad)
    assert f"{INDEX}/clients" in jean.get(INDEX).get_data(as_text=True)


def test_the_role_that_acts_for_clients_is_offered_on_the_access_pages(app, world):
    jean = logged_in(app, JEAN)
    invite = jean.get(f"/entreprises/{FIDU}/acces/inviter").get_data(as_text=True)
    assert 'value="client_agent"' in invite
    assert "Collaborateur clients : agir pour l&#39;entreprise et pour ses clients" in invite
