"""The eID service provider: logins through the simulator, metadata, configuration errors."""

from __future__ import annotations

import dataclasses
import re

import pytest
from saml2.sigver import CryptoBackendXmlSec1, SignatureError, get_xmlsec_binary

from idp_bridge.shared.identity import LOA_HIGH
from idp_bridge.upstreams import fas
from idp_bridge.upstreams.base import UpstreamError
from idp_bridge.upstreams.eid import EidConfig, EidConfigError, EidUpstream, sp_metadata
from tests.idp_bridge.saml_messages import (
    ACS_URL,
    SP_ENTITY_ID,
    decode,
    encode,
    make_eid,
    posted_response,
    resign,
)


def test_a_demo_person_logs_in_with_the_high_level_of_assurance(world):
    url = world.upstream.start("/authorize/resume").url
    assert url.startswith("https://monespace.test/simulators/eid/sso?SAMLRequest=")
    assert "&Signature=" in url and "SigAlg=" in url

    identity = world.upstream.complete(
        {"SAMLResponse": posted_response(world.choose(url, action="person:marc"))}
    )

    assert identity.nrn == "85020200387"
    assert (identity.given_name, identity.family_name) == ("Marc", "Dupont-Démo")
    assert identity.language == "fr"
    assert identity.email == "marc@demo.monespace.invalid"
    assert identity.acr == LOA_HIGH
    assert identity.amr == ("hwk", "pin", "sc")
    assert identity.upstream == "eid"
    assert identity.session_ref
    assert identity.extra["return_to"] == "/authorize/resume"
    assert len(world.requests) == 0 and len(world.seen) == 1


@pytest.mark.parametrize(
    "names",
    [
        {
            "givenName": "urn:mace:dir:attribute-def:givenName",
            "surname": "urn:mace:dir:attribute-def:sn",
            "mail": "urn:mace:dir:attribute-def:mail",
        },
        {
            "givenName": "urn:oid:2.5.4.42",
            "surname": "urn:oid:2.5.4.4",
            "prefLanguage": "urn:oid:2.16.840.1.113730.3.1.39",
            "mail": "urn:oid:0.9.2342.19200300.100.1.3",
        },
    ],
    ids=["mace", "oid"],
)
def test_an_idp_releasing_the_standard_attribute_names_logs_the_person_in(saml_keys, names):
    world = make_eid(saml_keys, idp={"attribute_names": names})
    xml = decode(world.login_response("marc"))
    assert f'Name="{names["givenName"]}"' in xml and ' Name="givenName"' not in xml
    identity = world.upstream.complete({"SAMLResponse": encode(xml)})
    assert (identity.given_name, identity.family_name) == ("Marc", "Dupont-Démo")
    assert identity.email == "marc@demo.monespace.invalid" and identity.language == "fr"


def test_start_gives_the_request_id_the_identity_comes_back_with(world):
    start = world.upstream.start("/x")
    identity = world.upstream.complete(
        {"SAMLResponse": posted_response(world.choose(start.url, action="person:alice"))}
    )
    assert identity.extra["request_id"] == start.binding
    assert identity.nrn == "99090900920"


def test_a_login_started_on_one_node_finishes_on_another(world):
    url = world.upstream.start("/x").url
    response = posted_response(world.choose(url, action="person:claire"))
    identity = world.node().complete({"SAMLResponse": response})
    assert identity.nrn == "60040400794"


def test_a_fictional_person_typed_at_the_simulator(world):
    url = world.upstream.start("/x").url
    page = world.choose(
        url,
        action="custom",
        nrn="93.05.18-223.61",
        given_name="Zoé",
        family_name="Fictive",
        language="nl",
        email="",
    )
    identity = world.upstream.complete({"SAMLResponse": posted_response(page)})
    assert (identity.nrn, identity.given_name, identity.family_name) == (
        "93051822361",
        "Zoé",
        "Fictive",
    )
    assert identity.language == "nl" and identity.email is None


def test_cancelling_at_the_simulator_is_reported_as_cancelled(world):
    url = world.upstream.start("/x").url
    response = posted_response(world.choose(url, action="cancel"))
    assert "AuthnFailed" in decode(response)
    with pytest.raises(UpstreamError) as caught:
        world.upstream.complete({"SAMLResponse": response})
    assert caught.value.reason == "cancelled"
    assert len(world.seen) == 0


def test_an_idp_refusal_is_reported_as_refused(world):
    url = world.upstream.start("/x").url
    xml = decode(posted_response(world.choose(url, action="cancel")))
    xml = xml.replace("status:AuthnFailed", "status:RequestDenied")
    with pytest.raises(UpstreamError) as caught:
        world.upstream.complete(
            {"SAMLResponse": encode(resign(xml, world.keys.idp_key, assertion=False))}
        )
    assert caught.value.reason == "refused"


def test_an_edited_and_properly_resigned_response_is_accepted(world):
    """The tampering helpers re-sign correctly: what the attack tests refuse is the edit."""
    xml = decode(world.login_response("marc"))
    xml = xml.replace("Dupont-D&#xE9;mo", "Renamed")
    identity = world.upstream.complete({"SAMLResponse": encode(resign(xml, world.keys.idp_key))})
    assert identity.family_name == "Renamed"


def test_sp_metadata_describes_the_signed_requests_and_the_acs(world):
    xml = sp_metadata(world.config)
    assert f'entityID="{SP_ENTITY_ID}"' in xml
    assert 'AuthnRequestsSigned="true"' in xml and 'WantAssertionsSigned="true"' in xml
    assert f'Location="{ACS_URL}"' in xml
    assert "HTTP-POST" in xml
    assert re.search(r'<ns\d:RequestedAttribute[^>]*Name="egovNRN"[^>]*isRequired="true"', xml)
    # The names the identity is read from, as FAS releases them (no pysaml2 urn:mace: names).
    requested = re.findall(r'<ns\d:RequestedAttribute Name="([^"]+)"', xml)
    assert sorted(requested) == sorted(fas.REQUIRED_ATTRIBUTES + fas.OPTIONAL_ATTRIBUTES)
    assert "md5" not in xml and "sha1" not in xml
    assert "Signature" not in xml


def test_signed_sp_metadata_verifies_with_our_certificate(world):
    xml = sp_metadata(world.config, sign=True, valid_for_hours=24)
    assert "validUntil=" in xml and "SignatureValue" in xml
    crypto = CryptoBackendXmlSec1(get_xmlsec_binary())
    node = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
    assert crypto.validate_signature(xml, world.config.cert_file, "pem", node, None)
    tampered = xml.replace(world.config.acs_url, "https://evil.test/acs")
    try:
        verified = crypto.validate_signature(tampered, world.config.cert_file, "pem", node, None)
    except SignatureError:
        verified = False
    assert not verified


def test_metadata_without_the_configured_idp_stops_the_start_up(world):
    config = dataclasses.replace(world.config, idp_entity_id="https://other-idp.test/")
    with pytest.raises(EidConfigError, match="not in the metadata"):
        EidUpstream(config, world.requests, world.seen)


def test_a_missing_metadata_file_stops_the_start_up(world, tmp_path):
    config = dataclasses.replace(world.config, idp_metadata=str(tmp_path / "nope.xml"))
    with pytest.raises(EidConfigError):
        EidUpstream(config, world.requests, world.seen)


def test_metadata_over_plain_http_is_refused(world):
    config = dataclasses.replace(world.config, idp_metadata="http://idp.test/metadata")
    with pytest.raises(EidConfigError, match="https"):
        EidUpstream(config, world.requests, world.seen)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"acs_url": "/relative"}, "absolute"),
        ({"clock_skew": 3600}, "clock_skew"),
        ({"request_ttl": 0}, "request_ttl"),
        ({"requested_attributes": ("egovNRN", "shoeSize")}, "shoeSize"),
        ({"entity_id": ""}, "entity_id"),
    ],
)
def test_bad_settings_are_refused(world, change, message):
    settings = {f.name: getattr(world.config, f.name) for f in dataclasses.fields(EidConfig)}
    with pytest.raises(EidConfigError, match=message):
        EidConfig(**{**settings, **change})
