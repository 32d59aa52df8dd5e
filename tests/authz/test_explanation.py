"""authz/explanation.py as the decision API's ``explain`` gives it: a relying party sees only
what its service domain may know (``Explanation.seen_from``).

Luc's agent grant on the Boulangerie is scoped to ``fiscalite`` (the demo client's domain);
Sophie's owner grant is unscoped. A client of ``environnement`` asking about Luc must learn
nothing of his ``fiscalite`` grant: not its id, its role or its scope, current or ended.
"""

from __future__ import annotations

import json

from authz.clients import ClientMetadata, add_client
from authz.models import Person, RoleGrant
from authz.services import Caller as ServiceCaller
from authz.services import revoke_role
from tests.authz.conftest import BOULANGERIE, LUC, MARC, SOPHIE, Caller, basic, question

EVALUATION = "/access/v1/evaluation"


def environnement_client(api_app) -> Caller:
    _client, secret = add_client(
        ClientMetadata("Environment RP", "environnement", client_id="env-rp", allow_http=True),
        actor="operator:test",
    )
    return Caller(api_app.test_client(), basic("env-rp", secret))


def explained(caller: Caller, nrn: str, action: str = "act_for") -> dict:
    body = question(nrn, action, BOULANGERIE, context={"explain": True})
    response = caller.post(EVALUATION, body)
    assert response.status_code == 200
    return response.get_json()["context"]["explanation"]


def luc_grant() -> RoleGrant:
    luc = Person.get(Person.nrn == LUC)
    return RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())


def test_a_client_sees_the_grant_of_its_own_domain(api):
    grant = luc_grant()
    explanation = explained(api, LUC)
    assert explanation["paths"][0]["fact"] == f"grant#{grant.id}"
    assert any(f"grant#{grant.id}" in fact and "fiscalite" in fact for fact in explanation["facts"])


def test_a_client_of_another_domain_does_not_see_it(api_app):
    grant = luc_grant()
    explanation = explained(environnement_client(api_app), LUC)
    assert explanation["paths"] == []
    text = json.dumps(explanation)
    assert f"grant#{grant.id}" not in text
    assert "fiscalite" not in text and "agent" not in text
    assert explanation["reasons"] == [
        "the person holds no role, GAP designation or legal representation in force on this "
        "enterprise for this service domain"
    ]


def test_unscoped_facts_are_seen_from_every_domain(api_app):
    sophie = Person.get(Person.nrn == SOPHIE)
    grant = RoleGrant.get((RoleGrant.person == sophie) & RoleGrant.ended_at.is_null())
    explanation = explained(environnement_client(api_app), SOPHIE)
    assert explanation["paths"][0]["fact"] == f"grant#{grant.id}"
    assert explanation["facts"][0].startswith(f"grant#{grant.id}")


def test_an_ended_grant_of_another_domain_is_not_shown_either(api_app, api):
    grant = luc_grant()
    marc = ServiceCaller.for_person(Person.get(Person.nrn == MARC))
    revoke_role(marc, grant.id, "fin de mission")
    # Its own domain sees that it ended...
    assert any(f"grant#{grant.id}" in fact for fact in explained(api, LUC)["facts"])
    # ...another domain does not.
    assert f"grant#{grant.id}" not in json.dumps(explained(environnement_client(api_app), LUC))
