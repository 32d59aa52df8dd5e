"""``id_token_hint``: an ID token this provider issued, sent back by the client that received
it (OpenID Connect Core 1.0 section 3.1.2.1; RP-Initiated Logout 1.0 section 2).

A hint counts only if it verifies against this provider's published keys (the current key,
and the previous one after a rotation: ``idp_bridge.oidc.keys``), with RS256, the algorithm
ID tokens are signed with: a hint with ``alg: none`` or any other algorithm is refused, as is
one from another issuer or with more than one audience. An expired hint is accepted: Core
3.1.2.1 says the hint may be sent "whether or not the ID Token is still valid", and a client
typically holds an expired one when it asks again.
"""

from __future__ import annotations

import logging
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

logger = logging.getLogger(__name__)


class InvalidHint(Exception):
    """The hint is not an ID token of this provider."""


def verify(hint: str, *, issuer: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The hint's claims, with ``client_id`` (its single audience); :class:`InvalidHint`
    when it was not signed by this provider's keys with RS256 or names another issuer."""
    try:
        token = jwt.decode(hint, KeySet.import_key_set(jwks), algorithms=["RS256"])
    except (JoseError, ValueError, TypeError) as exc:
        logger.warning("id_token_hint refused: it does not verify (%s)", exc)
        raise InvalidHint("the id_token_hint was not issued by this provider") from None
    claims = token.claims
    audience = claims.get("aud")
    audience = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != issuer or len(audience) != 1 or not isinstance(audience[0], str):
        logger.warning("id_token_hint refused: another issuer, or not one audience")
        raise InvalidHint("the id_token_hint was not issued by this provider")
    if not isinstance(claims.get("sub"), str):
        raise InvalidHint("the id_token_hint has no subject")
    return {**claims, "client_id": audience[0]}
