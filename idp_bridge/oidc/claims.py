"""Representation claims: the espace a person logged in for, in ID tokens and userinfo.

The shapes are fixed by DESIGN.md §6 ("Representation claims") so that relying parties can
rely on them::

    "espace": "citoyen"                       # acting for oneself: nothing else
    "espace": "professionnel",
    "represents": {"sub": "0403170701",
                   "sub_id_type": "urn:be:fgov:kbo-bce:organization:cbe-number",
                   "iss": "<this issuer>", "name": "...",
                   "roles": ["owner", ...], "permissions": ["act_for", ...],
                   "basis": "grant", "valid_until": "2027-03-31"}

Through an intermediary (a mandate the enterprise gave the person's firm), ``roles`` is empty,
``basis`` is ``"mandate"``, ``valid_until`` the mandate's last day, and an ``intermediary``
object names the firm (docs/intermediaries.md)::

    "represents": {"sub": "0123456749", ..., "roles": [], "permissions": ["act_for", ...],
                   "basis": "mandate",
                   "intermediary": {"sub": "0403170701", "sub_id_type": "...", "name": "...",
                                    "roles": ["client_agent", ...],
                                    "mandate": {"domains": ["fiscalite"],
                                                "valid_from": "2026-01-01"}}}

They follow the ``represents`` claim of the Dutch government profile of OpenID Connect
(OpenID NLGov, Logius): the person who logged in stays in the token's ``sub``, and the party
they act for goes in ``represents``, with its own ``sub`` and ``sub_id_type``. The direction is
deliberate: a relying party that knows nothing of representation reads the token as "this
person logged in" and is never misled into thinking the person *is* the enterprise.

Who may act for which enterprise is the policy's answer (permission ``act_for`` for the
relying party's service domain, ``policies/enterprise.polar``), asked of the policy engine at
call time; nothing here decides. The espace chooser lists the enterprises of
``authz.espaces.espace_choices``; when its answer comes back, :func:`represents_claim` (or
:func:`may_represent`) asks again, since the form proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from authz.engine import get_engine
from authz.errors import InvalidInput
from authz.espaces import ActingFor, Intermediary, acting_for
from authz.identifiers import normalize_bce
from authz.permissions import ACT_FOR
from authz.tables import today

ESPACE_CITOYEN = "citoyen"
ESPACE_PROFESSIONNEL = "professionnel"
CBE_SUB_ID_TYPE = "urn:be:fgov:kbo-bce:organization:cbe-number"


def citizen_claims() -> dict:
    return {"espace": ESPACE_CITOYEN}


def professional_claims(represents: dict) -> dict:
    """The claims of a person acting for an enterprise (``represents`` from
    :func:`represents_claim`)."""
    if not represents:
        # represents_claim() said no: a token must not claim the espace without the enterprise.
        raise ValueError("no representation to claim: the person acts as a citizen")
    return {"espace": ESPACE_PROFESSIONNEL, "represents": represents}


def may_represent(nrn: str, bce: object, service_domain: str) -> bool:
    """May this person act for ``bce`` (any spelling) in this service domain, now?"""
    number = _bce_or_none(bce)
    return number is not None and get_engine().decide(
        nrn, ACT_FOR, number, service_domain, on=today()
    )


def represents_claim(
    nrn: str,
    bce: object,
    service_domain: str,
    issuer: str,
    ask: Callable[[str, str, str], ActingFor | None] = acting_for,
) -> dict | None:
    """The ``represents`` claim, or None when the person may not act for the enterprise.

    Roles and permissions are the engine's answer at this moment (``ask``: by default
    :func:`authz.espaces.acting_for`; the token endpoints pass the decision point's, cached
    under the enterprise's epoch), so a token issued after a revocation never carries the
    revoked rights.
    """
    number = _bce_or_none(bce)
    acting = ask(nrn, number, service_domain) if number else None
    if acting is None:
        return None
    claim = {
        "sub": acting.bce,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "iss": issuer,
        "name": acting.name,
        "roles": list(acting.roles),
        "permissions": list(acting.permissions),
        "basis": acting.basis,
    }
    if acting.valid_until is not None:
        claim["valid_until"] = acting.valid_until.isoformat()
    if acting.intermediary is not None:
        claim["intermediary"] = intermediary_claim(acting.intermediary)
    return claim


def intermediary_claim(firm: Intermediary) -> dict:
    """The ``intermediary`` member of ``represents`` (basis ``mandate``): the firm the person
    acts through, with the same identifier fields as the client, the person's roles in the
    firm, and the client's mandate to it. One level: never an intermediary inside."""
    mandate = {"domains": list(firm.domains), "valid_from": firm.valid_from.isoformat()}
    if firm.valid_until is not None:
        mandate["valid_until"] = firm.valid_until.isoformat()
    return {
        "sub": firm.bce,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "name": firm.name,
        "roles": list(firm.roles),
        "mandate": mandate,
    }


def _bce_or_none(value: object) -> str | None:
    try:
        return normalize_bce(value)
    except InvalidInput:
        return None
