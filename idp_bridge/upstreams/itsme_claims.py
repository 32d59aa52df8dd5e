"""itsme's claims, mapped in this one place: the ID token checks and the VerifiedIdentity.

The national register number arrives in ``http://itsme.services/v2/claim/BENationalNumber``
(scope ``eid``), the names in ``given_name`` and ``family_name``, the app language in
``locale``. The level itsme applied is ``acr``: basic (code or fingerprint) is eIDAS
substantial, advanced (the itsme code) is eIDAS high.
"""

from __future__ import annotations

from collections.abc import Mapping

from stdnum.be import nn

from authz import constant_time
from idp_bridge.shared.identity import LOA_HIGH, LOA_SUBSTANTIAL, VerifiedIdentity
from idp_bridge.upstreams.base import UpstreamError

UPSTREAM = "itsme"
CLAIM_NRN = "http://itsme.services/v2/claim/BENationalNumber"
ACR_BASIC = "http://itsme.services/v2/claim/acr_basic"
ACR_ADVANCED = "http://itsme.services/v2/claim/acr_advanced"
ACR_VALUES = {"basic": ACR_BASIC, "advanced": ACR_ADVANCED}
# basic lets the person use a fingerprint or the itsme code, advanced forces the code.
LOA_OF_LEVEL = {"basic": LOA_SUBSTANTIAL, "advanced": LOA_HIGH}
_RANK = {"basic": 1, "advanced": 2}
# itsme's pages write the URIs "v2" and, in places, "V2": the level is read without case.
_LEVEL_OF_ACR = {uri.casefold(): level for level, uri in ACR_VALUES.items()}
LANGUAGES = ("fr", "nl", "de", "en")
# Asked for in the ID token, so that no userinfo call is needed (as itsme recommends).
REQUESTED_CLAIMS = {
    "id_token": {
        "given_name": None,
        "family_name": None,
        "locale": None,
        CLAIM_NRN: {"essential": True},
    }
}


def check_id_token_claims(
    claims: Mapping, *, issuer: str, client_id: str, nonce: str, now: float, skew: int, max_age: int
) -> None:
    """OpenID Connect Core 3.1.3.7, steps 2 to 4 and 9 to 11 (the signature is checked before)."""
    if claims.get("iss") != issuer:
        raise UpstreamError("invalid", "ID token from another issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise UpstreamError("invalid", "ID token meant for another client")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise UpstreamError("invalid", "ID token for several audiences without us as azp")
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)
    if not all(_is_time(value) for value in (exp, iat, nbf)):
        raise UpstreamError("invalid", "ID token exp and iat must be numeric dates")
    if now >= exp + skew:
        raise UpstreamError("invalid", "ID token expired")
    if iat > now + skew or nbf > now + skew:
        raise UpstreamError("invalid", "ID token issued in the future")
    if now - iat > max_age + skew:
        raise UpstreamError("invalid", "ID token issued too long ago")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not constant_time.equal(token_nonce, nonce):
        raise UpstreamError("invalid", "ID token nonce does not match the login")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UpstreamError("invalid", "ID token without sub")


def to_identity(
    claims: Mapping, *, requested_level: str, session_ref: str, extra: Mapping[str, str]
) -> VerifiedIdentity:
    """itsme's claims as our one internal identity."""
    raw_nrn = claims.get(CLAIM_NRN)
    nrn = nn.compact(raw_nrn) if isinstance(raw_nrn, str) else ""
    if not (nrn.isdigit() and nn.is_valid(nrn)):
        raise UpstreamError("invalid", "no valid national register number in the ID token")
    given, family = claims.get("given_name", ""), claims.get("family_name")
    if not isinstance(given, str) or not isinstance(family, str) or not family.strip():
        raise UpstreamError("invalid", "the ID token lacks the person's names")
    level = requested_level
    if "acr" in claims:
        acr = claims["acr"]
        level = _LEVEL_OF_ACR.get(acr.casefold()) if isinstance(acr, str) else None
        if level is None:
            raise UpstreamError("invalid", "unknown acr in the ID token")
    # Without acr, the level is the one asked for: the request object that asked for it was
    # signed and encrypted, so nobody on the way could lower it.
    if _RANK[level] < _RANK[requested_level]:
        raise UpstreamError("invalid", f"asked for {requested_level}, itsme did {level}")
    amr = claims.get("amr")
    if not (isinstance(amr, list) and 0 < len(amr) <= 10 and all(isinstance(a, str) for a in amr)):
        amr = ["mfa"]  # a phone that holds the key, unlocked by a code or a fingerprint
    locale = claims.get("locale")
    language = locale.lower() if isinstance(locale, str) and locale.lower() in LANGUAGES else None
    return VerifiedIdentity(
        nrn=nrn,
        given_name=given.strip(),
        family_name=family.strip(),
        acr=LOA_OF_LEVEL[level],
        amr=tuple(amr),
        upstream=UPSTREAM,
        session_ref=session_ref,
        language=language,
        extra={**extra, "itsme_sub": claims["sub"], "itsme_acr": ACR_VALUES[level]},
    )


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
