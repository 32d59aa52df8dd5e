"""SAML messages for the tests: an eID service provider and the SAML IdP simulator wired
together through the real protocol, and real Responses tampered with.

:func:`make_eid` wires them (fresh stores, an ``EidUpstream``, the simulator in a Flask test
app); the ``saml_keys`` and ``world`` fixtures (tests/idp_bridge/conftest.py) give the keys,
generated once per run, and one such :class:`World`. The helpers log in through the
simulator's pages and tamper with real Responses, re-signing them with xmlsec1 the way pysaml2
does.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from saml2 import class_name, samlp
from saml2.saml import Assertion
from saml2.sigver import CryptoBackendXmlSec1, get_xmlsec_binary

from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.shared.stores import MemoryRequestStore, MemorySeenStore
from idp_bridge.simulators.saml_idp import SamlIdpConfig, make_blueprint, write_metadata
from idp_bridge.upstreams.eid import EidConfig, EidUpstream, sp_metadata
from monespace.demo import PERSONS

BASE = "https://monespace.test"
SP_ENTITY_ID = f"{BASE}/eid/metadata"
ACS_URL = f"{BASE}/eid/acs"
SIMULATOR_URL = f"{BASE}/simulators/eid"

ASSERTION = class_name(Assertion())
RESPONSE = class_name(samlp.Response())


@dataclass(frozen=True)
class Keys:
    directory: Path
    sp: tuple[Path, Path]
    attacker: tuple[Path, Path]
    idp_metadata: Path

    @property
    def idp_key(self) -> Path:
        return self.directory / "saml-idp-simulator.key"


@dataclass
class World:
    keys: Keys
    config: EidConfig
    upstream: EidUpstream
    requests: MemoryRequestStore
    seen: MemorySeenStore
    client: object  # the simulator's Flask test client

    def node(self) -> EidUpstream:
        """Another node: same configuration, same shared stores."""
        return EidUpstream(self.config, self.requests, self.seen)

    def open_sso(self, url: str):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE
        return self.client.get(f"{parts.path}?{parts.query}")

    def choose(self, url: str, **form: str):
        """Open the simulator's page for this AuthnRequest URL, submit ``form`` on it."""
        page = self.open_sso(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        hidden = hidden_fields(page.get_data(as_text=True))
        return self.client.post(f"{urlsplit(SIMULATOR_URL).path}/sso", data={**hidden, **form})

    def login_response(self, person: str = "marc", return_to: str = "/next") -> str:
        """Start a login, pick a demo person: the base64 SAMLResponse the browser would post."""
        url = self.upstream.start(return_to).url
        return posted_response(self.choose(url, action=f"person:{person}"))


def hidden_fields(page: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in pairs}


def posted_response(page) -> str:
    assert page.status_code == 200, page.get_data(as_text=True)
    text = page.get_data(as_text=True)
    assert f'action="{ACS_URL}"' in text
    return hidden_fields(text)["SAMLResponse"]


def decode(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode("utf-8")


def encode(xml: str) -> str:
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def element_id(xml: str, local_name: str) -> str:
    return re.search(rf'<ns\d:{local_name} [^>]*?ID="([^"]+)"', xml).group(1)


def sign(xml: str, key_file: Path, node_name: str, node_id: str) -> str:
    """(Re)compute the signature template already in ``xml`` for the element ``node_id``."""
    crypto = CryptoBackendXmlSec1(get_xmlsec_binary())
    return crypto.sign_statement(xml, node_name, str(key_file), node_id)


def resign(xml: str, key_file: Path, *, assertion: bool = True, response: bool = True) -> str:
    """Re-sign after an edit: the assertion first, then the Response that contains it."""
    if assertion:
        xml = sign(xml, key_file, ASSERTION, element_id(xml, "Assertion"))
    if response:
        xml = sign(xml, key_file, RESPONSE, element_id(xml, "Response"))
    return xml


def make_keys(directory: Path) -> Keys:
    idp_config = SamlIdpConfig(base_url=SIMULATOR_URL, data_dir=str(directory))
    return Keys(
        directory=directory,
        sp=ensure_key_pair(directory, "sp", "Mon Espace SP (tests)"),
        attacker=ensure_key_pair(directory, "attacker", "SAML IdP simulator"),
        idp_metadata=write_metadata(idp_config, directory / "idp-metadata.xml"),
    )


def make_eid(keys: Keys, idp: Mapping[str, Any] | None = None, **config) -> World:
    """The SP configured with ``config``, the simulator with ``idp`` (SamlIdpConfig fields)."""
    eid_config = EidConfig(
        entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        key_file=str(keys.sp[0]),
        cert_file=str(keys.sp[1]),
        idp_metadata=str(keys.idp_metadata),
        **config,
    )
    idp_config = SamlIdpConfig(
        base_url=SIMULATOR_URL,
        data_dir=str(keys.directory),
        sp_metadata=lambda: sp_metadata(eid_config),
        persons=PERSONS,
        **(idp or {}),
    )
    requests, seen = MemoryRequestStore(), MemorySeenStore()
    app = Flask(__name__)
    app.register_blueprint(make_blueprint(dataclasses.replace(idp_config)))
    return World(
        keys=keys,
        config=eid_config,
        upstream=EidUpstream(eid_config, requests, seen),
        requests=requests,
        seen=seen,
        client=app.test_client(),
    )


# Editing a Response's XML text, as the simulator serializes it (ns1: saml, ns2: xmldsig).
SIGNATURE_XML = re.compile(r"<ns2:Signature Id=\"Signature\d\">.*?</ns2:Signature>", re.S)
ASSERTION_XML = re.compile(r"<ns1:Assertion .*?</ns1:Assertion>", re.S)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_attribute(xml: str, element: str, name: str, value: str) -> str:
    edited, count = re.subn(rf'(<ns\d:{element} [^>]*?{name}=")[^"]*(")', rf"\g<1>{value}\2", xml)
    assert count >= 1, (element, name)
    return edited
