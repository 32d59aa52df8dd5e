"""Client authentication at the token endpoint.

- ``client_secret_basic`` (RFC 6749 section 2.3.1): HTTP Basic, the client_id and the secret
  each form-url-encoded before base64; the secret is checked in constant time against its
  salted hash (``authz.clients.verify_secret``).
- ``private_key_jwt`` (RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9): a JWT that
  the client signed (RS256, PS256 or ES256) with a key it registered, inline or at its
  ``jwks_uri``; ``iss`` and ``sub`` are its client_id, ``aud`` names the token endpoint or the
  issuer, it lives a few minutes at most and its ``jti`` is accepted once.
- ``none``: a public client names itself with ``client_id`` in the form. Nothing authenticates
  it; PKCE, enforced by the token endpoint, is what binds the code to it.

``client_secret_post`` is refused: secrets travel only in the Authorization header, which
servers and proxies know not to log. A request uses exactly one method (RFC 6749 section 2.3),
and it must be the method the client registered. Every authentication failure is
``invalid_client`` (401); only a malformed request is ``invalid_request`` (400).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from cachetools import LRUCache
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import json_b64decode

from authz import db
from authz.clients import hash_secret, verify_secret
from authz.models import Client
from idp_bridge.oidc.client_keys import KeySource, KeysUnavailable, RemoteKeys, StaticKeys
from idp_bridge.oidc.errors import invalid_client, invalid_request, single_param
from idp_bridge.shared.client_assertion import ASSERTION_TYPE
from idp_bridge.shared.stores import SeenStore
from idp_bridge.shared.transport import Transport, urllib_transport

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "PS256", "ES256")
SKEW = 60  # seconds of clock difference tolerated between the client and us
MAX_CLIENT_ID = 255
MAX_AUTHORIZATION = 4096
MAX_ASSERTION = 16_384
MAX_JTI = 255
KEY_SOURCES = 1000  # clients whose parsed or fetched keys are kept in memory

_REGISTRY = jws.JWSRegistry(algorithms=list(ALGORITHMS))
# Checked when the client_id is unknown, so that an unknown client costs the same time as a
# wrong secret.
_NO_CLIENT = Client(secret_hash=hash_secret(secrets.token_urlsafe(32)))
_GENERIC_BASIC_FAILURE = "unknown client, wrong secret or disabled client"


class ClientAuthenticator:
    """Authenticates the client of a token (or revocation, introspection) request.

    ``seen`` records assertion ids until they expire; a database store lets every node see
    every other node's. ``transport`` fetches ``jwks_uri`` documents (default: HTTPS over
    urllib). The keys of the last ``key_cache_size`` clients seen stay parsed (and fetched) in
    memory; a client pushed out is read again when it comes back.
    """

    def __init__(
        self,
        token_endpoint: str,
        issuer: str,
        seen: SeenStore,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        max_assertion_lifetime: int = 300,
        jwks_ttl: float = 3600,
        jwks_min_refetch_interval: float = 60,
        key_cache_size: int = KEY_SOURCES,
    ):
        self.audiences = frozenset((token_endpoint, issuer))
        self.max_assertion_lifetime = max_assertion_lifetime
        self._seen, self._clock = seen, clock
        self._transport = transport if transport is not None else urllib_transport()
        self._jwks_ttl, self._jwks_min_interval = jwks_ttl, jwks_min_refetch_interval
        self._sources: LRUCache[tuple[str, str, str], KeySource] = LRUCache(key_cache_size)
        self._lock = threading.Lock()

    def authenticate(self, form: Mapping[str, str], authorization_header: str | None) -> Client:
        """The enabled client that authenticated with the registered method, or OAuthError."""
        form_client_id = single_param(form, "client_id")
        secret = single_param(form, "client_secret")
        assertion = single_param(form, "client_assertion")
        assertion_type = single_param(form, "client_assertion_type")
        basic = bool(authorization_header and authorization_header.strip())
        jwt = assertion is not None or assertion_type is not None
        if basic + (secret is not None) + jwt > 1:
            raise invalid_request("use exactly one client authentication method per request")
        if basic:
            return self._basic(authorization_header or "", form_client_id)
        if secret is not None:
            raise invalid_client(
                "client_secret_post is not supported: send client_id and client_secret "
                "in the Authorization header (HTTP Basic, client_secret_basic)"
            )
        if jwt:
            return self._private_key_jwt(assertion, assertion_type, form_client_id)
        if form_client_id is not None:
            return self._public(form_client_id)
        raise invalid_client("client authentication is required")

    # -- client_secret_basic -----------------------------------------------------------

    def _basic(self, header: str, form_client_id: str | None) -> Client:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client("unsupported authorization scheme: use HTTP Basic")
        try:
            if len(credentials) > MAX_AUTHORIZATION:
                raise ValueError("too long")
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not UTF-8 (UnicodeDecodeError)
            raise invalid_client("malformed HTTP Basic credentials") from None
        client_id, colon, secret = decoded.partition(":")
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if not colon or not client_id:
            raise invalid_client("malformed HTTP Basic credentials")
        if form_client_id is not None and form_client_id != client_id:
            raise invalid_client("the client_id of the form is not the one authenticated")
        client = _lookup(client_id)
        if client is not None and client.is_enabled:
            _require_method(client, "client_secret_basic")
        if client is None:
            verify_secret(_NO_CLIENT, secret)  # the time a wrong secret would take
            raise invalid_client(_GENERIC_BASIC_FAILURE)
        if not verify_secret(client, secret):
            raise invalid_client(_GENERIC_BASIC_FAILURE)
        return client

    # -- none ---------------------------------------------------------------------------

    def _public(self, client_id: str) -> Client:
        client = _enabled(client_id)
        _require_method(client, "none")
        return client

    # -- private_key_jwt ----------------------------------------------------------------

    def _private_key_jwt(
        self, assertion: str | None, assertion_type: str | None, form_client_id: str | None
    ) -> Client:
        if assertion is None or assertion_type is None:
            raise invalid_request("client_assertion and client_assertion_type go together")
        if assertion_type != ASSERTION_TYPE:
            raise invalid_client(f"unsupported client_assertion_type: use {ASSERTION_TYPE}")
        header, unverified = _unverified_parts(assertion)
        alg = header.get("alg")
        # Before any key is touched: "none" and HMAC (keyed with what?) never get further.
        if alg not in ALGORITHMS:
            raise invalid_client(f"client assertion algorithm refused: use {', '.join(ALGORITHMS)}")
        if "crit" in header or "b64" in header:
            raise invalid_client("client assertion header parameters not supported: crit, b64")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_client("the kid of the client assertion must be a string")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise invalid_client("the client assertion has no iss")
        if form_client_id is not None and form_client_id != iss:
            raise invalid_client("the iss of the client assertion is not the client_id of the form")

        client = _enabled(iss)
        _require_method(client, "private_key_jwt")
        try:
            key = self._key_source(client).find(kid, alg)
        except KeysUnavailable:
            raise invalid_client("the public keys of the client could not be read") from None
        if key is None:
            raise invalid_client("no key registered by the client fits the assertion kid and alg")
        try:
            payload = jws.deserialize_compact(assertion, key, registry=_REGISTRY).payload
            claims = json.loads(payload)
        except (JoseError, ValueError, TypeError):
            raise invalid_client("the signature of the client assertion does not verify") from None
        if not isinstance(claims, dict):
            raise invalid_client("the client assertion is not a JWT")
        self._check_claims(client.client_id, claims)
        return client

    def _check_claims(self, client_id: str, claims: dict[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise invalid_client("iss and sub of the client assertion must both be the client_id")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in self.audiences for a in audiences):
            raise invalid_client("the aud of the client assertion must name the token endpoint")
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not _is_time(exp):
            raise invalid_client("the client assertion needs an exp (a NumericDate)")
        if not all(value is None or _is_time(value) for value in (iat, nbf)):
            raise invalid_client("iat and nbf of the client assertion must be NumericDates")
        if exp <= now - SKEW:
            raise invalid_client("the client assertion has expired")
        if (iat is not None and iat > now + SKEW) or (nbf is not None and nbf > now + SKEW):
            raise invalid_client("the client assertion is not valid yet")
        # Measured from iat when there is one (both dates from the client's clock), else from
        # our clock, give or take the skew.
        lifetime = exp - iat if iat is not None else exp - now - SKEW
        if lifetime > self.max_assertion_lifetime:
            raise invalid_client(
                f"the client assertion may live {self.max_assertion_lifetime} seconds at most"
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise invalid_client(f"the client assertion needs a jti of 1 to {MAX_JTI} characters")
        # Kept until the assertion can no longer be accepted, skew included. A JSON pair keeps
        # ("a:b", "c") and ("a", "b:c") apart.
        if not self._seen.add(json.dumps([client_id, jti]), float(exp) + SKEW):
            raise invalid_client("this client assertion was already used")

    def _key_source(self, client: Client) -> KeySource:
        if client.jwks:
            digest = hashlib.sha256(client.jwks.encode()).hexdigest()
            cache_key = ("jwks", client.client_id, digest)
        elif client.jwks_uri:
            cache_key = ("jwks_uri", client.client_id, client.jwks_uri)
        else:
            raise invalid_client("the client has registered no public keys")
        with self._lock:
            source = self._sources.get(cache_key)
        if source is not None:
            return source
        if client.jwks:
            try:
                source = StaticKeys(json.loads(client.jwks))
            except (KeysUnavailable, ValueError) as exc:
                logger.warning("client %s: registered JWKS unusable: %s", client.client_id, exc)
                raise KeysUnavailable(str(exc)) from exc
        else:
            uri = client.jwks_uri
            source = RemoteKeys(
                lambda: self._fetch(uri),
                ttl=self._jwks_ttl,
                min_refetch_interval=self._jwks_min_interval,
                clock=self._clock,
                label=client.client_id,
            )
        with self._lock:
            # Two first requests at once: one source wins, so one fetch schedule per client.
            return self._sources.setdefault(cache_key, source)

    def _fetch(self, uri: str) -> object:
        try:
            response = self._transport("GET", uri, None)
        except (ConnectionError, TimeoutError) as exc:
            raise KeysUnavailable(str(exc)) from exc
        if response.status != 200:
            raise KeysUnavailable(f"{uri} answered HTTP {response.status}")
        try:
            return json.loads(response.body)
        except (ValueError, RecursionError) as exc:
            raise KeysUnavailable(f"{uri} did not answer JSON") from exc


# -- helpers -----------------------------------------------------------------------------


def _lookup(client_id: str) -> Client | None:
    if len(client_id) > MAX_CLIENT_ID:
        return None
    with db.connection():
        return Client.get_or_none(Client.client_id == client_id)


def _enabled(client_id: str) -> Client:
    client = _lookup(client_id)
    if client is None or not client.is_enabled:
        raise invalid_client("unknown or disabled client")
    return client


def _require_method(client: Client, method: str) -> None:
    if client.auth_method != method:
        raise invalid_client(f"this client is registered to authenticate with {client.auth_method}")


def _unverified_parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims read before verification: only to pick the client and its key."""
    parts = assertion.split(".")
    if len(assertion) > MAX_ASSERTION or len(parts) != 3:
        raise invalid_client("the client assertion must be a signed JWT (JWS compact)")
    try:
        header, claims = (json_b64decode(part.encode("ascii")) for part in parts[:2])
    except (ValueError, TypeError):
        raise invalid_client("the client assertion is not a readable JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise invalid_client("the client assertion is not a readable JWT")
    return header, claims


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
