"""pyop's ``Provider``, built in one place with this service's parts around it.

pyop handles the protocol messages (OpenID Connect Core 1.0: authentication requests, ID
tokens, token and userinfo responses). What it is given here:

- **clients**: the registered relying parties (``authz.clients.RegisteredClient``), read from the
  database as OpenID Connect Registration 1.0 metadata (:class:`ClientDirectory`); a disabled
  client is unknown;
- **userinfo**: a person's standard claims (Core 5.1) by NRN, the local user id
  (:class:`PersonClaims`); the NRN itself is a claim only for clients allowed to receive it;
- **subject identifiers**: pairwise by default (Core 8.1), from an HMAC under a salt kept in
  the database: stable across nodes and across changes of the app's secret key
  (:class:`SubjectIdentifiers`);
- **the signing key**: the current key of ``idp_bridge.oidc.keys``, refreshed before each use
  so that a rotation made on any node is followed (:meth:`OpenIdProvider.provider`).

The discovery document (OpenID Connect Discovery 1.0, section 3) says what is supported and
nothing more (:func:`discovery`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flask import current_app, g, has_app_context, has_request_context
from joserfc import jws
from joserfc.jwk import RSAKey
from jwkest.jwk import RSAKey as JwkestRSAKey
from jwkest.jwk import import_rsa_key
from jwkest.jws import left_hash
from oic.oic.message import IdToken
from peewee import IntegrityError
from pyop.provider import Provider
from pyop.subject_identifier import SubjectIdentifierFactory
from pyop.userinfo import Userinfo

from authz import db
from authz.clients import RegisteredClient, enabled_client, enabled_client_ids
from authz.persons import find_person
from idp_bridge.oidc.keys import KeyStore
from idp_bridge.oidc.models import ProviderState

if TYPE_CHECKING:
    from authz.kept import KeptUntilRevoked

ID_TOKEN_LIFETIME = 300  # seconds
# Scopes beyond openid and profile, and the claims each one releases (Core 5.4).
EXTRA_SCOPES = {
    "nrn": ["nrn"],  # only for clients allowed to receive it (RegisteredClient.may_receive_nrn)
    "enterprise": ["espace", "represents"],  # the espace chooser
}
SCOPES = ("openid", "profile", *EXTRA_SCOPES)
CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "given_name",
    "family_name",
    "name",
    "locale",
    "nrn",
    "espace",
    "represents",
    "sid",
)
ACR_VALUES = ("http://eidas.europa.eu/LoA/substantial", "http://eidas.europa.eu/LoA/high")
AUTH_METHODS = ("client_secret_basic", "private_key_jwt", "none")
ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256")
UI_LOCALES = ("fr", "nl", "de", "en")

PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
    "end_session_endpoint": "/logout/rp",
}


def discovery(issuer: str) -> dict[str, Any]:
    """The provider's metadata: the code flow only, PKCE S256 only, RFC 9207's ``iss``."""
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in PATHS.items()},
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES),
        "claims_supported": list(CLAIMS),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "acr_values_supported": list(ACR_VALUES),
        "ui_locales_supported": list(UI_LOCALES),
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


# The clients read in a request answered below Flask (the fast lane): what g holds in Flask's.
_lane_clients: ContextVar[dict[str, RegisteredClient | None] | None] = ContextVar(
    "monespace_oidc_lane_clients", default=None
)


def request_client(client_id: str | None) -> RegisteredClient | None:
    """The enabled client, read once per request: pyop looks a client up several times while
    answering one request (17 reads of the client table in a login), and a registration
    changed meanwhile is seen by the next request, as if the request had come a moment sooner.
    Within a Flask request the record comes from the provider's client cache (as at the token
    endpoint: a change made on another node is seen within ``edge.CLIENT_CACHE_SECONDS``, one
    made through this process at once)."""
    seen = _lane_clients.get()
    if seen is None:
        if not client_id or not has_request_context():
            return enabled_client(client_id)
        seen = g.setdefault("monespace_clients", {})
    if not client_id:
        return enabled_client(client_id)
    if client_id not in seen:
        seen[client_id] = _cached_enabled_client(client_id)
    return seen[client_id]


def _cached_enabled_client(client_id: str) -> RegisteredClient | None:
    from idp_bridge.oidc.edge import EXTENSION  # the edge builds this module's provider

    edge = current_app.extensions.get(EXTENSION) if has_app_context() else None
    if edge is None or not isinstance(client_id, str):
        return enabled_client(client_id)
    client = edge.clients.get(client_id)
    return client if client is not None and client.is_enabled else None


def remember_client(client: RegisteredClient) -> None:
    """``client``, just read and authenticated in this request, is what :func:`request_client`
    answers for its id until the request ends."""
    seen = _lane_clients.get()
    if seen is not None:
        seen[client.client_id] = client
    elif has_request_context():
        g.setdefault("monespace_clients", {})[client.client_id] = client


@contextmanager
def clients_remembered() -> Iterator[None]:
    """A request answered outside Flask's request context (the fast lane): within the block,
    :func:`request_client` reads each client once and :func:`remember_client` is heard, as in
    a Flask request."""
    token = _lane_clients.set({})
    try:
        yield
    finally:
        _lane_clients.reset(token)


class ClientDirectory(Mapping):
    """The enabled clients, as pyop reads client metadata (Registration 1.0, section 2)."""

    def __getitem__(self, client_id: str) -> dict[str, Any]:
        client = request_client(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise KeyError(client_id)
        metadata: dict[str, Any] = {
            "client_id": client.client_id,
            "client_name": client.name,
            "redirect_uris": list(client.redirect_uris),
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": client.auth_method,
            "subject_type": client.subject_type,
            "id_token_signed_response_alg": "RS256",
        }
        if client.backchannel_logout_uri:
            metadata["backchannel_logout_uri"] = client.backchannel_logout_uri
            metadata["backchannel_logout_session_required"] = True
        if client.sector_identifier:
            # pyop takes the host of this URI as the sector of pairwise subjects.
            metadata["sector_identifier_uri"] = f"https://{client.sector_identifier}/"
        return metadata

    def __contains__(self, client_id: object) -> bool:
        return isinstance(client_id, str) and request_client(client_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(enabled_client_ids())

    def __len__(self) -> int:
        return len(enabled_client_ids())


_known_person: ContextVar[Any] = ContextVar("monespace_known_person", default=None)


@contextmanager
def person_known(person: Any) -> Iterator[None]:
    """Within the block, :class:`PersonClaims` answers for ``person`` (a row read by the
    request under way, as the login session's person) without reading it again: pyop asks
    for the claims of the person it issues a code to twice."""
    token = _known_person.set(person)
    try:
        yield
    finally:
        _known_person.reset(token)


class PersonClaims(Mapping):
    """A person's standard claims (Core 5.1) by NRN, the provider's local user id; kept by
    ``kept`` when given (until a person's change is announced: :mod:`authz.persons`)."""

    def __init__(self, kept: KeptUntilRevoked[dict[str, Any]] | None = None):
        self._kept = kept

    def __getitem__(self, nrn: str) -> dict[str, Any]:
        known = _known_person.get()
        if known is not None and isinstance(nrn, str) and known.nrn == nrn:
            claims = _claims(known)
        else:
            claims = self._claims(nrn)
        if claims is None:
            raise KeyError(nrn)
        return dict(claims)

    def __contains__(self, nrn: object) -> bool:
        return self._claims(nrn) is not None

    def _claims(self, nrn: object) -> dict[str, Any] | None:
        if not isinstance(nrn, str):
            return None

        def read() -> dict[str, Any] | None:
            with db.connection():
                person = find_person(nrn)
            return None if person is None else _claims(person)

        return read() if self._kept is None else self._kept.read(nrn, read)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("persons are looked up by NRN, never listed")

    def __len__(self) -> int:
        raise TypeError("persons are looked up by NRN, never counted")


def _claims(person: Any) -> dict[str, Any]:
    return {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "name": person.display_name,
        "locale": person.language,
        "nrn": person.nrn,
    }


class SubjectIdentifiers(SubjectIdentifierFactory):
    """``sub`` values (Core 8): an HMAC-SHA256 of the NRN, per sector for pairwise ones, so
    that two relying parties cannot link a person by ``sub`` and nobody can recover the NRN."""

    def __init__(self, salt: bytes):
        self._salt = salt

    def create_public_identifier(self, user_id: str) -> str:
        return self._mac(f"public\x00{user_id}")

    def create_pairwise_identifier(self, user_id: str, sector_identifier: str) -> str:
        return self._mac(f"pairwise\x00{sector_identifier}\x00{user_id}")

    def _mac(self, message: str) -> str:
        return hmac.new(self._salt, message.encode("utf-8"), hashlib.sha256).hexdigest()


_SETTINGS = "provider"
_SUBJECT_SALT = "subject_salt"


def subject_salt() -> bytes:
    """The salt of subject identifiers: generated once, in the database, the same on every
    node. Changing it would change every ``sub`` relying parties know."""
    with db.connection():
        with db.transaction():
            try:
                with db.database.atomic():
                    ProviderState.create(
                        collection=_SETTINGS,
                        key=_SUBJECT_SALT,
                        value=json.dumps({"salt": secrets.token_hex(32)}),
                    )
            except IntegrityError:
                pass  # another node made it first: use that one
        row = ProviderState.get(
            (ProviderState.collection == _SETTINGS) & (ProviderState.key == _SUBJECT_SALT)
        )
    return bytes.fromhex(json.loads(row.value)["salt"])


def _frozen(value: Any) -> Any:
    """``value`` with its lists as tuples and its mappings read-only, all the way down."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def jwkest_key(key) -> JwkestRSAKey:
    """A joserfc private RSA key as the jwkest key pyop signs with."""
    pem = key.as_pem(private=True)
    return JwkestRSAKey(key=import_rsa_key(pem), kid=key.kid, use="sig", alg="RS256")


class SigningProvider(Provider):
    """pyop's ``Provider``, its ID tokens signed by OpenSSL (``cryptography``, through joserfc)
    rather than by jwkest's pycryptodome: the same RS256 signature (PKCS #1 v1.5 is
    deterministic), a quarter of the CPU (about 0.3 ms instead of 1.1 ms for a 2048-bit key).
    ``id_token_key`` is the signing key (joserfc's); the claims are pyop's, built as its
    ``_create_signed_id_token`` builds them."""

    id_token_key: RSAKey | None = None
    _frozen_configuration: Mapping[str, Any] | None = None

    def freeze_configuration(self) -> None:
        """From now on, :attr:`provider_configuration` is one read-only copy of the
        configuration as it stands (call it once it is complete)."""
        self._frozen_configuration = MappingProxyType(
            {k: _frozen(v) for k, v in self.configuration_information.to_dict().items()}
        )

    @property
    def provider_configuration(self) -> Mapping[str, Any]:
        """pyop deep-copies the whole configuration each time it reads it (its scope check of
        every authentication request, about 0.2 ms): once frozen, the same read-only copy (a
        mapping, not oic's ``Message``: the discovery document is served by
        :func:`discovery`)."""
        if self._frozen_configuration is None:
            return super().provider_configuration
        return self._frozen_configuration

    def _create_signed_id_token(
        self,
        client_id,
        sub,
        user_claims=None,
        nonce=None,
        authorization_code=None,
        access_token_value=None,
        extra_id_token_claims=None,
    ) -> str:
        key = self.id_token_key
        alg = self.clients[client_id].get(
            "id_token_signed_response_alg",
            self.configuration_information["id_token_signing_alg_values_supported"][0],
        )
        if key is None or alg != "RS256":
            return super()._create_signed_id_token(
                client_id,
                sub,
                user_claims,
                nonce,
                authorization_code,
                access_token_value,
                extra_id_token_claims,
            )
        args: dict[str, Any] = {}
        if authorization_code:
            args["c_hash"] = left_hash(authorization_code.encode("utf-8"), "HS256")
        if access_token_value:
            args["at_hash"] = left_hash(access_token_value.encode("utf-8"), "HS256")
        args.update(user_claims or {})
        args.update(extra_id_token_claims or {})
        now = int(time.time())
        id_token = IdToken(
            iss=self.configuration_information["issuer"],
            sub=sub,
            aud=client_id,
            iat=now,
            exp=now + self.id_token_lifetime,
            **args,
        )
        if nonce:
            id_token["nonce"] = nonce
        header = {"alg": "RS256", "kid": key.kid}
        return jws.serialize_compact(header, id_token.to_json(), key, algorithms=["RS256"])


class OpenIdProvider:
    """The provider of one app: pyop's ``Provider``, its state and its keys."""

    def __init__(
        self,
        issuer: str,
        keys: KeyStore,
        authz_state: Any,
        persons: KeptUntilRevoked[dict[str, Any]] | None = None,
    ):
        self.issuer = issuer
        self.keys = keys
        self._lock = threading.Lock()
        self._kid: str | None = None
        configuration = discovery(issuer)
        # oic checks that the issuer is https when the provider is built; the demo is served
        # over plain http, so the check is made on the https spelling and the real issuer
        # (the one in ID tokens) set afterwards. Production refuses a non-https base URL.
        checked = {
            k: v.replace("http://", "https://", 1) if isinstance(v, str) else v
            for k, v in configuration.items()
        }
        self._provider = SigningProvider(
            signing_key=None,
            configuration_information=checked,
            authz_state=authz_state,
            clients=ClientDirectory(),
            userinfo=Userinfo(PersonClaims(persons)),
            id_token_lifetime=ID_TOKEN_LIFETIME,
            extra_scopes=EXTRA_SCOPES,
        )
        self._provider.configuration_information.update(configuration)
        self._provider.freeze_configuration()

    def provider(self) -> Provider:
        """pyop's provider, signing with the current key (followed within the key cache's
        time when another node rotates)."""
        key = self.keys.signing_key()
        with self._lock:
            if key.kid != self._kid:
                self._provider.signing_key = jwkest_key(key)
                self._provider.id_token_key = key
                self._kid = key.kid
        return self._provider

    def configuration(self) -> dict[str, Any]:
        return discovery(self.issuer)

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()
