"""authz/api.py: the AuthZEN subject, resource and action searches and their paging."""

from __future__ import annotations

import base64

import pytest

from authz import authzen
from authz.clients import ClientMetadata, add_client
from authz.models import Enterprise, EnterpriseMandate, LegalRepresentation, Person
from authz.services import Caller as ServiceCaller
from authz.services import accept_mandate, end_mandate, grant_role, propose_mandate
from monespace import demo
from tests.authz.conftest import (
    ALICE,
    ATELIER,
    BOULANGERIE,
    EMMA,
    JEAN,
    LUC,
    MARC,
    SOPHIE,
    Caller,
    basic,
    enterprise,
    person,
    question,
)
from tests.authz.services import make_bce


def subjects_who(action: str, bce: str, **page) -> dict:
    body = {"subject": {"type": "person"}, "action": {"name": action}, "resource": enterprise(bce)}
    if page:
        body["page"] = page
    return body


def resources_of(nrn: str, action: str, **page) -> dict:
    body = {"subject": person(nrn), "action": {"name": action}, "resource": {"type": "enterprise"}}
    if page:
        body["page"] = page
    return body


def actions_of(nrn: str, bce: str, **page) -> dict:
    body = {"subject": person(nrn), "resource": enterprise(bce)}
    if page:
        body["page"] = page
    return body


def all_pages(api, kind: str, body: dict) -> list[list]:
    """Every page's results, following next_token to the end."""
    pages = []
    while True:
        response = api.search(kind, body)
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        assert list(answer) == ["page", "results"]  # page first, as recommended
        assert answer["page"]["count"] == len(answer["results"])
        pages.append(answer["results"])
        token = answer["page"]["next_token"]
        if token == "":
            return pages
        assert len(pages) < 20, "paging never ends"
        body = {**body, "page": {**body.get("page", {}), "token": token}}


def ids(page: list[dict]) -> list[str]:
    return [entity["id"] for entity in page]


def gap(nrn: str) -> ServiceCaller:
    return ServiceCaller.for_person(Person.get(Person.nrn == nrn))


def nrns(count: int) -> list[str]:
    """Valid national register numbers of people born on 1 January 1980."""
    numbers = []
    for serial in range(1, count + 1):
        base = f"800101{serial:03d}"
        numbers.append(f"{base}{97 - int(base) % 97:02d}")
    return numbers


# -- subjects -----------------------------------------------------------------------------


def test_subject_search_lists_who_may_act(api):
    pages = all_pages(api, "subject", subjects_who("act_for", "0123.456.749"))
    assert len(pages) == 1
    assert sorted(ids(pages[0])) == sorted([MARC, SOPHIE, LUC])
    assert all(entity["type"] == "person" for entity in pages[0])


def test_subject_search_for_another_action_and_an_unknown_enterprise(api):
    response = api.search("subject", subjects_who("designate_gap", ATELIER))
    assert response.get_json()["results"] == [{"type": "person", "id": JEAN}]
    response = api.search("subject", subjects_who("act_for", "0200000142"))
    assert response.get_json() == {"page": {"next_token": "", "count": 0}, "results": []}


def test_subject_search_ignores_a_subject_id(api):
    body = subjects_who("act_for", BOULANGERIE)
    body["subject"]["id"] = EMMA
    assert sorted(ids(api.search("subject", body).get_json()["results"])) == sorted(
        [MARC, SOPHIE, LUC]
    )


def test_subject_search_pages_follow_the_limit(api):
    pages = all_pages(api, "subject", subjects_who("act_for", BOULANGERIE, limit=2))
    assert [len(page) for page in pages] == [2, 1]
    found = [nrn for page in pages for nrn in ids(page)]
    assert sorted(found) == sorted([MARC, SOPHIE, LUC])


def test_subject_search_default_page_size_and_maximum(api, monkeypatch):
    extra = nrns(authzen.DEFAULT_PAGE_SIZE + 3)
    for nrn in extra:
        grant_role(gap(MARC), BOULANGERIE, nrn, "agent")
    everyone = sorted([MARC, SOPHIE, LUC, *extra])
    pages = all_pages(api, "subject", subjects_who("act_for", BOULANGERIE))
    assert [len(page) for page in pages] == [authzen.DEFAULT_PAGE_SIZE, 6]
    assert sorted(nrn for page in pages for nrn in ids(page)) == everyone
    # A limit is honoured up to the maximum.
    pages = all_pages(api, "subject", subjects_who("act_for", BOULANGERIE, limit=55))
    assert [len(page) for page in pages] == [55, 1]
    monkeypatch.setattr(authzen, "MAX_PAGE_SIZE", 20)
    pages = all_pages(api, "subject", subjects_who("act_for", BOULANGERIE, limit=10_000))
    assert [len(page) for page in pages] == [20, 20, 16]
    assert sorted(nrn for page in pages for nrn in ids(page)) == everyone


# -- resources ----------------------------------------------------------------------------


def test_resource_search_lists_where_a_person_may_act(api):
    assert ids(api.search("resource", resources_of(LUC, "act_for")).get_json()["results"]) == [
        BOULANGERIE
    ]
    assert api.search("resource", resources_of(EMMA, "act_for")).get_json()["results"] == []
    assert api.search("resource", resources_of(ALICE, "act_for")).get_json()["results"] == []


def test_resource_search_pages_across_enterprises(api):
    grant_role(gap(JEAN), ATELIER, LUC, "agent")
    pages = all_pages(api, "resource", resources_of("90.01.01-001.23", "act_for", limit=1))
    assert [len(page) for page in pages] == [1, 1]
    assert sorted(bce for page in pages for bce in ids(page)) == sorted([BOULANGERIE, ATELIER])
    assert all(entity["type"] == "enterprise" for page in pages for entity in page)


def test_resource_search_for_an_unknown_person_is_empty(api):
    response = api.search("resource", resources_of(nrns(1)[0], "read_dossier"))
    assert response.status_code == 200
    assert response.get_json()["results"] == []


# -- actions ------------------------------------------------------------------------------


def test_action_search_lists_what_a_person_may_do(api):
    def names(nrn: str) -> set[str]:
        response = api.search("action", actions_of(nrn, BOULANGERIE))
        assert response.get_json()["page"]["next_token"] == ""
        return {action["name"] for action in response.get_json()["results"]}

    assert names(LUC) == {"act_for", "edit_dossier", "read_dossier"}
    assert names(EMMA) == {"read_dossier"}
    assert names(ALICE) == set()


def test_action_search_pages_follow_the_limit(api):
    pages = all_pages(api, "action", actions_of(LUC, BOULANGERIE, limit=2))
    assert [len(page) for page in pages] == [2, 1]
    found = [action["name"] for page in pages for action in page]
    assert sorted(found) == ["act_for", "edit_dossier", "read_dossier"]


# -- page tokens --------------------------------------------------------------------------


def first_token(api, body: dict, kind: str = "subject") -> str:
    token = api.search(kind, body).get_json()["page"]["next_token"]
    assert token
    return token


def tampered(token: str) -> list[str]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    after, _, mac = raw.partition(".")
    encode = lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")  # noqa: E731
    return [
        encode(f"{int(after) + 1}.{mac}"),  # another cursor under the same signature
        encode(f"{after}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}"),  # a signature changed
        encode(f"{after}"),  # no signature
        encode(f"-1.{mac}"),
        token[:-2],
        token + "A",
        "not base64 at all!",
        "é" * 10,
        "A" * 500,
    ]


def test_tampered_page_token_is_400(api):
    body = subjects_who("act_for", BOULANGERIE, limit=2)
    for bad in tampered(first_token(api, body)):
        response = api.search("subject", {**body, "page": {"limit": 2, "token": bad}})
        assert response.status_code == 400, bad
        assert response.get_json()["error"] == "invalid_page_token"


@pytest.mark.parametrize(
    "changed",
    [
        subjects_who("act_for", BOULANGERIE, limit=3),
        subjects_who("read_dossier", BOULANGERIE, limit=2),
        subjects_who("act_for", ATELIER, limit=2),
    ],
    ids=["limit", "action", "resource"],
)
def test_page_token_of_another_query_is_400(api, changed):
    token = first_token(api, subjects_who("act_for", BOULANGERIE, limit=2))
    response = api.search("subject", {**changed, "page": {**changed["page"], "token": token}})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_page_token"


def test_page_token_of_another_search_kind_is_400(api):
    token = first_token(api, actions_of(LUC, BOULANGERIE, limit=1), kind="action")
    body = subjects_who("act_for", BOULANGERIE, limit=1, token=token)
    assert api.search("subject", body).status_code == 400


def test_page_token_of_another_client_is_400(api_app, api):
    _client, secret = add_client(
        ClientMetadata("Other", "fiscalite", client_id="other-rp"), actor="operator:t"
    )
    token = first_token(api, subjects_who("act_for", BOULANGERIE, limit=2))
    other = Caller(api_app.test_client(), basic("other-rp", secret))
    body = subjects_who("act_for", BOULANGERIE, limit=2, token=token)
    assert other.search("subject", body).status_code == 400
    assert api.search("subject", body).status_code == 200


# -- bad searches -------------------------------------------------------------------------


SEARCHES = {
    "subject": subjects_who("act_for", BOULANGERIE),
    "resource": resources_of(LUC, "act_for"),
    "action": actions_of(LUC, BOULANGERIE),
}


@pytest.mark.parametrize("kind", list(SEARCHES))
@pytest.mark.parametrize(
    "page",
    [
        "2",
        {"limit": 0},
        {"limit": -1},
        {"limit": "5"},
        {"limit": True},
        {"limit": 2.5},
        {"token": 5},
    ],
    ids=["page-string", "zero", "negative", "limit-string", "limit-bool", "limit-float", "token"],
)
def test_bad_page_is_400(api, kind, page):
    response = api.search(kind, {**SEARCHES[kind], "page": page})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


BAD_SEARCHES = [
    ("subject", {**SEARCHES["subject"], "subject": {"type": "user"}}, "invalid_subject"),
    ("subject", {**SEARCHES["subject"], "subject": {}}, "invalid_request"),
    ("subject", {**SEARCHES["subject"], "action": {"name": "fly"}}, "invalid_action"),
    ("subject", {**SEARCHES["subject"], "resource": {"type": "enterprise"}}, "invalid_request"),
    ("subject", {**SEARCHES["subject"], "resource": enterprise("0123")}, "invalid_resource"),
    ("resource", {**SEARCHES["resource"], "resource": {"type": "account"}}, "invalid_resource"),
    ("resource", {**SEARCHES["resource"], "subject": {"type": "person"}}, "invalid_request"),
    ("resource", {**SEARCHES["resource"], "subject": person("123")}, "invalid_subject"),
    ("resource", {"subject": person(LUC), "resource": {"type": "enterprise"}}, "invalid_request"),
    ("action", {**SEARCHES["action"], "resource": {"type": "enterprise"}}, "invalid_request"),
    ("action", {**SEARCHES["action"], "subject": {"type": "user", "id": "a"}}, "invalid_subject"),
    ("action", {**SEARCHES["action"], "context": "fiscalite"}, "invalid_request"),
]


@pytest.mark.parametrize(("kind", "body", "code"), BAD_SEARCHES)
def test_bad_search_is_400(api, kind, body, code):
    response = api.search(kind, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == code


# -- through intermediaries: the demo's accounting firm -----------------------------------------

FIRM = demo.FIRM_BCE
GARAGE, FLEURISTE, LIBRAIRIE = (bce for bce, _, _ in demo.FIRM_CLIENTS)
INES, VICTOR = (next(p.nrn for p in demo.PERSONS if p.key == k) for k in ("ines", "victor"))
THROUGH_FIRM = {
    "through": {"type": "enterprise", "id": FIRM, "properties": {"name": "Fiduciaire Démo SRL"}}
}


def firm_mandate(client: str) -> EnterpriseMandate:
    return EnterpriseMandate.get(
        (EnterpriseMandate.mandator == Enterprise.get(Enterprise.bce == client).id)
        & (EnterpriseMandate.status == "accepted")
    )


@pytest.fixture
def social(api_app) -> Caller:
    """A caller whose service domain is ``social``."""
    _client, secret = add_client(
        ClientMetadata("Social", "social", client_id="social-rp"), actor="operator:t"
    )
    return Caller(api_app.test_client(), basic("social-rp", secret))


def test_evaluations_through_the_firm_allowed_and_refused(api, social):
    assert api.decide(question(INES, "act_for", GARAGE))
    assert api.decide(question(INES, "submit_dossier", LIBRAIRIE))
    assert not api.decide(question(INES, "view_members", GARAGE))  # never management
    assert social.decide(question(INES, "act_for", LIBRAIRIE))
    assert not social.decide(question(INES, "act_for", GARAGE))  # wrong domain
    grant_role(gap(VICTOR), FIRM, LUC, "agent")
    assert not api.decide(question(LUC, "act_for", GARAGE))  # a member without the permission
    end_mandate(gap(VICTOR), firm_mandate(GARAGE).id, "no longer a client")
    assert not api.decide(question(INES, "act_for", GARAGE))  # ended
    assert api.decide(question(INES, "act_for", FLEURISTE))  # the others stay


def test_who_may_act_for_a_client_names_the_firm(api, social):
    grant_role(gap(VICTOR), FIRM, LUC, "agent")  # in the firm, without act_for_clients
    (page,) = all_pages(api, "subject", subjects_who("act_for", GARAGE))
    assert page == [
        {"type": "person", "id": VICTOR, "properties": THROUGH_FIRM},
        {"type": "person", "id": INES, "properties": THROUGH_FIRM},
    ] or page == [
        {"type": "person", "id": INES, "properties": THROUGH_FIRM},
        {"type": "person", "id": VICTOR, "properties": THROUGH_FIRM},
    ]
    assert all_pages(social, "subject", subjects_who("act_for", GARAGE)) == [[]]  # wrong domain
    end_mandate(gap(VICTOR), firm_mandate(GARAGE).id, "no longer a client")
    assert all_pages(api, "subject", subjects_who("act_for", GARAGE)) == [[]]
    # The firm's own people on the firm: directly, no "through".
    (own,) = all_pages(api, "subject", subjects_who("act_for", FIRM))
    assert {entity["id"] for entity in own} == {VICTOR, INES, LUC}
    assert all("properties" not in entity for entity in own)


def test_which_enterprises_may_ines_act_for(api, social):
    (page,) = all_pages(api, "resource", resources_of(INES, "act_for"))
    by_id = {entity["id"]: entity.get("properties") for entity in page}
    assert by_id == {
        FIRM: None,
        GARAGE: THROUGH_FIRM,
        FLEURISTE: THROUGH_FIRM,
        LIBRAIRIE: THROUGH_FIRM,
    }
    in_social = all_pages(social, "resource", resources_of(INES, "act_for"))[0]
    assert sorted(ids(in_social)) == [FIRM, LIBRAIRIE]  # the garage's mandate is fiscalite only
    end_mandate(gap(VICTOR), firm_mandate(FLEURISTE).id, "no longer a client")
    (page,) = all_pages(api, "resource", resources_of(INES, "act_for"))
    assert sorted(ids(page)) == sorted([FIRM, GARAGE, LIBRAIRIE])
    assert all_pages(api, "resource", resources_of(LUC, "act_for")) == [
        [{"type": "enterprise", "id": BOULANGERIE}]
    ]


def test_a_firm_of_many_clients_is_paged(api):
    representative = Person.create(nrn=nrns(1)[0], given_name="Rep")
    numbers = []
    for i in range(12):
        client = Enterprise.create(bce=make_bce(6_100_000 + i), name=f"Client {i:02d}")
        LegalRepresentation.create(person=representative, enterprise=client)
        mandate = propose_mandate(gap(representative.nrn), client.bce, FIRM, ["fiscalite"])
        accept_mandate(gap(VICTOR), mandate.id)
        numbers.append(client.bce)
    pages = all_pages(api, "resource", resources_of(INES, "act_for", limit=5))
    assert [len(p) for p in pages] == [5, 5, 5, 1]
    assert sorted(ids([e for p in pages for e in p])) == sorted(
        [FIRM, GARAGE, FLEURISTE, LIBRAIRIE, *numbers]
    )
    subjects = all_pages(api, "subject", subjects_who("act_for", numbers[0], limit=1))
    assert sorted(ids([e for p in subjects for e in p])) == sorted([VICTOR, INES])
