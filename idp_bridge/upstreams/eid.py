"""Login with the Belgian eID through a SAML 2.0 IdP like the federal FAS (pysaml2 as the SP).

Web Browser SSO profile (SAML Profiles 4.1): a signed AuthnRequest over HTTP-Redirect, the
Response over HTTP-POST to our assertion consumer service (ACS). pysaml2 builds the request
and verifies signatures; ``saml_checks`` adds what pysaml2 leaves out; the request ids waiting
for an answer and the assertion ids already used live in shared stores, so any node can finish
a login another node started, and only once.

As a plugin (``PLUGIN``): on when ``eid_idp_metadata`` is set; our entity id is
``/login/eid/metadata`` (served there) and our assertion consumer service ``/login/eid/acs``.
"""

from __future__ import annotations

import functools
import logging
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flask import Response
from flask_babel import lazy_gettext as _
from pydantic import Field, ValidationInfo, field_validator
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, SAMLError, samlp
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor, sign_entity_descriptor
from saml2.response import AuthnResponse, StatusError
from saml2.saml import NAME_FORMAT_BASIC, AuthnContextClassRef
from saml2.sigver import SigverError, get_xmlsec_binary, security_context
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from authz import constant_time
from idp_bridge.shared.db_stores import DatabaseRequestStore, DatabaseSeenStore
from idp_bridge.shared.identity import VerifiedIdentity
from idp_bridge.shared.stores import RequestStore, SeenStore, StoreFull
from idp_bridge.upstreams import fas, saml_checks, saml_crypto
from idp_bridge.upstreams.base import (
    LoginStart,
    Plugin,
    Route,
    Site,
    Upstream,
    UpstreamConfigError,
    UpstreamError,
    UpstreamSettings,
)

logger = logging.getLogger(__name__)

# SAML second-level status codes (SAML Core 3.2.2.2) that mean the person stopped or the IdP
# would not authenticate them; anything else unsuccessful is "refused" too.
_CANCELLED = frozenset({"urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"})


class EidConfigError(UpstreamConfigError):
    """The eID configuration cannot work; raised at start-up."""


@dataclass(frozen=True)
class EidConfig:
    entity_id: str
    acs_url: str
    key_file: str
    cert_file: str
    idp_metadata: str  # a file path, or an https:// URL read once at start-up
    idp_entity_id: str | None = None  # needed when the metadata lists several IdPs
    idp_metadata_cert: str | None = None  # a certificate file that must have signed the metadata
    clock_skew: int = 60  # seconds of difference tolerated with the IdP's clock
    request_ttl: int = 900  # seconds a person may take at the IdP
    requested_attributes: tuple[str, ...] = fas.REQUIRED_ATTRIBUTES + fas.OPTIONAL_ATTRIBUTES
    authn_contexts: tuple[str, ...] = (fas.CONTEXT_CITIZEN_EID,)
    force_authn: bool = False
    service_name: str = "Mon Espace"
    xmlsec_binary: str | None = None
    # Who checks the XML signatures: the xmlsec binding in process, or the xmlsec1 program
    # (saml_crypto); "auto" is the binding when it is installed.
    crypto_backend: str = saml_crypto.AUTO

    def __post_init__(self):
        for name in ("entity_id", "acs_url", "key_file", "cert_file", "idp_metadata"):
            if not getattr(self, name):
                raise EidConfigError(f"eID: {name} is required")
        if urllib.parse.urlsplit(self.acs_url).scheme not in ("https", "http"):
            raise EidConfigError("eID: acs_url must be an absolute URL")
        if not 0 <= self.clock_skew <= 300:
            raise EidConfigError("eID: clock_skew must be between 0 and 300 seconds")
        if self.request_ttl <= 0:
            raise EidConfigError("eID: request_ttl must be positive")
        unknown = set(self.requested_attributes) - set(
            fas.REQUIRED_ATTRIBUTES + fas.OPTIONAL_ATTRIBUTES
        )
        if unknown:
            raise EidConfigError(f"eID: unknown requested attributes {sorted(unknown)}")
        try:
            saml_crypto.resolve(self.crypto_backend)
        except saml_crypto.CryptoChoiceError as exc:
            raise EidConfigError(f"eID: crypto_backend: {exc}") from exc


def crypto_backend(config: EidConfig) -> str:
    """The backend that checks this configuration's signatures (``saml_crypto`` names)."""
    return saml_crypto.resolve(config.crypto_backend)


def _pysaml2_config(config: EidConfig, with_idp: bool) -> SPConfig:
    binding = crypto_backend(config) == saml_crypto.BINDING
    try:
        xmlsec = config.xmlsec_binary or get_xmlsec_binary()
    except SigverError as exc:
        if not binding:
            raise EidConfigError("eID: the xmlsec1 program is not installed") from exc
        xmlsec = None  # not needed: the binding replaces it (saml_crypto.install)
    required = [a for a in config.requested_attributes if a in fas.REQUIRED_ATTRIBUTES]
    optional = [a for a in config.requested_attributes if a not in fas.REQUIRED_ATTRIBUTES]
    settings = {
        "entityid": config.entity_id,
        "key_file": config.key_file,
        "cert_file": config.cert_file,
        "xmlsec_binary": xmlsec,
        # pysaml2 would look for the program to build its xmlsec1 backend.
        "crypto_backend": "xmlsec1" if xmlsec else "XMLSecurity",
        "accepted_time_diff": config.clock_skew,
        # Signatures are checked only with certificates from the IdP's metadata, never with one
        # the message itself carries.
        "only_use_keys_in_metadata": True,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "name": config.service_name,
        "service": {
            "sp": {
                "name": config.service_name,
                "endpoints": {
                    "assertion_consumer_service": [(config.acs_url, BINDING_HTTP_POST)],
                },
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "required_attributes": required,
                "optional_attributes": optional,
                "requested_attribute_name_format": NAME_FORMAT_BASIC,
                "force_authn": "true" if config.force_authn else "false",
            }
        },
    }
    if with_idp:
        if urllib.parse.urlsplit(config.idp_metadata).scheme in ("https", "http"):
            if not config.idp_metadata.startswith("https://"):
                raise EidConfigError("eID: IdP metadata must be fetched over https")
            source = {"url": config.idp_metadata}
            if config.idp_metadata_cert:
                source["cert"] = config.idp_metadata_cert
            settings["metadata"] = {"remote": [source]}
        else:
            settings["metadata"] = {"local": [config.idp_metadata]}
    sp_config = SPConfig()
    try:
        sp_config.load(settings)
    except (OSError, SAMLError, ValueError) as exc:
        raise EidConfigError(f"eID: cannot load the SAML configuration: {exc}") from exc
    # pysaml2's own maps would request givenName as urn:mace:dir:attribute-def:givenName: the
    # metadata asks for the names FAS releases (fas.ALIASES lists the others still read).
    sp_config.attribute_converters = [fas.attribute_converter()]
    return sp_config


def sp_metadata(
    config: EidConfig, *, sign: bool = False, valid_for_hours: int | None = None
) -> str:
    """Our SP metadata (EntityDescriptor) as XML, for the IdP's operator; optionally signed."""
    sp_config = _pysaml2_config(config, with_idp=False)
    if valid_for_hours:
        sp_config.valid_for = valid_for_hours
    descriptor = entity_descriptor(sp_config)
    # pysaml2 advertises every algorithm xmlsec1 knows, MD5 and SHA-1 included: say nothing
    # rather than invite weak ones.
    descriptor.extensions = None
    if not sign:
        return descriptor.to_string().decode("utf-8")
    sec = saml_crypto.install(security_context(sp_config), crypto_backend(config))
    _signed, xml = sign_entity_descriptor(descriptor, None, sec, SIG_RSA_SHA256, DIGEST_SHA256)
    return xml if isinstance(xml, str) else xml.decode("utf-8")


class EidUpstream(Upstream):
    name = fas.UPSTREAM
    label = _("Carte d'identité électronique")
    hint = _("avec votre carte eID, un lecteur de carte et votre code PIN")

    def __init__(self, config: EidConfig, requests: RequestStore, seen: SeenStore):
        self.config = config
        self._requests, self._seen = requests, seen
        self._client = Saml2Client(config=_pysaml2_config(config, with_idp=True))
        saml_crypto.install(self._client.sec, crypto_backend(config))
        self.idp_entity_id = self._pick_idp()
        self._metadata: str | None = None

    def routes(self) -> Sequence[Route]:
        return (
            Route("/acs", ("POST",)),  # the HTTP-POST binding's Response comes back here
            Route("/metadata", ("GET",), self.metadata_response),
        )

    def metadata_response(self) -> Response:
        """Our SP metadata, for the IdP's operator (built once: it loads the SP key)."""
        if self._metadata is None:
            self._metadata = sp_metadata(self.config)
        return Response(self._metadata, mimetype="application/samlmetadata+xml")

    def _pick_idp(self) -> str:
        metadata = self._client.metadata
        idps = sorted(metadata.identity_providers())
        wanted = self.config.idp_entity_id
        if wanted is None:
            if len(idps) != 1:
                raise EidConfigError(f"eID: the metadata lists {len(idps)} IdPs; set idp_entity_id")
            wanted = idps[0]
        elif wanted not in idps:
            raise EidConfigError(f"eID: IdP {wanted} is not in the metadata")
        if not metadata.certs(wanted, "idpsso", "signing"):
            raise EidConfigError(f"eID: the metadata gives no signing certificate for {wanted}")
        if not metadata.single_sign_on_service(wanted, BINDING_HTTP_REDIRECT):
            raise EidConfigError(f"eID: {wanted} has no HTTP-Redirect SSO endpoint")
        return wanted

    # -- starting a login ------------------------------------------------------------------

    def start(self, return_to: str) -> LoginStart:
        """Sign an AuthnRequest; remember its id so that exactly one answer to it is accepted."""
        refs = [AuthnContextClassRef(text=c) for c in self.config.authn_contexts]
        context = samlp.RequestedAuthnContext(
            authn_context_class_ref=refs,
            comparison="exact",
        )
        request_id, info = self._client.prepare_for_authenticate(
            entityid=self.idp_entity_id,
            binding=BINDING_HTTP_REDIRECT,
            sign=True,
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            requested_authn_context=context,
        )
        url = dict(info["headers"])["Location"]
        self._requests.put(
            request_id,
            {"return_to": return_to, "idp": self.idp_entity_id},
            self.config.request_ttl,
        )
        return LoginStart(url=url, binding=request_id)

    # -- finishing it ------------------------------------------------------------------------

    def complete(
        self, params: Mapping[str, str], *, binding: str | None = None
    ) -> VerifiedIdentity:
        """Check the Response; ``binding`` is the request id the browser's cookie holds."""
        try:
            identity = self._complete(params)
            # Checked once the Response is spent: an answer sent to another browser (login
            # CSRF) is refused, and cannot be used again in the right one either.
            if binding is not None and not constant_time.equal(
                binding, identity.extra["request_id"]
            ):
                raise UpstreamError("invalid", "the answer is for another browser")
            return identity
        except UpstreamError as exc:
            logger.warning("eID login not accepted (%s): %s", exc.reason, exc.message)
            raise

    def _complete(self, params: Mapping[str, str]) -> VerifiedIdentity:
        try:
            facts = saml_checks.read_post(params.get("SAMLResponse"))
        except saml_checks.MessageError as exc:
            raise UpstreamError("invalid", str(exc)) from exc
        if facts.destination != self.config.acs_url:
            raise UpstreamError("invalid", "Response Destination is not our ACS")
        if facts.issuer is not None and facts.issuer != self.idp_entity_id:
            raise UpstreamError("invalid", "Response issuer is not the configured IdP")
        # Taken before the signature is checked: a request gets one answer, good or bad.
        pending = self._requests.pop(facts.in_response_to)
        if pending is None:
            raise UpstreamError("invalid", "unsolicited Response or request already answered")
        response = self._verify(facts, pending)
        assertion = response.assertion
        expect = saml_checks.Expectations(
            idp_entity_id=self.idp_entity_id,
            sp_entity_id=self.config.entity_id,
            acs_url=self.config.acs_url,
            request_id=facts.in_response_to,
            assertion_id=facts.assertion_id or "",
            clock_skew=self.config.clock_skew,
        )
        try:
            valid_until = saml_checks.check_assertion(assertion, expect, time.time())
            statement = assertion.authn_statement[0]
            identity = fas.to_identity(
                saml_checks.attributes_of(assertion),
                saml_checks.context_class_ref(assertion),
                session_ref=statement.session_index or assertion.id,
                extra={
                    "return_to": pending.get("return_to", ""),
                    "request_id": facts.in_response_to,
                    "assertion_id": assertion.id,
                    "idp": self.idp_entity_id,
                    "authn_instant": statement.authn_instant or "",
                },
            )
        except (saml_checks.MessageError, fas.FasAttributeError) as exc:
            raise UpstreamError("invalid", str(exc)) from exc
        try:
            first_use = self._seen.add(assertion.id, valid_until)
        except StoreFull as exc:
            raise UpstreamError("refused", "too many logins at once") from exc
        if not first_use:
            raise UpstreamError("invalid", "assertion already used")
        return identity

    def _verify(self, facts: saml_checks.ResponseFacts, pending: Mapping[str, str]):
        """pysaml2's checks: signatures against the metadata, status, conditions, subject."""
        response = AuthnResponse(
            self._client.sec,
            self._client.config.attribute_converters,
            self.config.entity_id,
            return_addrs=[self.config.acs_url],
            outstanding_queries={facts.in_response_to: pending.get("return_to", "")},
            timeslack=self.config.clock_skew,
            asynchop=True,
            allow_unsolicited=False,
            want_assertions_signed=True,
            want_response_signed=False,
            allow_unknown_attributes=True,
        )
        try:
            response.loads(facts.xml, False, origxml=facts.xml)
            verified = response.verify()
        except StatusError as exc:
            saml_checks.release_frames(exc)
            reason = "cancelled" if facts.sub_status in _CANCELLED else "refused"
            raise UpstreamError(reason, f"IdP answered {facts.sub_status or facts.status}") from exc
        except Exception as exc:
            # pysaml2 signals a bad message with many exception types (some a bare Exception),
            # whose text says which check failed: kept, cleaned (saml_checks.library_reason).
            logger.debug("pysaml2 refused the Response", exc_info=True)
            message = f"pysaml2 refused the Response: {saml_checks.library_reason(exc)}"
            saml_checks.release_frames(exc)
            raise UpstreamError("invalid", message) from exc
        if verified is None or response.assertion is None:
            raise UpstreamError("invalid", "Response did not verify")
        return response


# -- the plugin --------------------------------------------------------------------------------


class EidSettings(UpstreamSettings):
    """``eid_*`` settings (``MONESPACE_EID_*``): on when ``eid_idp_metadata`` is set."""

    switch = "idp_metadata"

    idp_metadata: str  # a file, or an https URL read once at start-up
    key_file: str  # our SP's signing key and certificate (PEM)
    cert_file: str
    idp_entity_id: str | None = None  # needed when the metadata lists several IdPs
    idp_metadata_cert: str | None = None  # a certificate that must have signed the metadata
    clock_skew: int = Field(60, ge=0, le=300)  # seconds tolerated with the IdP's clock
    # XML signatures checked in process (python-xmlsec) or by the xmlsec1 program.
    crypto_backend: Literal["auto", "python-xmlsec", "xmlsec1"] = "auto"

    @field_validator("idp_metadata")
    @classmethod
    def _https_in_production(cls, value: str, info: ValidationInfo) -> str:
        demo = bool(info.context and info.context.get("demo"))
        if not demo and "://" in value and not value.startswith("https://"):
            raise ValueError("must be a file or an https URL")
        return value


def config_for(settings: EidSettings, site: Site) -> EidConfig:
    """Our service provider's configuration, its URLs under ``/login/eid``."""
    return EidConfig(
        entity_id=site.login_url(fas.UPSTREAM, "/metadata"),
        acs_url=site.login_url(fas.UPSTREAM, "/acs"),
        key_file=settings.key_file,
        cert_file=settings.cert_file,
        idp_metadata=settings.idp_metadata,
        idp_entity_id=settings.idp_entity_id,
        idp_metadata_cert=settings.idp_metadata_cert,
        clock_skew=settings.clock_skew,
        crypto_backend=settings.crypto_backend,
    )


# Loading a private key costs about 0.2 s (the RSA checks of the cryptography library): an
# app built again in the same process (tests, a reload) reuses what was loaded. Bounded.
@functools.lru_cache(maxsize=4)
def upstream_for(config: EidConfig) -> EidUpstream:
    """The eID login of that configuration, its stores in the database (shared by the nodes)."""
    return EidUpstream(config, DatabaseRequestStore(fas.UPSTREAM), DatabaseSeenStore(fas.UPSTREAM))


def _build(settings: Any, site: Site) -> EidUpstream:
    return upstream_for(config_for(settings, site))


PLUGIN = Plugin(name=fas.UPSTREAM, settings=EidSettings, factory=_build)
