"""Responses an attacker (or a broken IdP) could post to the ACS: each is refused as invalid,
and nothing is recorded as used. Each one is a real Response from the simulator, edited, and
re-signed with the IdP's key wherever the attack is not about the signature itself."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re

import pytest

from idp_bridge.upstreams.base import UpstreamError
from tests.idp_bridge.saml_messages import (
    ASSERTION_XML,
    SIGNATURE_XML,
    SP_ENTITY_ID,
    decode,
    encode,
    posted_response,
    resign,
    set_attribute,
    stamp,
)


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def refused(world, saml_response: str) -> UpstreamError:
    """Refused as invalid, nothing recorded, and one warning saying precisely why: more than
    the name of an exception type, and no national register number."""
    warnings = Warnings()
    logger = logging.getLogger("idp_bridge.upstreams.eid")
    logger.addHandler(warnings)
    try:
        with pytest.raises(UpstreamError) as caught:
            world.upstream.complete({"SAMLResponse": saml_response})
    finally:
        logger.removeHandler(warnings)
    assert caught.value.reason == "invalid", caught.value.message
    assert len(world.seen) == 0
    assert warnings.messages == [f"eID login not accepted (invalid): {caught.value.message}"]
    bare_type = r"(\(\w+\)|^pysaml2 refused the Response: \w+)$"
    assert not re.search(bare_type, caught.value.message), caught.value.message
    assert not re.search(r"\d{11}", caught.value.message)
    return caught.value


def good_xml(world, person: str = "marc") -> str:
    return decode(world.login_response(person))


def assertion_signature(xml: str) -> str:
    return SIGNATURE_XML.findall(ASSERTION_XML.search(xml).group(0))[0]


# -- signatures ------------------------------------------------------------------------------


def test_an_unsigned_assertion_in_a_signed_response_is_refused(world):
    xml = good_xml(world)
    xml = xml.replace(assertion_signature(xml), "")
    refused(world, encode(resign(xml, world.keys.idp_key, assertion=False)))


def test_an_assertion_signed_by_another_key_is_refused_even_with_its_certificate_inside(world):
    xml = good_xml(world)
    key_file, cert_file = world.keys.attacker
    attacker_cert = "".join(cert_file.read_text().splitlines()[1:-1])
    xml = re.sub(
        r"<ns2:X509Certificate>[^<]+</ns2:X509Certificate>",
        f"<ns2:X509Certificate>{attacker_cert}</ns2:X509Certificate>",
        xml,
    )
    xml = xml.replace("85020200387", "60040400794")
    refused(world, encode(resign(xml, key_file)))


def test_an_assertion_edited_after_signing_is_refused(world):
    xml = good_xml(world).replace("85020200387", "60040400794")
    refused(world, encode(resign(xml, world.keys.idp_key, assertion=False)))


def test_a_response_edited_after_signing_is_refused_even_with_a_good_assertion(world):
    """The Response signature, when present, is checked too."""
    xml = good_xml(world)
    earlier = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    refused(world, encode(set_attribute(xml, "Response", "IssueInstant", earlier)))


@pytest.mark.parametrize(
    ("signature", "digest"),
    [
        ("xmldsig-more#rsa-sha256", "xmldsig-more#sha224"),
        ("xmldsig-more#rsa-sha224", "xmlenc#sha256"),
    ],
)
def test_a_signature_with_a_weak_or_unlisted_algorithm_is_refused(world, signature, digest):
    xml = good_xml(world)
    xml = xml.replace("xmldsig-more#rsa-sha256", signature).replace("xmlenc#sha256", digest)
    error = refused(world, encode(resign(xml, world.keys.idp_key)))
    assert "algorithm" in error.message


# -- signature wrapping ----------------------------------------------------------------------


def _evil_twin(xml: str, keep_id: bool) -> str:
    original = ASSERTION_XML.search(xml).group(0)
    evil = original.replace(assertion_signature(xml), "").replace("85020200387", "60040400794")
    if not keep_id:
        evil = re.sub(r'ID="[^"]+"', 'ID="id-evil"', evil, count=1)
    return evil


@pytest.mark.parametrize("evil_first", [False, True], ids=["signed-then-evil", "evil-then-signed"])
def test_a_signed_assertion_beside_an_unsigned_evil_one_is_refused(world, evil_first):
    xml = good_xml(world)
    original = ASSERTION_XML.search(xml).group(0)
    evil = _evil_twin(xml, keep_id=False)
    both = evil + original if evil_first else original + evil
    error = refused(world, encode(xml.replace(original, both)))
    assert "2 assertions" in error.message


def test_the_signed_assertion_hidden_in_the_evil_ones_advice_is_refused(world):
    xml = good_xml(world)
    original = ASSERTION_XML.search(xml).group(0)
    evil = _evil_twin(xml, keep_id=True)
    evil = evil.replace("<ns1:Conditions", f"<ns1:Advice>{original}</ns1:Advice><ns1:Conditions")
    evil = evil.replace("<ns1:Subject>", assertion_signature(xml) + "<ns1:Subject>", 1)
    error = refused(world, encode(xml.replace(original, evil)))
    assert "ID appears twice" in error.message


@pytest.mark.parametrize("keep_id", [True, False], ids=["same-id", "other-id"])
def test_the_signed_assertion_moved_into_response_extensions_is_refused(world, keep_id):
    xml = good_xml(world)
    original = ASSERTION_XML.search(xml).group(0)
    xml = xml.replace(original, _evil_twin(xml, keep_id=keep_id))
    xml = xml.replace("<ns0:Status>", f"<ns0:Extensions>{original}</ns0:Extensions><ns0:Status>")
    error = refused(world, encode(xml))
    assert ("ID appears twice" if keep_id else "2 assertions") in error.message


# -- audience, destination, recipient --------------------------------------------------------


def test_an_assertion_for_another_service_provider_is_refused(world):
    xml = good_xml(world).replace(
        f"<ns1:Audience>{SP_ENTITY_ID}</ns1:Audience>",
        "<ns1:Audience>https://other-sp.test/metadata</ns1:Audience>",
    )
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_an_assertion_without_audience_restriction_is_refused(world):
    """pysaml2's for_me() accepts an assertion with no AudienceRestriction at all."""
    xml = re.sub(r"<ns1:AudienceRestriction>.*?</ns1:AudienceRestriction>", "", good_xml(world))
    error = refused(world, encode(resign(xml, world.keys.idp_key)))
    assert "AudienceRestriction" in error.message


def test_a_response_for_another_destination_is_refused(world):
    xml = set_attribute(good_xml(world), "Response", "Destination", "https://other-sp.test/acs")
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_a_response_without_destination_is_refused(world):
    xml = re.sub(r' Destination="[^"]+"', "", good_xml(world))
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_a_bearer_confirmation_for_another_recipient_is_refused(world):
    """pysaml2 checks the Recipient only when told about the conversation (conv_info)."""
    xml = set_attribute(
        good_xml(world), "SubjectConfirmationData", "Recipient", "https://other-sp.test/acs"
    )
    error = refused(world, encode(resign(xml, world.keys.idp_key)))
    assert "Recipient" in error.message


def test_an_assertion_from_another_issuer_is_refused(world):
    xml = good_xml(world)
    assertion = ASSERTION_XML.search(xml).group(0)
    edited = re.sub(
        r"(<ns1:Issuer [^>]*>)[^<]+(</ns1:Issuer>)", r"\1https://idp.evil.test/\2", assertion
    )
    refused(world, encode(resign(xml.replace(assertion, edited), world.keys.idp_key)))


def test_a_response_from_another_issuer_is_refused(world):
    xml = good_xml(world)
    head = xml[: xml.index("<ns1:Assertion ")]
    edited = re.sub(
        r"(<ns1:Issuer [^>]*>)[^<]+(</ns1:Issuer>)", r"\1https://idp.evil.test/\2", head
    )
    error = refused(world, encode(resign(xml.replace(head, edited), world.keys.idp_key)))
    assert "issuer" in error.message


# -- time ------------------------------------------------------------------------------------


def test_an_expired_assertion_is_refused(world):
    past = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    xml = set_attribute(good_xml(world), "Conditions", "NotOnOrAfter", past)
    xml = set_attribute(xml, "SubjectConfirmationData", "NotOnOrAfter", past)
    earlier = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
    xml = set_attribute(xml, "Conditions", "NotBefore", earlier)
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_an_expired_bearer_confirmation_is_refused(world):
    past = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    xml = set_attribute(good_xml(world), "SubjectConfirmationData", "NotOnOrAfter", past)
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_an_assertion_not_yet_valid_is_refused(world):
    future = stamp(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    xml = set_attribute(good_xml(world), "Conditions", "NotBefore", future)
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_an_assertion_without_end_of_validity_is_refused(world):
    xml = re.sub(r'(<ns1:Conditions [^>]*?) NotOnOrAfter="[^"]+"', r"\1", good_xml(world))
    refused(world, encode(resign(xml, world.keys.idp_key)))


def test_a_clock_skew_within_the_tolerance_is_accepted(world):
    """Not an attack: the window is real, and the skew setting widens it a little."""
    soon = stamp(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    xml = set_attribute(good_xml(world), "Conditions", "NotBefore", soon)
    assert world.upstream.complete({"SAMLResponse": encode(resign(xml, world.keys.idp_key))})


# -- InResponseTo and replay -----------------------------------------------------------------


def test_the_same_response_posted_twice_is_refused_the_second_time(world):
    response = world.login_response()
    world.upstream.complete({"SAMLResponse": response})
    with pytest.raises(UpstreamError) as caught:
        world.upstream.complete({"SAMLResponse": response})
    assert caught.value.reason == "invalid"
    assert len(world.seen) == 1


def test_a_replayed_assertion_is_refused_even_if_its_request_is_still_pending(world):
    """As if two nodes both held the request: the seen-assertion store alone catches it."""
    start = world.upstream.start("/x")
    response = posted_response(world.choose(start.url, action="person:marc"))
    world.upstream.complete({"SAMLResponse": response})
    world.requests.put(start.binding, {"return_to": "/x"}, 60)
    with pytest.raises(UpstreamError) as caught:
        world.node().complete({"SAMLResponse": response})
    assert caught.value.reason == "invalid"
    assert "already used" in caught.value.message


def test_an_unsolicited_response_is_refused(world):
    start = world.upstream.start("/x")
    xml = decode(posted_response(world.choose(start.url, action="person:marc")))
    xml = xml.replace(start.binding, "id-never-asked")
    refused(world, encode(resign(xml, world.keys.idp_key)))
    assert len(world.requests) == 1  # the real request is still waiting for its answer


def test_a_second_answer_to_an_already_answered_request_is_refused(world):
    """A fresh, validly signed Response (new assertion ID) to a request already used."""
    start = world.upstream.start("/x")
    first = posted_response(world.choose(start.url, action="person:marc"))
    second = posted_response(world.choose(start.url, action="person:claire"))
    world.node().complete({"SAMLResponse": first})
    with pytest.raises(UpstreamError) as caught:
        world.upstream.complete({"SAMLResponse": second})
    assert caught.value.reason == "invalid"
    assert len(world.seen) == 1


def test_a_response_whose_subject_answers_another_request_is_refused(world):
    first, second = world.upstream.start("/a"), world.upstream.start("/b")
    xml = decode(posted_response(world.choose(first.url, action="person:marc")))
    xml = set_attribute(xml, "Response", "InResponseTo", second.binding)
    refused(world, encode(resign(xml, world.keys.idp_key)))


# -- XML and transport -----------------------------------------------------------------------


def test_an_external_entity_is_refused_before_parsing(world):
    xml = good_xml(world).replace(
        '<?xml version="1.0"?>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    )
    xml = xml.replace("Dupont-D&#xE9;mo", "&x;")
    error = refused(world, encode(xml))
    assert "forbidden XML" in error.message


def test_a_dtd_is_refused_before_parsing(world):
    xml = good_xml(world).replace('<?xml version="1.0"?>', '<?xml version="1.0"?><!DOCTYPE r>')
    refused(world, encode(xml))


@pytest.mark.parametrize(
    "value",
    ["", "not base64 at all!", "QUJD=", base64.b64encode(b"\xff\xfe not utf-8").decode()],
)
def test_a_malformed_saml_response_is_refused(world, value):
    refused(world, value)


def test_a_missing_saml_response_is_refused(world):
    with pytest.raises(UpstreamError) as caught:
        world.upstream.complete({})
    assert caught.value.reason == "invalid"


def test_xml_that_is_not_a_response_is_refused(world):
    refused(world, encode('<?xml version="1.0"?><a xmlns="urn:x"/>'))


def test_a_huge_saml_response_is_refused_before_decoding(world):
    refused(world, "A" * 400_000)


def test_an_assertion_without_authn_statement_is_refused_saying_so(world):
    xml = good_xml(world)
    xml = re.sub(r"<ns1:AuthnStatement .*?</ns1:AuthnStatement>", "", xml, flags=re.S)
    assert "AuthnStatement" in refused(world, encode(resign(xml, world.keys.idp_key))).message


def test_an_assertion_without_subject_is_refused_saying_so(world):
    xml = good_xml(world)
    xml = re.sub(r"<ns1:Subject>.*?</ns1:Subject>", "", xml, flags=re.S)
    assert "Subject" in refused(world, encode(resign(xml, world.keys.idp_key))).message


def test_a_bad_signature_is_refused_saying_so(world):
    xml = good_xml(world).replace("85020200387", "60040400794")
    message = refused(world, encode(resign(xml, world.keys.idp_key, assertion=False))).message
    assert "signature" in message.lower()
