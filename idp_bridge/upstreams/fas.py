"""The federal authentication service (FAS) vocabulary, mapped to our identity in one place.

FAS releases plain attribute names (``egovNRN``, ``givenName``, ``surname``, ``prefLanguage``,
``mail``) and names the means of authentication in the assertion's AuthnContextClassRef. This
module turns both into a ``VerifiedIdentity``; the simulator uses the same names to speak like
FAS, and our SP metadata requests them under these names (:func:`attribute_converter`). An IdP
that releases the standard names instead (the ``urn:mace:dir:attribute-def:`` names of
eduPerson, or the ``urn:oid:`` names of X.520 and RFC 4524, SAML V2.0 X.500/LDAP Attribute
Profile) is read all the same: :data:`ALIASES` is the one table of the names accepted for each
attribute. eIDAS levels of assurance follow Commission Implementing Regulation (EU) 2015/1502;
amr values follow RFC 8176 section 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from saml2.attribute_converter import AttributeConverter
from saml2.saml import NAME_FORMAT_BASIC
from stdnum.be import nn
from stdnum.exceptions import ValidationError

from authz.errors import InvalidInput
from authz.identifiers import parse_email
from idp_bridge.shared.identity import LOA_HIGH, VerifiedIdentity

UPSTREAM = "eid"

NRN = "egovNRN"
GIVEN_NAME = "givenName"
SURNAME = "surname"
LANGUAGE = "prefLanguage"
MAIL = "mail"
REQUIRED_ATTRIBUTES = (NRN, GIVEN_NAME, SURNAME)
OPTIONAL_ATTRIBUTES = (LANGUAGE, MAIL)

_MACE = "urn:mace:dir:attribute-def:"
# Each attribute, by FAS's name: the other names it is accepted under. The national register
# number has no standard name: only FAS's.
ALIASES: Mapping[str, tuple[str, ...]] = {
    NRN: (),
    GIVEN_NAME: (_MACE + "givenName", "urn:oid:2.5.4.42"),
    SURNAME: (_MACE + "sn", _MACE + "surname", "urn:oid:2.5.4.4"),
    LANGUAGE: (_MACE + "preferredLanguage", "urn:oid:2.16.840.1.113730.3.1.39"),
    MAIL: (_MACE + "mail", "urn:oid:0.9.2342.19200300.100.1.3"),
}
_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in (name, *aliases)}

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

    ``attributes`` maps each attribute Name (FAS's or one of its :data:`ALIASES`) to its
    values. Raises ``FasAttributeError`` when a required attribute is missing, repeated or
    invalid, or the context is not an eID one.
    """
    attributes = canonical_attributes(attributes)
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


def canonical_attributes(attributes: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The attributes under FAS's names; the values of an attribute sent under several of its
    names are gathered (the same value twice counts once). Unknown names are left out."""
    gathered: dict[str, list[str]] = {}
    for name, values in attributes.items():
        canonical = _CANONICAL.get(name)
        if canonical is None:
            continue
        kept = gathered.setdefault(canonical, [])
        kept.extend(v for v in values if v not in kept)
    return gathered


def attribute_converter(names: Mapping[str, str] | None = None) -> AttributeConverter:
    """pysaml2's attribute map for the FAS attributes, in the basic name format: each is named
    as FAS names it (or as ``names`` renames it). Our SP metadata requests the attributes with
    it, so that an IdP following the metadata sends the names :func:`to_identity` reads; the
    simulator releases them with it."""
    local = REQUIRED_ATTRIBUTES + OPTIONAL_ATTRIBUTES
    to = {name: (names or {}).get(name, name) for name in local}
    converter = AttributeConverter(NAME_FORMAT_BASIC)
    converter.from_dict(
        {"identifier": NAME_FORMAT_BASIC, "fro": {v: k for k, v in to.items()}, "to": to}
    )
    return converter


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
