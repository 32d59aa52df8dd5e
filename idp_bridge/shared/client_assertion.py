"""RFC 7523 JWT client assertions: ``private_key_jwt`` client authentication.

OpenID Connect Core section 9: the client signs a short-lived JWT whose ``iss`` and ``sub``
are its ``client_id``, whose ``aud`` is the token endpoint, with a ``jti`` never used before
and an ``exp``. Our relying party makes them (itsme's token endpoint requires them); the
simulators check them, and so will our own provider for its clients.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Protocol

from joserfc.util import json_b64decode

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.nested_jwt import JoseFailure, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_LIFETIME = 60
MAX_LIFETIME = 300  # RFC 7523 3.: the server may refuse assertions that expire far ahead


class AssertionRefused(Exception):
    """The client assertion does not authenticate the client (OAuth error ``invalid_client``)."""


class SeenJti(Protocol):
    def add(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at``; False if it was already recorded."""


def make(
    client_id: str,
    audience: str,
    key: RSAKey,
    *,
    lifetime: int = DEFAULT_LIFETIME,
    clock: Callable[[], float] = time.time,
) -> str:
    """A fresh client assertion for ``audience`` (the token endpoint URL), signed with ``key``."""
    now = int(clock())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + lifetime,
    }
    return nested_jwt.sign(claims, key)


def verify(
    assertion: str,
    assertion_type: str,
    *,
    client_id: str | None,
    audience: str,
    resolve_key: Callable[[str, str | None], RSAKey | None],
    seen: SeenJti,
    clock: Callable[[], float] = time.time,
    leeway: int = 30,
) -> str:
    """Check a client assertion and return the authenticated ``client_id``.

    ``client_id`` is the one sent in the form, if any; ``resolve_key(client_id, kid)`` returns
    that client's registered signing key. The ``jti`` is recorded in ``seen`` until ``exp``: a
    second use of the same assertion is refused."""
    if assertion_type != ASSERTION_TYPE:
        raise AssertionRefused("client_assertion_type must be jwt-bearer")
    try:
        unverified_iss = _unverified_issuer(assertion)
    except JoseFailure as exc:
        raise AssertionRefused(str(exc)) from exc
    if client_id is not None and unverified_iss != client_id:
        raise AssertionRefused("the assertion was issued by another client")
    try:
        claims = nested_jwt.verify(assertion, lambda kid: resolve_key(unverified_iss, kid))
    except JoseFailure as exc:
        raise AssertionRefused(str(exc)) from exc
    now = clock()
    if claims.get("iss") != unverified_iss or claims.get("sub") != unverified_iss:
        raise AssertionRefused("iss and sub must both be the client_id")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise AssertionRefused("the assertion is meant for another audience")
    exp, iat = claims.get("exp"), claims.get("iat", now)
    if not _is_time(exp) or not _is_time(iat):
        raise AssertionRefused("exp (and iat, if present) must be numeric dates")
    if exp < now - leeway:
        raise AssertionRefused("the assertion has expired")
    if exp > now + MAX_LIFETIME + leeway or iat > now + leeway:
        raise AssertionRefused("the assertion is dated too far in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise AssertionRefused("a jti of 1 to 255 characters is required")
    if not seen.add(f"{unverified_iss}:{jti}", float(exp) + leeway):
        raise AssertionRefused("this assertion was already used")
    return unverified_iss


def _unverified_issuer(assertion: str) -> str:
    """The ``iss`` claim read before verification, only to pick the client's key."""
    parts = assertion.split(".") if isinstance(assertion, str) else []
    if len(parts) != 3:
        raise JoseFailure("the client assertion must be a signed JWT")
    try:
        iss = json_b64decode(parts[1].encode("ascii")).get("iss")
    except (ValueError, TypeError, AttributeError) as exc:
        raise JoseFailure("unreadable client assertion") from exc
    if not isinstance(iss, str) or not iss:
        raise JoseFailure("the client assertion has no iss")
    return iss


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
