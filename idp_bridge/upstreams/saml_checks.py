"""Checks of a SAML 2.0 Response that pysaml2 leaves to its caller.

Before pysaml2 sees the message (``read_post``): the HTTP-POST binding's base64 (SAML Bindings
3.5.4), XML without DTD or entities (defusedxml), and a shape that leaves no room for signature
wrapping: one assertion, directly under the Response, every ID unique, each signature a direct
child of the element it signs and referring to that element's ID (SAML Core 5.4.2), strong
algorithms only. pysaml2 then checks the signatures with the IdP's certificate from metadata.

After pysaml2 (``check_assertion``): what it does not enforce (see DESIGN.md, known traps): the
issuer, an AudienceRestriction that names us (its ``for_me()`` accepts none), the bearer
confirmation's Recipient and InResponseTo, and both validity windows being present.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import traceback
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException
from saml2 import saml
from saml2.time_util import str_to_time

MAX_POST_BYTES = 200_000

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
_ID_ATTRIBUTES = ("ID", "Id", "id")


class MessageError(ValueError):
    """The message is not one we accept; the text says why (never quoting personal data)."""


@dataclass(frozen=True)
class ResponseFacts:
    """What the raw XML says, read before any signature check: used to route, never trusted."""

    xml: str
    response_id: str
    in_response_to: str
    destination: str
    issuer: str | None
    status: str
    sub_status: str | None
    assertion_id: str | None


def read_post(value: str | None) -> ResponseFacts:
    """Decode an HTTP-POST ``SAMLResponse`` and check its shape; raise ``MessageError``."""
    if not value:
        raise MessageError("no SAMLResponse")
    compact = "".join(value.split())
    if len(compact) > MAX_POST_BYTES:
        raise MessageError("SAMLResponse too large")
    try:
        raw = base64.b64decode(compact, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise MessageError("SAMLResponse is not base64-encoded UTF-8") from exc
    try:
        root = safe_et.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MessageError(f"forbidden XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise MessageError("SAMLResponse is not well-formed XML") from exc
    return _facts(root, text)


def _facts(root: Element, text: str) -> ResponseFacts:
    if root.tag != f"{{{NS_SAMLP}}}Response":
        raise MessageError(f"not a SAML Response: {root.tag}")
    _unique_ids(root)
    response_id = _required_attr(root, "ID", "Response")
    status_code = root.find(f"{{{NS_SAMLP}}}Status/{{{NS_SAMLP}}}StatusCode")
    if status_code is None or not status_code.get("Value"):
        raise MessageError("Response has no StatusCode")
    second = status_code.find(f"{{{NS_SAMLP}}}StatusCode")
    status = status_code.get("Value")
    issuer = root.find(f"{{{NS_SAML}}}Issuer")

    if list(root.iter(f"{{{NS_SAML}}}EncryptedAssertion")):
        raise MessageError("encrypted assertions are not supported")
    assertions = list(root.iter(f"{{{NS_SAML}}}Assertion"))
    direct = root.findall(f"{{{NS_SAML}}}Assertion")
    signatures = list(root.iter(f"{{{NS_DS}}}Signature"))
    allowed_signatures = 0
    if root.find(f"{{{NS_DS}}}Signature") is not None:
        _enveloped_signature(root, response_id, "Response")
        allowed_signatures += 1

    assertion_id = None
    if status == STATUS_SUCCESS:
        if len(assertions) != 1 or len(direct) != 1:
            raise MessageError(f"{len(assertions)} assertions where exactly one is allowed")
        assertion = direct[0]
        assertion_id = _required_attr(assertion, "ID", "Assertion")
        if assertion.find(f"{{{NS_DS}}}Signature") is None:
            raise MessageError("assertion is not signed")
        _enveloped_signature(assertion, assertion_id, "Assertion")
        allowed_signatures += 1
    elif assertions:
        raise MessageError("an unsuccessful Response carries an assertion")
    if len(signatures) != allowed_signatures:
        raise MessageError("a signature stands where none is expected")

    return ResponseFacts(
        xml=text,
        response_id=response_id,
        in_response_to=_required_attr(root, "InResponseTo", "Response"),
        destination=_required_attr(root, "Destination", "Response"),
        issuer=(issuer.text or "").strip() if issuer is not None else None,
        status=status,
        sub_status=second.get("Value") if second is not None else None,
        assertion_id=assertion_id,
    )


def _unique_ids(root: Element) -> None:
    seen: set[str] = set()
    for element in root.iter():
        for name in _ID_ATTRIBUTES:
            value = element.get(name)
            if value is None:
                continue
            if value in seen:
                raise MessageError("an ID appears twice")
            seen.add(value)


def _enveloped_signature(element: Element, element_id: str, what: str) -> None:
    """One signature, a direct child of ``element``, with one reference to ``element`` itself."""
    children = element.findall(f"{{{NS_DS}}}Signature")
    if len(children) != 1:
        raise MessageError(f"{what} has {len(children)} signatures")
    signed_info = children[0].find(f"{{{NS_DS}}}SignedInfo")
    if signed_info is None:
        raise MessageError(f"{what} signature has no SignedInfo")
    references = signed_info.findall(f"{{{NS_DS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != f"#{element_id}":
        raise MessageError(f"{what} signature does not refer to the {what}")
    method = signed_info.find(f"{{{NS_DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise MessageError(f"{what} signature algorithm not accepted")
    digest = references[0].find(f"{{{NS_DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
        raise MessageError(f"{what} digest algorithm not accepted")


def _required_attr(element: Element, name: str, what: str) -> str:
    value = element.get(name)
    if not value:
        raise MessageError(f"{what} has no {name}")
    return value


@dataclass(frozen=True)
class Expectations:
    idp_entity_id: str
    sp_entity_id: str
    acs_url: str
    request_id: str
    assertion_id: str
    clock_skew: int


def check_assertion(assertion: saml.Assertion, expect: Expectations, now: float) -> float:
    """Check what pysaml2 does not; return the time until which the assertion stays valid."""
    if assertion.id != expect.assertion_id:
        raise MessageError("the assertion read is not the one whose shape was checked")
    issuer = (assertion.issuer.text or "").strip() if assertion.issuer is not None else ""
    if issuer != expect.idp_entity_id:
        raise MessageError("assertion issuer is not the configured IdP")

    conditions = assertion.conditions
    if conditions is None or not conditions.not_on_or_after:
        raise MessageError("assertion has no Conditions NotOnOrAfter")
    not_on_or_after = _window(conditions.not_before, conditions.not_on_or_after, now, expect)
    restrictions = conditions.audience_restriction
    if not restrictions:
        raise MessageError("assertion has no AudienceRestriction")
    for restriction in restrictions:
        audiences = {(a.text or "").strip() for a in restriction.audience}
        if expect.sp_entity_id not in audiences:
            raise MessageError("assertion audience is not this service provider")

    subject = assertion.subject
    confirmed_until = None
    for confirmation in subject.subject_confirmation if subject is not None else []:
        data = confirmation.subject_confirmation_data
        if confirmation.method != BEARER or data is None:
            continue
        if data.recipient != expect.acs_url:
            raise MessageError("bearer confirmation Recipient is not our ACS")
        if data.in_response_to != expect.request_id:
            raise MessageError("bearer confirmation InResponseTo is not our request")
        if not data.not_on_or_after:
            raise MessageError("bearer confirmation has no NotOnOrAfter")
        confirmed_until = _window(data.not_before, data.not_on_or_after, now, expect)
    if confirmed_until is None:
        raise MessageError("assertion has no bearer subject confirmation")
    if len(assertion.authn_statement) != 1:
        raise MessageError("assertion needs exactly one AuthnStatement")
    return max(not_on_or_after, confirmed_until) + expect.clock_skew


def _window(not_before: str | None, not_on_or_after: str, now: float, expect: Expectations):
    try:
        end = calendar.timegm(str_to_time(not_on_or_after))
        start = calendar.timegm(str_to_time(not_before)) if not_before else None
    except (TypeError, ValueError) as exc:
        raise MessageError("unreadable time in assertion") from exc
    if now >= end + expect.clock_skew:
        raise MessageError("assertion has expired")
    if start is not None and now < start - expect.clock_skew:
        raise MessageError("assertion is not yet valid")
    return end


def attributes_of(assertion: saml.Assertion) -> dict[str, list[str]]:
    """Attribute Name -> values, from the assertion's attribute statements only."""
    values: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            values.setdefault(attribute.name, []).extend(
                v.text for v in attribute.attribute_value if v.text is not None
            )
    return values


def context_class_ref(assertion: saml.Assertion) -> str | None:
    context = assertion.authn_statement[0].authn_context
    if context is None or context.authn_context_class_ref is None:
        return None
    return (context.authn_context_class_ref.text or "").strip()


_LONG_NUMBER = re.compile(r"\d{6,}")
MAX_REASON = 200


def library_reason(exc: BaseException) -> str:
    """Why pysaml2 refused a Response, for the log: the exception's type and text, which names
    the check that failed (a signature, a count of statements, an audience). On one line,
    shortened, long numbers masked: the text may quote a piece of the message, and a number
    there could be a national register number."""
    text = _LONG_NUMBER.sub("#", " ".join(str(exc).split()))
    if len(text) > MAX_REASON:
        text = text[:MAX_REASON] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def release_frames(exc: BaseException | None) -> None:
    """Drop the local variables held by a pysaml2 exception's traceback, causes included.

    pysaml2 hands certificates and messages to xmlsec1 through temporary files that it closes
    only when they are garbage-collected; a traceback kept alive (as the cause of our own
    error) would keep them open until a later collection cycle.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
