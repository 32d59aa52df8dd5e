"""Forged and tampered upstream answers carried to the app's own endpoints: each is refused
with the person's explanation, a warning in the log, and no session.

The upstream modules' own tests (tests/idp_bridge/upstreams/) try every check one by one; these
run the attacks a login must survive through the whole app, as a browser would carry them:
the SAML Response posted to ``/login/eid/acs``, the itsme code redeemed behind
``/login/itsme/callback`` with the ID token the (simulated) itsme token endpoint returns
replaced by a forged one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.shared.transport import HttpResponse
from idp_bridge.web import EXTENSION
from tests.idp_bridge.saml_messages import (
    ASSERTION_XML,
    SIGNATURE_XML,
    decode,
    encode,
    resign,
    set_attribute,
    stamp,
)
from tests.idp_bridge.web_client import (
    Browser,
    assert_refused,
    login_sessions,
)


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app)


def keys_dir() -> Path:
    return Path(os.environ["MONESPACE_KEYS_DIR"])


# -- eID: what is posted to /login/eid/acs ------------------------------------------------


def idp_key() -> Path:
    return keys_dir() / "saml-idp-simulator.key"


def unsigned_assertion(xml: str) -> str:
    assertion = ASSERTION_XML.search(xml).group(0)
    unsigned = xml.replace(assertion, SIGNATURE_XML.sub("", assertion))
    return resign(unsigned, idp_key(), assertion=False)


def signed_by_another_key(xml: str) -> str:
    attacker_key, _cert = ensure_key_pair(keys_dir(), "attacker", "SAML IdP simulator")
    return resign(xml, attacker_key)


def wrapped(xml: str) -> str:
    """The signed assertion kept, an unsigned one for another person placed before it."""
    original = ASSERTION_XML.search(xml).group(0)
    evil = SIGNATURE_XML.sub("", original).replace('ID="', 'ID="evil-', 1)
    evil = re.sub(r"85020200387", "70030300538", evil)
    return xml.replace(original, evil + original)


def wrong_audience(xml: str) -> str:
    xml = re.sub(
        r"<ns1:Audience>[^<]*</ns1:Audience>", "<ns1:Audience>https://rp.evil/</ns1:Audience>", xml
    )
    return resign(xml, idp_key())


def expired(xml: str) -> str:
    past = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    xml = set_attribute(xml, "Conditions", "NotOnOrAfter", past)
    xml = set_attribute(xml, "SubjectConfirmationData", "NotOnOrAfter", past)
    xml = set_attribute(
        xml, "Conditions", "NotBefore", stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
    )
    return resign(xml, idp_key())


def unsolicited(xml: str) -> str:
    xml = re.sub(r'InResponseTo="[^"]*"', 'InResponseTo="id-never-asked-for"', xml)
    return resign(xml, idp_key())


def external_entity(xml: str) -> str:
    xml = xml.replace(
        '<?xml version="1.0"?>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    )
    return xml.replace("Dupont-D&#xE9;mo", "&x;")


SAML_ATTACKS = {
    "unsigned-assertion": unsigned_assertion,
    "signed-by-another-key": signed_by_another_key,
    "signature-wrapping": wrapped,
    "wrong-audience": wrong_audience,
    "expired": expired,
    "unsolicited": unsolicited,
    "external-entity": external_entity,
}


@pytest.mark.parametrize("attack", list(SAML_ATTACKS))
def test_a_forged_saml_answer_opens_no_session(browser, caplog, attack):
    answer = browser.answer("eid", "person:marc")
    tampered = SAML_ATTACKS[attack](decode(answer.form["SAMLResponse"]))
    answer.form["SAMLResponse"] = encode(tampered)

    response = browser.deliver(answer)

    assert_refused(response, browser, caplog, reason="invalid", logged="eID", before=0)
    assert browser.get("/me").status_code == 303


def test_the_untampered_answer_of_the_same_kind_opens_a_session(browser):
    """The control: the tampering helpers alone change nothing."""
    answer = browser.answer("eid", "person:marc")
    answer.form["SAMLResponse"] = encode(decode(answer.form["SAMLResponse"]))
    assert browser.deliver(answer).status_code == 303
    assert len(login_sessions()) == 1


# -- itsme: the ID token behind /login/itsme/callback -----------------------------------------


def b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


class TokenForger:
    """Replaces the ID token of the simulator's token response with ``forge(real claims)``."""

    def __init__(self, app, forge):
        upstream = app.extensions[EXTENSION].upstreams["itsme"]
        self.rp_enc = upstream.config.encryption_key
        self.op_sig = nested_jwt.rsa_key((keys_dir() / "itsme-op-sig.key").read_bytes(), "sig")
        self.token_endpoint = upstream.config.issuer + "/token"
        self.real, self.forge = upstream._transport, forge
        upstream._transport = self

    def __call__(self, method: str, url: str, form=None) -> HttpResponse:
        result = self.real(method, url, form)
        if url != self.token_endpoint or result.status != 200:
            return result
        body = json.loads(result.body)
        claims = nested_jwt.decrypt_then_verify(
            body["id_token"], self.rp_enc, lambda _kid: self.op_sig
        )
        body["id_token"] = self.forge(self, claims)
        return HttpResponse(200, json.dumps(body).encode(), result.headers)


def signed_and_encrypted(forger: TokenForger, claims: dict, sig=None, enc=None) -> str:
    inner = nested_jwt.sign(claims, sig or forger.op_sig)
    return nested_jwt.encrypt(inner, enc or forger.rp_enc)


def with_claims(**changes):
    def forge(forger: TokenForger, claims: dict) -> str:
        for name, value in changes.items():
            claims[name] = value(claims[name]) if callable(value) else value
        return signed_and_encrypted(forger, claims)

    return forge


def another_signer(forger: TokenForger, claims: dict) -> str:
    impostor = nested_jwt.rsa_key(
        {**nested_jwt.generate_rsa_key("sig").as_dict(private=True), "kid": forger.op_sig.kid},
        "sig",
    )
    return signed_and_encrypted(forger, claims, sig=impostor)


def alg_none(forger: TokenForger, claims: dict) -> str:
    inner = f"{b64({'alg': 'none', 'kid': forger.op_sig.kid})}.{b64(claims)}."
    return nested_jwt.encrypt(inner, forger.rp_enc)


def not_encrypted(forger: TokenForger, claims: dict) -> str:
    return nested_jwt.sign(claims, forger.op_sig)


ITSME_ATTACKS = {
    "signed-by-another-key": another_signer,
    "alg-none": alg_none,
    "wrong-audience": with_claims(aud="another-client"),
    "wrong-issuer": with_claims(iss="https://idp.prd.itsme.services/v2"),
    "expired": with_claims(exp=lambda exp: exp - 3600, iat=lambda iat: iat - 3600),
    "nonce-mismatch": with_claims(nonce="the-nonce-of-another-login"),
    "not-encrypted": not_encrypted,
}


@pytest.mark.parametrize("attack", list(ITSME_ATTACKS))
def test_a_forged_itsme_id_token_opens_no_session(app, browser, caplog, attack):
    TokenForger(app, ITSME_ATTACKS[attack])

    response = browser.login("itsme", "person:marc")

    assert_refused(response, browser, caplog, reason="invalid", logged="ID token", before=0)
    assert browser.get("/me").status_code == 303


def test_the_forger_alone_changes_nothing(app, browser):
    TokenForger(app, signed_and_encrypted)
    assert browser.login("itsme", "person:marc").status_code == 303
    assert len(login_sessions()) == 1
