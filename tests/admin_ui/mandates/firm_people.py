"""The people and enterprises of the mandate pages' tests, and how the tests act as them.

The firm, Fidu Comptable SRL, has Paul (of the demo) as legal representative, Jean as GAP
(designated by Paul) and Emma as access manager (granted by Jean); Alice is its client
agent only where a test grants it. The Boulangerie (the client) keeps its demo people: Marc
its GAP, Claire its legal representative; Nora is made its access manager; Luc is its agent.
Marc and Jean have an email address, so that each step of a mandate is mailed to both GAPs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from authz.models import Enterprise, Person
from authz.services import Caller, propose_mandate
from tests.idp_bridge.web_client import Browser, page_text

BOULANGERIE = "0123456749"
FIDU = "0445566728"  # a valid BCE number no demo enterprise holds
CLAIRE, MARC, JEAN, PAUL = "60040400794", "85020200387", "75070700353", "80060600186"
EMMA, ALICE, NORA, LUC = "90010100222", "99090900920", "95050500928", "90010100123"
KEYS = {
    MARC: "marc",
    JEAN: "jean",
    PAUL: "paul",
    EMMA: "emma",
    ALICE: "alice",
    NORA: "nora",
    LUC: "luc",
    CLAIRE: "claire",
}


def person(nrn: str) -> Person:
    return Person.get(Person.nrn == nrn)


def as_(nrn: str) -> Caller:
    return Caller.for_person(person(nrn))


@dataclass
class World:
    client: Enterprise
    firm: Enterprise

    def propose(self, domains=("fiscalite",), **terms):
        """Marc, the client's GAP, proposes a mandate to the firm."""
        return propose_mandate(as_(MARC), BOULANGERIE, FIDU, list(domains), **terms)


def logged_in(app, nrn: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{KEYS[nrn]}")
    return browser


def words(response) -> str:
    """The page as a person reads it: without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def token(browser: Browser, path: str) -> str:
    """The form token of the first form on ``path``."""
    page = browser.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
