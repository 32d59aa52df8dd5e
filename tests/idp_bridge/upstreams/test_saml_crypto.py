"""The two crypto backends of the eID login refuse the same forged signatures.

Each forgery starts from a real Response of the SAML simulator, is edited, and is signed again
for real (xmlsec1, as pysaml2 signs): an ``xmlsec1 --verify`` without the restrictions pysaml2
adds on its command line accepts it, which shows that what refuses it is the restriction, then
both backends (the ``xmlsec`` binding in process and the ``xmlsec1`` program) refuse it.
"""

from __future__ import annotations

import base64
import re
import subprocess
import threading
from pathlib import Path
from xml.etree import ElementTree

import pytest
import saml2.sigver
from cryptography import x509
from saml2 import samlp
from saml2.sigver import CryptoBackendXmlSec1, SignatureError, XmlsecError, get_xmlsec_binary
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as pysaml2_schema_check

from idp_bridge.upstreams import saml_crypto
from idp_bridge.upstreams.eid import EidConfigError, crypto_backend
from tests.idp_bridge.saml_messages import (
    ASSERTION,
    ASSERTION_XML,
    RESPONSE,
    SIGNATURE_XML,
    decode,
    element_id,
    make_eid,
    resign,
    sign,
)

BACKENDS = {
    saml_crypto.BINDING: saml_crypto.XmlsecBinding,
    saml_crypto.COMMAND: lambda: CryptoBackendXmlSec1(get_xmlsec_binary()),
}


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    return BACKENDS[request.param]()


@pytest.fixture(scope="module")
def signed(saml_keys) -> str:
    """A Response from the simulator: signed Response, signed assertion."""
    return decode(make_eid(saml_keys).login_response("marc"))


def idp_cert(saml_keys) -> str:
    return str(saml_keys.directory / "saml-idp-simulator.crt")


def verifies(backend, xml: str, cert: str, node_name: str, node_id: str | None) -> bool:
    try:
        return bool(backend.validate_signature(xml, cert, "pem", node_name, node_id))
    except (SignatureError, XmlsecError):
        return False


def xmlsec1_without_restrictions(tmp_path: Path, xml: str, node_name: str, node_id: str, *key):
    """``xmlsec1 --verify`` as pysaml2 runs it, minus ``--enabled-reference-uris`` and
    ``--enabled-key-data``: whether the signature itself is good."""
    document = tmp_path / "signed.xml"
    document.write_text(xml)
    command = [get_xmlsec_binary(), "--verify", *key, "--id-attr:ID", node_name]
    command += ["--node-id", node_id, str(document)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def assertion_signature(xml: str) -> str:
    return SIGNATURE_XML.findall(ASSERTION_XML.search(xml).group(0))[0]


def edit_assertion_signature(xml: str, old: str, new: str) -> str:
    signature = assertion_signature(xml)
    edited = re.sub(old, new, signature, count=1, flags=re.S)
    assert edited != signature
    return xml.replace(signature, edited)


def test_both_backends_verify_the_genuine_response_and_assertion(backend, signed, saml_keys):
    cert = idp_cert(saml_keys)
    assert verifies(backend, signed, cert, RESPONSE, element_id(signed, "Response"))
    assert verifies(backend, signed, cert, ASSERTION, element_id(signed, "Assertion"))


def test_both_backends_sign_what_the_other_verifies(signed, saml_keys):
    key, cert = str(saml_keys.idp_key), idp_cert(saml_keys)
    node_id = element_id(signed, "Assertion")
    for signer, checker in [
        (saml_crypto.XmlsecBinding(), CryptoBackendXmlSec1(get_xmlsec_binary())),
        (CryptoBackendXmlSec1(get_xmlsec_binary()), saml_crypto.XmlsecBinding()),
    ]:
        xml = signer.sign_statement(signed.replace("Marc", "Marco"), ASSERTION, key, node_id)
        assert "Marco" in xml
        assert checker.validate_signature(xml, cert, "pem", ASSERTION, node_id)


def test_a_reference_outside_the_document_is_refused(backend, signed, saml_keys, tmp_path):
    """``--enabled-reference-uris empty,same-doc``: a signature over a file is not one over
    the assertion, however good."""
    outside = tmp_path / "outside.xml"
    outside.write_text("<Anything>the signer chose this</Anything>")
    node_id = element_id(signed, "Assertion")
    xml = edit_assertion_signature(
        signed, r'URI="#[^"]+"><ns2:Transforms>.*?</ns2:Transforms>', f'URI="{outside.as_uri()}">'
    )
    xml = sign(xml, saml_keys.idp_key, ASSERTION, node_id)
    cert = idp_cert(saml_keys)
    assert xmlsec1_without_restrictions(
        tmp_path, xml, ASSERTION, node_id, "--pubkey-cert-pem", cert
    )
    assert not verifies(backend, xml, cert, ASSERTION, node_id)


def test_a_key_the_message_carries_is_never_used(backend, signed, saml_keys, tmp_path):
    """``--enabled-key-data raw-x509-cert``: the attacker signs with their key and puts it in
    KeyInfo (a KeyValue, then their certificate): only the configured certificate counts."""
    attacker_key, attacker_cert = saml_keys.attacker
    node_id = element_id(signed, "Assertion")
    with_key_value = edit_assertion_signature(
        signed.replace("85020200387", "60040400794"),
        r"<ns2:KeyInfo>.*?</ns2:KeyInfo>",
        "<ns2:KeyInfo><ns2:KeyValue/></ns2:KeyInfo>",
    )
    xml = sign(with_key_value, attacker_key, ASSERTION, node_id)
    assert "RSAKeyValue" in xml
    assert xmlsec1_without_restrictions(tmp_path, xml, ASSERTION, node_id)
    assert not verifies(backend, xml, idp_cert(saml_keys), ASSERTION, node_id)

    certificate = x509.load_pem_x509_certificate(attacker_cert.read_bytes())
    der = base64.b64encode(certificate.public_bytes(encoding=_der())).decode("ascii")
    with_cert = edit_assertion_signature(
        signed.replace("85020200387", "60040400794"),
        r"<ns2:X509Certificate>[^<]+</ns2:X509Certificate>",
        f"<ns2:X509Certificate>{der}</ns2:X509Certificate>",
    )
    xml = sign(with_cert, attacker_key, ASSERTION, node_id)
    assert xmlsec1_without_restrictions(
        tmp_path, xml, ASSERTION, node_id, "--pubkey-cert-pem", str(attacker_cert)
    )
    assert not verifies(backend, xml, idp_cert(saml_keys), ASSERTION, node_id)


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_a_signature_by_another_key_is_refused(backend, signed, saml_keys):
    xml = sign(signed, saml_keys.attacker[0], ASSERTION, element_id(signed, "Assertion"))
    assert not verifies(backend, xml, idp_cert(saml_keys), ASSERTION, element_id(xml, "Assertion"))
    _, attacker_cert = saml_keys.attacker
    assert verifies(backend, xml, str(attacker_cert), ASSERTION, element_id(xml, "Assertion"))


def test_an_edited_assertion_is_refused(backend, signed, saml_keys):
    xml = signed.replace("85020200387", "60040400794")
    assert not verifies(backend, xml, idp_cert(saml_keys), ASSERTION, element_id(xml, "Assertion"))


def test_an_unsigned_element_is_refused(backend, signed, saml_keys):
    cert = idp_cert(saml_keys)
    unsigned = signed.replace(assertion_signature(signed), "")
    assert not verifies(backend, unsigned, cert, ASSERTION, element_id(signed, "Assertion"))
    # Without its own signature, the Response is not vouched for by its assertion's: that
    # signature refers to an Assertion ID, not a Response's (``--id-attr:ID`` per name).
    response_signature = SIGNATURE_XML.findall(signed)[0]
    assert response_signature != assertion_signature(signed)
    unsigned_response = signed.replace(response_signature, "", 1)
    assert not verifies(backend, unsigned_response, cert, RESPONSE, element_id(signed, "Response"))


def test_only_the_signed_elements_kind_of_id_resolves(backend, signed, saml_keys, tmp_path):
    """``--id-attr:ID <name>``: the Response's signature made over the assertion (a good
    signature, by the IdP's key) does not sign the Response; nor is a Response an Assertion."""
    cert = idp_cert(saml_keys)
    response_id, assertion_id = element_id(signed, "Response"), element_id(signed, "Assertion")
    response_signature = SIGNATURE_XML.findall(signed)[0]
    pointed = response_signature.replace(f'URI="#{response_id}"', f'URI="#{assertion_id}"')
    xml = signed.replace(response_signature, pointed, 1)
    xml = sign(xml, saml_keys.idp_key, ASSERTION, None)  # the first signature: the Response's
    assert verifies(backend, xml, cert, ASSERTION, None)
    assert not verifies(backend, xml, cert, RESPONSE, response_id)
    assert not verifies(backend, signed, cert, ASSERTION, response_id)


def test_a_duplicate_id_is_refused(backend, signed, saml_keys):
    """A second assertion with the signed one's ID: which one was checked would be unclear."""
    original = ASSERTION_XML.search(signed).group(0)
    twin = original.replace(assertion_signature(signed), "").replace("85020200387", "60040400794")
    xml = signed.replace(original, twin + original)
    assert not verifies(
        backend, xml, idp_cert(saml_keys), ASSERTION, element_id(signed, "Assertion")
    )


@pytest.mark.parametrize("backend_name", list(BACKENDS))
def test_a_wrapped_assertion_is_refused_before_either_backend(backend_name, saml_keys, signed):
    """The evil assertion carries a copy of the genuine one's signature, which still refers to
    the genuine one (moved aside): pysaml2's anchor check, in front of either backend, refuses
    it (a signature must refer to the element it is in: SAML Core 5.4.2)."""
    world = make_eid(saml_keys, crypto_backend=backend_name)
    sec = world.upstream._client.sec
    assert type(sec.crypto) is type(BACKENDS[backend_name]())
    original = ASSERTION_XML.search(signed).group(0)
    evil = original.replace("85020200387", "60040400794")
    evil = re.sub(r'ID="[^"]+"', 'ID="id-evil"', evil, count=1)
    extension = f"<ns0:Extensions>{original}</ns0:Extensions>"
    xml = signed.replace(original, evil).replace("<ns0:Status>", extension + "<ns0:Status>", 1)
    response = samlp.response_from_string(xml)
    evil_item = response.assertion[0]
    assert evil_item.id == "id-evil"
    with pytest.raises(SignatureError, match="constraints"):
        sec.check_signature(evil_item, ASSERTION, origdoc=xml)


def test_the_backend_setting(saml_keys, monkeypatch):
    world = make_eid(saml_keys)
    assert crypto_backend(world.config) == saml_crypto.BINDING
    assert saml_crypto.resolve("auto") == saml_crypto.BINDING
    monkeypatch.setattr(saml_crypto, "binding_available", lambda: False)
    assert saml_crypto.resolve("auto") == saml_crypto.COMMAND
    with pytest.raises(saml_crypto.CryptoChoiceError, match="not installed"):
        saml_crypto.resolve(saml_crypto.BINDING)
    with pytest.raises(EidConfigError, match="crypto_backend"):
        make_eid(saml_keys, crypto_backend="python-xmlsec")
    with pytest.raises(EidConfigError, match="unknown crypto backend"):
        make_eid(saml_keys, crypto_backend="openssl")


def test_nothing_is_decrypted(signed, saml_keys):
    with pytest.raises(XmlsecError):
        saml_crypto.XmlsecBinding().decrypt(signed, str(saml_keys.sp[0]))


def schema_valid(check, document: str) -> bool:
    try:
        check(document)
    except XMLSchemaError:
        return False
    return True


def _in_extensions(xml: str) -> str:
    return f"<ns0:Extensions>{ASSERTION_XML.search(xml).group(0)}</ns0:Extensions>"


# Edits of a genuine Response: whether the SAML schemas accept the result.
SCHEMA_EDITS = {
    "genuine": (lambda xml: xml, True),
    "an unknown element before the Issuer": (
        lambda xml: xml.replace("<ns1:Issuer", "<ns1:Bogus/><ns1:Issuer", 1),
        False,
    ),
    "an attribute the schema does not have": (
        lambda xml: xml.replace('Version="2.0"', 'Version="2.0" Role="admin"', 1),
        False,
    ),
    "the Version missing": (lambda xml: xml.replace(' Version="2.0"', "", 1), False),
    "an instant that is not a dateTime": (
        lambda xml: re.sub(r'IssueInstant="[^"]+"', 'IssueInstant="yesterday"', xml, count=1),
        False,
    ),
    "the Status before the Issuer": (
        lambda xml: re.sub(
            r"(<ns1:Issuer.*?</ns1:Issuer>)(.*?)(<ns0:Status>.*?</ns0:Status>)",
            r"\3\2\1",
            xml,
            count=1,
            flags=re.S,
        ),
        False,
    ),
    "a copy of the assertion in Extensions (the same ID twice)": (
        lambda xml: xml.replace("<ns0:Status>", f"{_in_extensions(xml)}<ns0:Status>", 1),
        False,
    ),
    "a copy of the assertion in Extensions, its IDs changed": (
        lambda xml: xml.replace(
            "<ns0:Status>",
            re.sub(r'(I[Dd])="([^"]+)"', r'\1="copy-\2"', _in_extensions(xml)) + "<ns0:Status>",
            1,
        ),
        True,  # Extensions take elements of other namespaces: the anchor check refuses this
    ),
    "two Subjects in the assertion": (
        lambda xml: re.sub(r"(<ns1:Subject>.*?</ns1:Subject>)", r"\1\1", xml, count=1, flags=re.S),
        False,
    ),
    "not well-formed": (lambda xml: xml[: len(xml) // 2], False),
}


@pytest.fixture
def namespace_prefixes():
    """``xmlschema`` registers the prefixes of a document it refuses in ElementTree's
    process-wide table, which changes how pysaml2 writes every later message (``samlp:``
    instead of ``ns0:``): put the table back for the tests that follow."""
    kept = dict(ElementTree._namespace_map)
    yield
    ElementTree._namespace_map.clear()
    ElementTree._namespace_map.update(kept)


@pytest.mark.parametrize("edit", list(SCHEMA_EDITS))
def test_the_schema_check_in_libxml2_agrees_with_pysaml2s(edit, signed, namespace_prefixes):
    """The SAML schemas checked in libxml2 accept and refuse what pysaml2's ``xmlschema`` check
    does, for the Response and for the assertion alone (pysaml2 checks each signed element)."""
    change, expected = SCHEMA_EDITS[edit]
    response = change(signed)
    assert schema_valid(pysaml2_schema_check, response) is expected
    assert schema_valid(saml_crypto.validate_with_libxml2, response) is expected
    if expected:
        # The assertions as pysaml2 checks them: re-serialized, namespaces declared on each.
        for assertion in samlp.response_from_string(response).assertion:
            assert schema_valid(pysaml2_schema_check, str(assertion))
            assert schema_valid(saml_crypto.validate_with_libxml2, str(assertion))


def test_the_schema_check_holds_in_threads_that_start_and_end_together(signed, monkeypatch):
    """Threads begun together, each checking a genuine Response and a refused one first thing,
    then ending: every genuine one passes and every refused one is refused for its own fault.
    (libxml2 reading the schemas in two threads at once could fail to resolve an import, and
    refuse a genuine login: the schemas are read once per process.)"""
    monkeypatch.setattr(saml_crypto, "_schema", None)  # read again, by the first thread here
    refused = signed.replace('Version="2.0"', 'Version="2.0" Role="admin"', 1)
    results: list[tuple[bool, bool, str]] = []

    def check(barrier: threading.Barrier) -> None:
        barrier.wait()
        genuine = schema_valid(saml_crypto.validate_with_libxml2, signed)
        try:
            saml_crypto.validate_with_libxml2(refused)
        except XMLSchemaError as exc:
            results.append((genuine, False, str(exc)))
        else:
            results.append((genuine, True, ""))

    for _ in range(200):
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=check, args=(barrier,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 1600
    assert all(genuine and not passed and "Role" in why for genuine, passed, why in results)


def test_a_well_signed_response_the_schemas_refuse_is_refused(saml_keys, signed):
    """With the binding, pysaml2's check before a signature check is libxml2's; a Response
    edited against the schemas and signed again for real is refused by it, and the genuine one
    passes."""
    world = make_eid(saml_keys, crypto_backend=saml_crypto.BINDING)
    assert saml2.sigver.validate_doc_with_schema is saml_crypto.validate_with_libxml2
    sec = world.upstream._client.sec
    genuine = samlp.response_from_string(signed)
    assert sec.check_signature(genuine, RESPONSE, origdoc=signed)
    edited = signed.replace('Version="2.0"', 'Version="2.0" Role="admin"')
    edited = resign(edited, saml_keys.idp_key)
    assert sec.crypto.validate_signature(
        edited, idp_cert(saml_keys), "pem", RESPONSE, element_id(edited, "Response")
    )
    with pytest.raises(SignatureError, match="Invalid document format"):
        sec.check_signature(samlp.response_from_string(edited), RESPONSE, origdoc=edited)
