"""Demo data: a small story a newcomer can follow, seeded once in demo mode.

Boulangerie Démo SA is a company. Its legal representative, Claire, designated Marc as GAP;
Marc gave Sophie the owner role, Luc the agent role for the "fiscalite" domain only, and Emma
the reader role. Nora asked to become an agent and waits for Marc's answer. Jean is a sole
trader who designated himself GAP of his own business. Les Amis du Parc Démo ASBL has a legal
representative, Paul, but no GAP yet, so nobody can ask it for a role. Alice is a citizen who
acts only for herself. Fiduciaire Démo SRL is an accounting firm: its legal representative,
Victor, designated himself its GAP and accepted the mandates of three small clients (a
garage, a florist and a bookshop: ``fiscalite``, the bookshop also ``social``); Inès, his
client agent, acts for them in those domains. Olivier is the operator (``operators`` in the
configuration). The registry facts (enterprises, legal representatives) come from the CSV
files in ``demo_data/`` through the real BCE import; everything else goes through the mandate
services, so the audit log tells the same story.

Every identifier is fictional: valid checksums, invented people and enterprises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from authz import bce_import, db, queries
from authz.catalogue import CatalogueEntry
from authz.clients import ClientMetadata, add_client, set_catalogue
from authz.engine import get_engine
from authz.persons import PersonData, record_person
from authz.services import (
    Caller,
    accept_mandate,
    designate_gap,
    grant_role,
    propose_mandate,
    request_role,
)
from authz.tables import today
from monespace.config import DEMO_BASE_URL, DEMO_OPERATOR_NRN

DATA_DIR = Path(__file__).resolve().parent / "demo_data"
MARKER_BCE = "0123456749"  # Boulangerie Démo SA: present once the demo is seeded

DEMO_CLIENT_ID = "demo-rp"
# Known on purpose so the README can show calls; demo mode only, production never seeds.
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105
DEMO_ACTOR = "operator:demo-seed"  # the audit log's actor of the demo's own writes

# The accounting firm and its clients: (BCE, the NRN of the client's legal representative, the
# mandate's domains). The florist's mandate has a last day, the others none.
FIRM_BCE = "0444555552"  # Fiduciaire Démo SRL
FIRM_CLIENTS = (
    ("0444666608", "71031816333", ["fiscalite"]),  # Garage Démo SRL
    ("0444777761", "69052717118", ["fiscalite"]),  # Fleuriste Démo SC
    ("0444888817", "83010118580", ["fiscalite", "social"]),  # Librairie Démo SRL
)


def demo_catalogue_entry(start_url: str = DEMO_BASE_URL + "/demo-rp") -> CatalogueEntry:
    """How the demo relying party appears in the portal's catalogue."""
    return CatalogueEntry(
        {
            "fr": "Guichet fiscal (démonstration)",
            "nl": "Belastingloket (demo)",
            "de": "Steuerschalter (Demo)",
            "en": "Tax office (demo)",
        },
        {
            "fr": "Consultez et déposez vos déclarations, pour vous-même ou pour votre entreprise.",
            "nl": "Raadpleeg en dien uw aangiften in, voor uzelf of voor uw onderneming.",
            "de": "Erklärungen einsehen und einreichen, für Sie selbst oder Ihr Unternehmen.",
            "en": "View and file your tax returns, for yourself or for your enterprise.",
        },
        start_url,
        ("citoyen", "professionnel"),
        allow_http=True,
    )


@dataclass(frozen=True)
class DemoPerson:
    key: str
    nrn: str
    given_name: str
    family_name: str
    story: str


PERSONS = (
    DemoPerson(
        "claire",
        "60040400794",
        "Claire",
        "Lambert-Démo",
        "legal representative of Boulangerie Démo SA",
    ),
    DemoPerson("marc", "85020200387", "Marc", "Dupont-Démo", "GAP of Boulangerie Démo SA"),
    DemoPerson("sophie", "70030300538", "Sophie", "Martin-Démo", "owner of Boulangerie Démo SA"),
    DemoPerson(
        "luc", "90010100123", "Luc", "Peeters-Démo", "agent of Boulangerie Démo SA, fiscalite only"
    ),
    DemoPerson("emma", "90010100222", "Emma", "Janssens-Démo", "reader of Boulangerie Démo SA"),
    DemoPerson(
        "nora",
        "95050500928",
        "Nora",
        "Willems-Démo",
        "has asked to become agent of Boulangerie Démo SA",
    ),
    DemoPerson(
        "jean",
        "75070700353",
        "Jean",
        "Dubois-Démo",
        "sole trader, his own legal representative and GAP",
    ),
    DemoPerson(
        "paul",
        "80060600186",
        "Paul",
        "Leroy-Démo",
        "legal representative of Les Amis du Parc Démo ASBL (no GAP yet)",
    ),
    DemoPerson(
        "alice", "99090900920", "Alice", "Citoyenne-Démo", "a citizen acting only for herself"
    ),
    DemoPerson(
        "victor",
        "78021414619",
        "Victor",
        "Fiduciaire-Démo",
        "legal representative and GAP of Fiduciaire Démo SRL, an accounting firm",
    ),
    DemoPerson(
        "ines",
        "86091215791",
        "Inès",
        "Comptable-Démo",
        "client agent of Fiduciaire Démo SRL: acts for its three clients",
    ),
    DemoPerson(
        "olivier",
        DEMO_OPERATOR_NRN,
        "Olivier",
        "Operateur-Démo",
        "operator of this Mon Espace: clients, BCE import, policy",
    ),
)


def is_seeded() -> bool:
    return queries.enterprise(MARKER_BCE) is not None


def seed(report=lambda _message: None) -> bool:
    """Load the demo data unless already there; return whether it was loaded."""
    if is_seeded():
        return False
    actor = DEMO_ACTOR
    for name in ("enterprises.csv", "representatives.csv"):
        result = bce_import.import_file(DATA_DIR / name, actor=actor)
        if result.errors:
            raise RuntimeError(f"demo data {name} has bad rows: {result.errors}")
    with db.transaction():
        people = {}
        for p in PERSONS:
            said = PersonData(p.nrn, p.given_name, p.family_name, f"{p.key}@demo.monespace.invalid")
            people[p.key], _ = record_person(said, actor=actor, policy_version=get_engine().version)
    boulangerie, atelier = "0123456749", "0888888895"
    designate_gap(Caller.for_person(people["claire"]), boulangerie, people["marc"].nrn)
    marc = Caller.for_person(people["marc"])
    grant_role(marc, boulangerie, people["sophie"].nrn, "owner")
    grant_role(marc, boulangerie, people["luc"].nrn, "agent", scope=["fiscalite"])
    grant_role(marc, boulangerie, people["emma"].nrn, "reader")
    request_role(
        Caller.for_person(people["nora"]),
        boulangerie,
        "agent",
        "Bonjour Marc, je reprends la comptabilité : pouvez-vous me donner accès ?",
    )
    designate_gap(Caller.for_person(people["jean"]), atelier, people["jean"].nrn)
    _seed_firm(people)
    add_client(
        ClientMetadata(
            "Demo relying party",
            "fiscalite",
            redirect_uris=["http://127.0.0.1:8000/demo-rp/callback"],
            scopes=["openid", "profile", "enterprise"],
            client_id=DEMO_CLIENT_ID,
            allow_http=True,
        ),
        actor=actor,
        secret=DEMO_CLIENT_SECRET,
    )
    set_catalogue(DEMO_CLIENT_ID, demo_catalogue_entry(), actor=actor)
    report("demo data loaded")
    return True


def _seed_firm(people: dict) -> None:
    """The accounting firm: Victor its GAP, Inès its client agent, three clients' mandates
    proposed by their legal representatives and accepted by Victor."""
    victor = Caller.for_person(people["victor"])
    designate_gap(victor, FIRM_BCE, people["victor"].nrn)
    grant_role(victor, FIRM_BCE, people["ines"].nrn, "client_agent")
    for bce, representative, domains in FIRM_CLIENTS:
        last_day = date(today().year + 1, 12, 31) if bce == "0444777761" else None
        mandate = propose_mandate(
            Caller.for_person(queries.names_by_nrn([representative])[representative]),
            bce,
            FIRM_BCE,
            domains,
            valid_until=last_day,
        )
        accept_mandate(victor, mandate.id)
