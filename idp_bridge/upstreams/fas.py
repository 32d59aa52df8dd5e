"""The federal authentication service (FAS) vocabulary, mapped to our identity in one place.

FAS releases plain attribute names (``egovNRN``, ``givenName``, ``surname``, ``prefLanguage``,
``mail``) and names the means of authentication in the assertion's AuthnContextClassRef. This
module turns both into a ``VerifiedIdentity``; the simulator uses the same names to speak like
FAS. eIDAS levels of assurance follow Commission Implementing Regulation (EU) 2015/1502; amr
values follow RFC 8176 section 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stdnum.be import nn
from stdnum.exceptions import ValidationError

from authz.errors import InvalidInput
from authz.identifiers import parse_email
from idp_bridge.identity import LOA_HIGH, VerifiedIdentity

UPSTREAM = "eid"

NRN = "egovNRN"
GIVEN_NAME = "givenName"
SURNAME = "surname"
LANGUAGE = "prefLanguage"
MAIL = "mail"
REQUIRED_ATTRIBUTES = (NRN, GIVEN_NAME, SURNAME)
OPTIONAL_ATTRIBUTES = (LANGUAGE, MAIL)

CONTEXT_CITIZEN_EID = "urn:be:fedict:iam:fas:citizen:eid"
CONTEXT_ENTERPRISE_EID = "urn:be:fedict:iam:fas:enterprise:eid"
CONTEXT_LEVEL_500 = "urn:be:fedict:iam:fas:Level500"

LANGUAGES = ("fr", "nl", "de", "en")
MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FasAttributeError(ValueError):
    """An attribute FAS sent is missing or unusable; the message names it, never its value."""


@dataclass(frozen=True)
class AuthnLevel:
    acr: str
    amr: tuple[str, ...]


# The eID card: a hardware-held key ("hwk", "sc") unlocked by a PIN ("pin"). Only the eID
# contexts are accepted here: FAS can also sign people in by other means (itsme, security
# codes), but those are not "eID" and itsme has its own upstream.
_EID = AuthnLevel(LOA_HIGH, ("hwk", "pin", "sc"))
CONTEXTS: Mapping[str, AuthnLevel] = {
    CONTEXT_CITIZEN_EID: _EID,
    CONTEXT_ENTERPRISE_EID: _EID,
    CONTEXT_LEVEL_500: _EID,
}


def to_identity(
    attributes: Mapping[str, Sequence[str]],
    context_class_ref: str | None,
    *,
    session_ref: str,
    extra: Mapping[str, str] | None = None,
) -> VerifiedIdentity:
    """Map FAS attributes and authentication context to the internal identity.

    ``attributes`` maps each attribute Name to its values. Raises ``FasAttributeError`` when a
    required attribute is missing, repeated or invalid, or the context is not an eID one.
    """
    level = CONTEXTS.get((context_class_ref or "").strip())
    if level is None:
        raise FasAttributeError(f"authentication context not accepted: {context_class_ref!r}")
    nrn_value = _single(attributes, NRN, required=True)
    try:
        nrn = nn.validate(nrn_value)
    except ValidationError as exc:
        raise FasAttributeError(f"{NRN} is not a valid national register number") from exc
    return VerifiedIdentity(
        nrn=nrn,
        given_name=_name(attributes, GIVEN_NAME),
        family_name=_name(attributes, SURNAME),
        acr=level.acr,
        amr=level.amr,
        upstream=UPSTREAM,
        session_ref=session_ref,
        email=_email(_single(attributes, MAIL)),
        language=_language(_single(attributes, LANGUAGE)),
        extra=dict(extra or {}),
    )


def to_attributes(
    nrn: str, given_name: str, family_name: str, language: str | None, email: str | None
) -> dict[str, list[str]]:
    """The attribute statement FAS would send for this person (used by the simulator)."""
    attributes = {NRN: [nrn], GIVEN_NAME: [given_name], SURNAME: [family_name]}
    if language:
        attributes[LANGUAGE] = [language]
    if email:
        attributes[MAIL] = [email]
    return attributes


def _single(attributes: Mapping[str, Sequence[str]], name: str, required: bool = False) -> str:
    values = [v.strip() for v in attributes.get(name, ()) if v is not None and v.strip()]
    if len(values) > 1:
        raise FasAttributeError(f"{name} has {len(values)} values")
    if not values:
        if required:
            raise FasAttributeError(f"{name} is missing")
        return ""
    return values[0]


def _name(attributes: Mapping[str, Sequence[str]], name: str) -> str:
    value = _single(attributes, name, required=True)
    if len(value) > MAX_NAME_LENGTH or _CONTROL.search(value):
        raise FasAttributeError(f"{name} is not a usable name")
    return value


def _language(value: str) -> str | None:
    value = value.lower()[:2]
    return value if value in LANGUAGES else None


def _email(value: str) -> str | None:
    """The address, if the invitations and the outbox would take it too (one plain address);
    else none: an unusable address must not later block the actions that email the person."""
    try:
        return parse_email(value) if value else None
    except InvalidInput:
        return None
