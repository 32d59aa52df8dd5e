"""A SAML 2.0 IdP that behaves like the federal FAS, for the demo and the tests (pysaml2 as IdP).

It has its own key and certificate (generated at first use in the data directory), publishes
its metadata, verifies the service provider's signed AuthnRequest (HTTP-Redirect), lets the
person pick a demo person or type a fictional one, and answers over HTTP-POST with a signed
Response carrying a signed assertion with the FAS attributes. "Annuler" answers AuthnFailed.
The pending request travels in the page's hidden fields and is verified again on submit, so
any node can serve either step.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from stdnum.be import nn
from stdnum.exceptions import ValidationError

from idp_bridge.shared.selfsigned import ensure_key_pair
from idp_bridge.simulators import saml_idp_pages as pages
from idp_bridge.upstreams import fas, saml_checks, saml_crypto

REQUEST_FIELDS = ("SAMLRequest", "RelayState", "SigAlg", "Signature")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamlIdpConfig:
    base_url: str  # where the blueprint is served, e.g. http://127.0.0.1:8000/simulators/eid
    data_dir: str  # the IdP's key and certificate are generated here at first use
    sp_metadata: str | Callable[[], str] = ""  # the SP's metadata XML (or how to get it)
    entity_id: str | None = None  # defaults to the metadata URL
    assertion_lifetime: int = 300  # seconds
    context_class_ref: str = fas.CONTEXT_CITIZEN_EID
    # FAS's attribute names by default; others (fas.ALIASES) to play a generic SAML IdP.
    attribute_names: Mapping[str, str] | None = None
    # The persons offered on the page (key, nrn, given_name, family_name): the demo's.
    persons: Sequence[Any] = ()
    # Who signs the Responses: saml_crypto.AUTO, BINDING or COMMAND (like eid_crypto_backend).
    crypto_backend: str = saml_crypto.AUTO

    @property
    def idp_entity_id(self) -> str:
        return self.entity_id or f"{self.base_url.rstrip('/')}/metadata"

    @property
    def sso_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/sso"


class InvalidRequest(Exception):
    """The AuthnRequest cannot be answered (unsigned, badly signed, unknown SP, malformed)."""


@dataclass(frozen=True)
class Person:
    nrn: str
    given_name: str
    family_name: str
    language: str | None = "fr"
    email: str | None = None


def _idp_config(config: SamlIdpConfig, sp_metadata: str | None) -> IdPConfig:
    key_file, cert_file = ensure_key_pair(
        config.data_dir, "saml-idp-simulator", "SAML IdP simulator"
    )
    settings = {
        "entityid": config.idp_entity_id,
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "xmlsec_binary": get_xmlsec_binary(),
        "only_use_keys_in_metadata": True,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [(config.sso_url, BINDING_HTTP_REDIRECT)]},
                "want_authn_requests_signed": True,
                "sign_response": True,
                "sign_assertion": True,
                "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                "policy": {
                    "default": {
                        "lifetime": {"seconds": config.assertion_lifetime},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_BASIC,
                    }
                },
            }
        },
    }
    if sp_metadata:
        settings["metadata"] = {"inline": [sp_metadata]}
    idp_config = IdPConfig()
    idp_config.load(settings)
    idp_config.attribute_converters = [fas.attribute_converter(config.attribute_names)]
    return idp_config


def metadata_xml(config: SamlIdpConfig) -> str:
    """The simulator's IdP metadata (what the SP is configured with)."""
    descriptor = entity_descriptor(_idp_config(config, None))
    descriptor.extensions = None
    return descriptor.to_string().decode("utf-8")


def write_metadata(config: SamlIdpConfig, path: str | Path) -> Path:
    """Write the IdP metadata to ``path`` (for ``EidConfig.idp_metadata``); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside then renamed: processes starting together never read half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(metadata_xml(config), encoding="utf-8")
    os.replace(tmp, path)
    return path


class SamlIdpSimulator:
    def __init__(self, config: SamlIdpConfig):
        self.config = config
        self._server: Server | None = None
        self._building = threading.Lock()

    @cached_property
    def metadata(self) -> str:
        return metadata_xml(self.config)

    @property
    def server(self) -> Server:
        """pysaml2's IdP, built at the first request; one for every thread (the first
        requests of a worker come together: one builds it, the others wait for it)."""
        if self._server is None:
            with self._building:
                if self._server is None:
                    self._server = self._build_server()
        return self._server

    def _build_server(self) -> Server:
        sp_metadata = self.config.sp_metadata
        if callable(sp_metadata):
            sp_metadata = sp_metadata()
        server = Server(config=_idp_config(self.config, sp_metadata))
        saml_crypto.install(server.sec, saml_crypto.resolve(self.config.crypto_backend))
        return server

    def parse_request(self, fields: Mapping[str, str]):
        """Verify the SP's signed AuthnRequest (HTTP-Redirect); return pysaml2's request."""
        if not fields.get("SAMLRequest") or not fields.get("Signature"):
            raise InvalidRequest("signed SAMLRequest expected")
        try:
            parsed = self.server.parse_authn_request(
                fields["SAMLRequest"],
                BINDING_HTTP_REDIRECT,
                relay_state=fields.get("RelayState"),
                sigalg=fields.get("SigAlg"),
                signature=fields.get("Signature"),
            )
            if parsed is None:
                log.warning("AuthnRequest refused: its signature did not verify")
                raise InvalidRequest("AuthnRequest did not verify")
            args = self.server.response_args(parsed.message, [BINDING_HTTP_POST])
        except InvalidRequest:
            raise
        except Exception as exc:
            log.warning("AuthnRequest refused: %s: %s", type(exc).__name__, exc)
            saml_checks.release_frames(exc)
            raise InvalidRequest(type(exc).__name__) from exc
        return parsed, args

    def login_response(self, args: Mapping, person: Person) -> str:
        """A signed Response with a signed assertion for ``person``, as XML."""
        response = self.server.create_authn_response(
            fas.to_attributes(
                person.nrn, person.given_name, person.family_name, person.language, person.email
            ),
            name_id=NameID(format=NAMEID_FORMAT_TRANSIENT, text=secrets.token_urlsafe(24)),
            authn={
                "class_ref": self.config.context_class_ref,
                "authn_auth": self.config.idp_entity_id,
            },
            sign_assertion=True,
            sign_response=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            **args,
        )
        return str(response)

    def cancel_response(self, args: Mapping) -> str:
        response = self.server.create_error_response(
            args["in_response_to"],
            args["destination"],
            (samlp.STATUS_AUTHN_FAILED, "Authentification annulée"),
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return str(response)


def person_from_form(form: Mapping[str, str]) -> tuple[Person | None, str | None]:
    """A fictional person typed in the form, or an error message (French) to show."""
    given, family = form.get("given_name", "").strip(), form.get("family_name", "").strip()
    language = form.get("language", "fr")
    email = form.get("email", "").strip() or None
    try:
        nrn = nn.validate(form.get("nrn", ""))
    except ValidationError:
        return None, "Le numéro de registre national n'est pas valide."
    if not given or not family or len(given) > 100 or len(family) > 100:
        return None, "Le prénom et le nom sont obligatoires (100 caractères au plus)."
    if language not in fas.LANGUAGES:
        return None, "Langue inconnue."
    if email and ("@" not in email or len(email) > 254):
        return None, "L'adresse e-mail n'est pas valide."
    return Person(nrn, given, family, language, email), None


def make_blueprint(config: SamlIdpConfig) -> Blueprint:
    simulator = SamlIdpSimulator(config)
    prefix = urllib.parse.urlsplit(config.base_url).path.rstrip("/")
    blueprint = Blueprint("saml_idp_simulator", __name__, url_prefix=prefix or None)

    @blueprint.get("/metadata")
    def metadata():
        return Response(simulator.metadata, mimetype="application/samlmetadata+xml")

    @blueprint.get("/sso")
    def sso():
        fields = {k: request.args[k] for k in REQUEST_FIELDS if k in request.args}
        try:
            parsed, _args = simulator.parse_request(fields)
        except InvalidRequest:
            return _html(pages.invalid_request(), 400)
        page = pages.choose_person(request.path, fields, parsed.sender(), persons=config.persons)
        return _html(page)

    @blueprint.post("/sso")
    def sso_answer():
        fields = {k: request.form[k] for k in REQUEST_FIELDS if k in request.form}
        try:
            parsed, args = simulator.parse_request(fields)
        except InvalidRequest:
            return _html(pages.invalid_request(), 400)
        action = request.form.get("action", "")
        if action == "cancel":
            xml = simulator.cancel_response(args)
        else:
            person, error = _chosen_person(action, request.form, config.persons)
            if person is None:
                page = pages.choose_person(
                    request.path, fields, parsed.sender(), error, request.form, config.persons
                )
                return _html(page, 400)
            xml = simulator.login_response(args, person)
        encoded = base64.b64encode(xml.encode("utf-8")).decode("ascii")
        return _html(
            pages.post_to_sp(args["destination"], encoded, fields.get("RelayState")),
            posts_onward=True,
        )

    return blueprint


def _chosen_person(
    action: str, form: Mapping[str, str], persons: Sequence[Any]
) -> tuple[Person | None, str | None]:
    if action == "custom":
        return person_from_form(form)
    for demo in persons:
        if action == f"person:{demo.key}":
            email = f"{demo.key}@demo.monespace.invalid"
            return Person(demo.nrn, demo.given_name, demo.family_name, "fr", email), None
    return None, "Choisissez une personne."


def _html(body: str, status: int = 200, *, posts_onward: bool = False) -> Response:
    """A page of the simulator. Its forms post to the simulator itself (``form-action
    'self'``), except the one that carries the answer to the service provider: that page has
    no form-action, because browsers (Chromium) check form-action against each redirect that
    follows the submission too, and the ACS redirects on to wherever the login goes next, a
    relying party's redirect URI on any origin. The form's target there is the destination
    of the signed AuthnRequest, never anything the page's visitor typed."""
    response = Response(body, status=status, mimetype="text/html")
    form_action = "" if posts_onward else "form-action 'self'; "
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; {form_action}frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
