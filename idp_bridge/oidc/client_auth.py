"""Client authentication at the token, revocation and introspection endpoints (OAuth).

Which client is calling is decided by ``authz.client_auth`` for every endpoint alike
(``client_secret_basic``, ``private_key_jwt``, ``none``; one method per request, the registered
one). This module reads the OAuth request for it, verifies ``private_key_jwt`` assertions for
it, and turns its refusals into OAuth errors: ``invalid_client`` (401, with a challenge), or
``invalid_request`` (400) for a malformed request.

``private_key_jwt`` (RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9): a JWT that
the client signed (RS256, PS256 or ES256) with a key it registered, inline or at its
``jwks_uri``; ``iss`` and ``sub`` are its client_id, ``aud`` names the token endpoint or the
issuer, it lives a few minutes at most and its ``jti`` is accepted once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cachetools import LRUCache
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import json_b64decode

from authz.client_auth import ClientAuthentication, ClientAuthError, Credentials, Lookup
from authz.clients import RegisteredClient, find_client
from idp_bridge.oidc.client_keys import KeySource, KeysUnavailable, RemoteKeys, StaticKeys
from idp_bridge.oidc.errors import OAuthError, invalid_client, invalid_request, single_param
from idp_bridge.shared.client_assertion import ASSERTION_TYPE
from idp_bridge.shared.stores import SeenStore
from idp_bridge.shared.transport import Transport, urllib_transport

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "PS256", "ES256")
SKEW = 60  # seconds of clock difference tolerated between the client and us
MAX_ASSERTION = 16_384
MAX_JTI = 255
KEY_SOURCES = 1000  # clients whose parsed or fetched keys are kept in memory

_REGISTRY = jws.JWSRegistry(algorithms=list(ALGORITHMS))


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
        lookup: Lookup = find_client,
    ):
        self.assertions = JwtAssertions(
            frozenset((token_endpoint, issuer)),
            seen,
            transport=transport,
            clock=clock,
            max_assertion_lifetime=max_assertion_lifetime,
            jwks_ttl=jwks_ttl,
            jwks_min_refetch_interval=jwks_min_refetch_interval,
            key_cache_size=key_cache_size,
        )
        self._authentication = ClientAuthentication(lookup, assertions=self.assertions, public=True)

    def authenticate(
        self, form: Mapping[str, str], authorization_header: str | None
    ) -> RegisteredClient:
        """The enabled client that authenticated with the registered method, or OAuthError."""
        credentials = Credentials(
            authorization=authorization_header,
            client_id=single_param(form, "client_id"),
            client_secret=single_param(form, "client_secret"),
            assertion=single_param(form, "client_assertion"),
            assertion_type=single_param(form, "client_assertion_type"),
        )
        try:
            return self._authentication.authenticate(credentials)
        except ClientAuthError as exc:
            raise oauth_error(exc) from None


def oauth_error(exc: ClientAuthError) -> OAuthError:
    """A refused client authentication as OAuth answers it (RFC 6749 section 5.2)."""
    return invalid_request(exc.description) if exc.malformed else invalid_client(exc.description)


class JwtAssertions:
    """Verifies ``private_key_jwt`` assertions: the signature with a key the client
    registered, the claims, and that each ``jti`` is used once (``authz.client_auth`` calls
    it once it knows the client)."""

    def __init__(
        self,
        audiences: frozenset[str],
        seen: SeenStore,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        max_assertion_lifetime: int = 300,
        jwks_ttl: float = 3600,
        jwks_min_refetch_interval: float = 60,
        key_cache_size: int = KEY_SOURCES,
    ):
        self.audiences = audiences
        self.max_assertion_lifetime = max_assertion_lifetime
        self._seen, self._clock = seen, clock
        self._transport = transport if transport is not None else urllib_transport()
        self._jwks_ttl, self._jwks_min_interval = jwks_ttl, jwks_min_refetch_interval
        self._sources: LRUCache[tuple[str, str, str], KeySource] = LRUCache(key_cache_size)
        self._lock = threading.Lock()

    def issuer(self, assertion: str | None, assertion_type: str | None) -> str:
        """The client the assertion claims to be from, after the checks that need no key."""
        if assertion_type != ASSERTION_TYPE:
            raise ClientAuthError(f"unsupported client_assertion_type: use {ASSERTION_TYPE}")
        header, unverified = _unverified_parts(assertion or "")
        alg = header.get("alg")
        # Before any key is touched: "none" and HMAC (keyed with what?) never get further.
        if alg not in ALGORITHMS:
            raise ClientAuthError(
                f"client assertion algorithm refused: use {', '.join(ALGORITHMS)}"
            )
        if "crit" in header or "b64" in header:
            raise ClientAuthError("client assertion header parameters not supported: crit, b64")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ClientAuthError("the kid of the client assertion must be a string")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ClientAuthError("the client assertion has no iss")
        return iss

    def verify(self, client: RegisteredClient, assertion: str) -> None:
        header, _unverified = _unverified_parts(assertion)
        alg, kid = header.get("alg"), header.get("kid")
        try:
            key = self._key_source(client).find(kid, alg)
        except KeysUnavailable:
            raise ClientAuthError("the public keys of the client could not be read") from None
        if key is None:
            raise ClientAuthError("no key registered by the client fits the assertion kid and alg")
        try:
            payload = jws.deserialize_compact(assertion, key, registry=_REGISTRY).payload
            claims = json.loads(payload)
        except (JoseError, ValueError, TypeError):
            raise ClientAuthError("the signature of the client assertion does not verify") from None
        if not isinstance(claims, dict):
            raise ClientAuthError("the client assertion is not a JWT")
        self._check_claims(client.client_id, claims)

    def _check_claims(self, client_id: str, claims: dict[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise ClientAuthError("iss and sub of the client assertion must both be the client_id")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in self.audiences for a in audiences):
            raise ClientAuthError("the aud of the client assertion must name the token endpoint")
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not _is_time(exp):
            raise ClientAuthError("the client assertion needs an exp (a NumericDate)")
        if not all(value is None or _is_time(value) for value in (iat, nbf)):
            raise ClientAuthError("iat and nbf of the client assertion must be NumericDates")
        if exp <= now - SKEW:
            raise ClientAuthError("the client assertion has expired")
        if (iat is not None and iat > now + SKEW) or (nbf is not None and nbf > now + SKEW):
            raise ClientAuthError("the client assertion is not valid yet")
        # Measured from iat when there is one (both dates from the client's clock), else from
        # our clock, give or take the skew.
        lifetime = exp - iat if iat is not None else exp - now - SKEW
        if lifetime > self.max_assertion_lifetime:
            raise ClientAuthError(
                f"the client assertion may live {self.max_assertion_lifetime} seconds at most"
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise ClientAuthError(f"the client assertion needs a jti of 1 to {MAX_JTI} characters")
        # Kept until the assertion can no longer be accepted, skew included. A JSON pair keeps
        # ("a:b", "c") and ("a", "b:c") apart.
        if not self._seen.add(json.dumps([client_id, jti]), float(exp) + SKEW):
            raise ClientAuthError("this client assertion was already used")

    def _key_source(self, client: RegisteredClient) -> KeySource:
        if client.jwks:
            digest = hashlib.sha256(client.jwks.encode()).hexdigest()
            cache_key = ("jwks", client.client_id, digest)
        elif client.jwks_uri:
            cache_key = ("jwks_uri", client.client_id, client.jwks_uri)
        else:
            raise ClientAuthError("the client has registered no public keys")
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


def _unverified_parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims read before verification: only to pick the client and its key."""
    parts = assertion.split(".")
    if len(assertion) > MAX_ASSERTION or len(parts) != 3:
        raise ClientAuthError("the client assertion must be a signed JWT (JWS compact)")
    try:
        header, claims = (json_b64decode(part.encode("ascii")) for part in parts[:2])
    except (ValueError, TypeError):
        raise ClientAuthError("the client assertion is not a readable JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ClientAuthError("the client assertion is not a readable JWT")
    return header, claims


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
