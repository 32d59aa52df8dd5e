"""The SAML IdP simulator: its metadata, its checks of the AuthnRequest, its pages."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from idp_bridge.simulators.saml_idp import SamlIdpConfig, metadata_xml
from idp_bridge.upstreams.eid import EidUpstream
from monespace.demo import PERSONS
from tests.idp_bridge.saml_messages import (
    ACS_URL,
    SIMULATOR_URL,
    hidden_fields,
)


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def test_the_metadata_names_the_idp_its_sso_endpoint_and_its_signing_key(world):
    page = world.client.get("/simulators/eid/metadata")
    assert page.status_code == 200
    assert page.mimetype == "application/samlmetadata+xml"
    xml = page.get_data(as_text=True)
    assert f'entityID="{SIMULATOR_URL}/metadata"' in xml
    assert f'Location="{SIMULATOR_URL}/sso"' in xml and "HTTP-Redirect" in xml
    assert 'WantAuthnRequestsSigned="true"' in xml
    assert "X509Certificate" in xml
    assert xml == metadata_xml(SamlIdpConfig(SIMULATOR_URL, str(world.keys.directory)))


def test_the_person_page_is_plain_accessible_french_html(world):
    page = world.open_sso(world.upstream.start("/x").url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "<script" not in html and "style=" not in html and "<link" not in html
    for person in PERSONS:
        assert f'value="person:{person.key}"' in html
    ids = set(re.findall(r'<(?:input|select) id="([^"]+)"', html))
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids and ids == labelled
    assert ">Annuler</button>" in html
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self';" in csp  # its forms post to the simulator itself


def test_the_answer_page_posts_to_the_acs_with_a_visible_button_and_no_script(world):
    page = world.choose(world.upstream.start("/x").url, action="person:emma")
    html = page.get_data(as_text=True)
    assert f'<form method="post" action="{ACS_URL}">' in html
    assert ">Continuer</button>" in html and "<script" not in html
    # No form-action: Chromium would apply it to the redirects after the ACS, to a relying
    # party on any origin (tests/browser/test_relying_party.py).
    csp = page.headers["Content-Security-Policy"]
    assert "form-action" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


@pytest.mark.parametrize(
    "change",
    [
        {"Signature": None, "SigAlg": None},
        {"Signature": "AAAA"},
        {"SigAlg": "http://www.w3.org/2000/09/xmldsig#rsa-sha1"},
        {"SAMLRequest": "bm90IGEgcmVxdWVzdA=="},
    ],
    ids=["unsigned", "bad-signature", "other-algorithm", "garbage"],
)
def test_a_request_without_a_good_signature_is_refused(world, change):
    page = world.open_sso(with_query(world.upstream.start("/x").url, **change))
    assert page.status_code == 400
    assert "n'est pas valide" in page.get_data(as_text=True)


def test_a_request_signed_with_a_key_the_metadata_does_not_give_is_refused(world):
    key_file, cert_file = world.keys.attacker
    impostor = dataclasses.replace(world.config, key_file=str(key_file), cert_file=str(cert_file))
    url = EidUpstream(impostor, world.requests, world.seen).start("/x").url
    assert world.open_sso(url).status_code == 400


def test_a_request_naming_an_acs_outside_the_sp_metadata_is_refused(world):
    elsewhere = dataclasses.replace(world.config, acs_url="https://evil.test/acs")
    url = EidUpstream(elsewhere, world.requests, world.seen).start("/x").url
    assert world.open_sso(url).status_code == 400


def test_the_choice_is_checked_again_on_submit(world):
    page = world.open_sso(world.upstream.start("/x").url)
    fields = hidden_fields(page.get_data(as_text=True))
    fields["Signature"] = fields["Signature"][:-8] + "AAAAAAA="
    answer = world.client.post("/simulators/eid/sso", data={**fields, "action": "person:marc"})
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"action": "custom", "nrn": "12345678901", "given_name": "A", "family_name": "B"},
            "registre",
        ),
        (
            {"action": "custom", "nrn": "85020200387", "given_name": "", "family_name": "B"},
            "obligatoires",
        ),
        (
            {
                "action": "custom",
                "nrn": "85020200387",
                "given_name": "A",
                "family_name": "B",
                "language": "xx",
            },
            "Langue",
        ),
        ({"action": "person:nobody"}, "Choisissez"),
        ({}, "Choisissez"),
    ],
)
def test_a_bad_choice_shows_the_page_again_with_the_reason(world, form, message):
    page = world.choose(world.upstream.start("/x").url, **form)
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'role="alert"' in html and message in html
    if form.get("family_name"):
        assert f'value="{form["family_name"]}"' in html
