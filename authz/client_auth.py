"""Client authentication: one way for every endpoint a registered client calls.

The token, revocation and introspection endpoints of the OpenID provider and the decision API
all ask :class:`ClientAuthentication` who is calling; each renders a refusal in its own
protocol's format (OAuth error JSON, AuthZEN error JSON) but the decision is the same:

- ``client_secret_basic`` (RFC 6749 section 2.3.1): HTTP Basic, the client_id and the secret
  each form-url-encoded before base64; the secret is checked in constant time against its
  salted hash. An unknown or disabled client costs the same hash as a wrong secret, and all
  three get the same answer, so neither the answer nor its time tells which it was.
- ``private_key_jwt`` (RFC 7523, OpenID Connect Core section 9): a JWT the client signed. Only
  the provider reads such assertions; it hands an :class:`AssertionVerifier` (signatures, keys,
  replay) and this module does the rest (the client, enabled, registered for the method).
- ``none``: a public client names itself; nothing authenticates it (PKCE binds its code).

A request uses exactly one method (RFC 6749 section 2.3), the one the client registered.
``client_secret_post`` is refused: secrets travel only in the Authorization header, which
servers and proxies know not to log.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_plus

from authz.clients import RegisteredClient, find_client, hash_secret, secret_matches

MAX_AUTHORIZATION = 4096  # characters of Basic credentials read at most
UNKNOWN_CLIENT = "unknown client, wrong secret or disabled client"
MALFORMED_BASIC = "malformed HTTP Basic credentials"
# Checked when the client is unknown or disabled, so that it costs the same time as a wrong
# secret.
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))

Lookup = Callable[[str], RegisteredClient | None]


class ClientAuthError(Exception):
    """A client that did not authenticate. ``malformed`` marks a request that is wrong rather
    than a client that failed (OAuth's ``invalid_request``, 400, instead of ``invalid_client``,
    401). The description is for the client's developers: never a secret, never an echo."""

    def __init__(self, description: str, *, malformed: bool = False):
        super().__init__(description)
        self.description = description
        self.malformed = malformed


@dataclass(frozen=True)
class Credentials:
    """What a request carries to authenticate its client, whatever the protocol: the
    ``Authorization`` header, and for OAuth requests the form's ``client_id``,
    ``client_secret``, ``client_assertion`` and ``client_assertion_type``."""

    authorization: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    assertion: str | None = None
    assertion_type: str | None = None


class AssertionVerifier(Protocol):
    """Reads and checks ``private_key_jwt`` client assertions (the provider's)."""

    def issuer(self, assertion: str | None, assertion_type: str | None) -> str:
        """The client the assertion claims to come from, read before any verification;
        :class:`ClientAuthError` for an assertion that cannot be one."""

    def verify(self, client: RegisteredClient, assertion: str) -> None:
        """Check the assertion with the client's registered keys, once; or raise
        :class:`ClientAuthError`."""


class ClientAuthentication:
    """Who is calling. ``lookup`` reads a client by id, enabled or not (the registry by
    default; the decision API passes one with a short-lived cache); ``assertions`` enables
    ``private_key_jwt``; ``public`` lets a public client name itself (``none``)."""

    def __init__(
        self,
        lookup: Lookup = find_client,
        *,
        assertions: AssertionVerifier | None = None,
        public: bool = False,
    ):
        self._lookup = lookup
        self._assertions = assertions
        self._public = public

    def authenticate(self, credentials: Credentials) -> RegisteredClient:
        """The enabled client that authenticated with its registered method, or
        :class:`ClientAuthError`."""
        header = credentials.authorization
        basic = bool(header and header.strip())
        secret_in_form = credentials.client_secret is not None
        jwt = credentials.assertion is not None or credentials.assertion_type is not None
        if basic + secret_in_form + jwt > 1:
            raise ClientAuthError(
                "use exactly one client authentication method per request", malformed=True
            )
        if basic:
            client_id, secret = basic_credentials(header or "")
            if credentials.client_id is not None and credentials.client_id != client_id:
                raise ClientAuthError("the client_id of the form is not the one authenticated")
            return self.basic(client_id, secret)
        if secret_in_form:
            raise ClientAuthError(
                "client_secret_post is not supported: send client_id and client_secret "
                "in the Authorization header (HTTP Basic, client_secret_basic)"
            )
        if jwt and self._assertions is not None:
            return self._private_key_jwt(credentials)
        if credentials.client_id is not None and self._public:
            client = self._enabled(credentials.client_id)
            _require_method(client, "none")
            return client
        raise ClientAuthError("client authentication is required")

    def basic(self, client_id: str, secret: str) -> RegisteredClient:
        """``client_secret_basic``, its credentials decoded (:func:`basic_credentials`)."""
        client = self._lookup(client_id) if client_id else None
        if client is None or not client.is_enabled:
            secret_matches(_DUMMY_HASH, secret)  # the time a wrong secret would take
            raise ClientAuthError(UNKNOWN_CLIENT)
        _require_method(client, "client_secret_basic")
        if not secret_matches(client.secret_hash, secret):
            raise ClientAuthError(UNKNOWN_CLIENT)
        return client

    def _private_key_jwt(self, credentials: Credentials) -> RegisteredClient:
        assert self._assertions is not None
        if credentials.assertion is None or credentials.assertion_type is None:
            raise ClientAuthError(
                "client_assertion and client_assertion_type go together", malformed=True
            )
        iss = self._assertions.issuer(credentials.assertion, credentials.assertion_type)
        if credentials.client_id is not None and credentials.client_id != iss:
            raise ClientAuthError(
                "the iss of the client assertion is not the client_id of the form"
            )
        client = self._enabled(iss)
        _require_method(client, "private_key_jwt")
        self._assertions.verify(client, credentials.assertion)
        return client

    def _enabled(self, client_id: str) -> RegisteredClient:
        client = self._lookup(client_id)
        if client is None or not client.is_enabled:
            raise ClientAuthError("unknown or disabled client")
        return client


def basic_credentials(header: str) -> tuple[str, str]:
    """The client_id and secret of an HTTP Basic ``Authorization`` header (RFC 7617), each
    form-url-decoded (RFC 6749 section 2.3.1); :class:`ClientAuthError` for another scheme or
    credentials that cannot be read."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ClientAuthError("unsupported authorization scheme: use HTTP Basic")
    try:
        if len(credentials) > MAX_AUTHORIZATION:
            raise ValueError("too long")
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not UTF-8 (UnicodeDecodeError)
        raise ClientAuthError(MALFORMED_BASIC) from None
    client_id, colon, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not colon or not client_id:
        raise ClientAuthError(MALFORMED_BASIC)
    return client_id, secret


def _require_method(client: RegisteredClient, method: str) -> None:
    if client.auth_method != method:
        raise ClientAuthError(
            f"this client is registered to authenticate with {client.auth_method}"
        )
