"""RFC 7636 Proof Key for Code Exchange (PKCE), S256 only.

- Authorization request (sections 4.3 and 4.4): :func:`check_challenge` reads
  ``code_challenge`` and ``code_challenge_method``. Only ``S256`` is accepted: ``plain``
  (section 4.2) puts the verifier itself in the front channel, and a challenge sent without a
  method means ``plain`` (section 4.3), so both are refused with the section 4.4.1 error. The
  challenge must be what S256 produces: 43 characters of base64url (section 4.2). A public
  client must send one (RFC 9700 section 2.1.1: nothing else binds the code to it); a
  confidential client may, and then it is enforced like a public client's.
- Token request (sections 4.5 and 4.6): :func:`verify` checks ``code_verifier`` against the
  challenge recorded with the code. A verifier sent for a code issued without a challenge is
  refused (RFC 9700 section 2.1.1, the PKCE downgrade): pyop accepts that request as it comes,
  so the check is made here, around it.

Parameters sent empty count as absent (RFC 6749 sections 3.1 and 3.2). Error descriptions
never echo what the client sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from idp_bridge.oidc.errors import OAuthError, single_param

METHOD = "S256"
METHODS_SUPPORTED = (METHOD,)  # discovery: code_challenge_methods_supported

# Section 4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# Section 4.2: BASE64URL(SHA256(...)) is 43 characters without padding. The 43rd carries the
# last 4 bits of the digest and two zero bits, so only 16 letters can end it; any other string
# can never equal an S256 output, and is refused before a code is issued for it. fullmatch,
# not match: "$" would let a trailing newline through.
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def s256(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` (section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(params: Mapping[str, str], *, public_client: bool) -> tuple[str, str] | None:
    """The ``(code_challenge, "S256")`` to record with the code, or None when a confidential
    client sent no challenge. Raises ``invalid_request``; a werkzeug ``MultiDict`` is checked
    for repeated parameters too (RFC 6749 section 3.1)."""
    challenge = single_param(params, "code_challenge")
    method = single_param(params, "code_challenge_method")
    if challenge is None:
        if method is not None:
            raise _invalid_request("code_challenge_method was sent without a code_challenge")
        if public_client:
            # Section 4.4.1: the error when the server requires PKCE and gets no challenge.
            raise _invalid_request("code challenge required: public clients must use PKCE (S256)")
        return None
    if method is None:
        raise _invalid_request(
            "code_challenge_method is required: without it the method is plain, which is "
            "not supported; use S256"
        )
    if method != METHOD:
        raise _invalid_request("transform algorithm not supported: use S256")
    if not CHALLENGE.fullmatch(challenge):
        raise _invalid_request(
            "code_challenge must be the S256 hash of the verifier: 43 characters of base64url"
        )
    return challenge, METHOD


def verify(verifier: str | None, challenge: str | None) -> None:
    """Check the token request's ``code_verifier`` against the ``challenge`` recorded with the
    code (None or empty: the code was issued without one). Raises ``invalid_grant``."""
    verifier = verifier or None
    if not challenge:
        if verifier is not None:
            raise _invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge"
            )
        return
    if verifier is None:
        raise _invalid_grant("code_verifier required: the authorization request used PKCE")
    if not isinstance(verifier, str) or not VERIFIER.fullmatch(verifier):
        raise _invalid_grant(
            "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'"
        )
    # Constant time: a timing difference would tell an attacker how much of a guess matched.
    if not hmac.compare_digest(s256(verifier).encode("ascii"), challenge.encode("utf-8")):
        raise _invalid_grant("code_verifier does not match the code_challenge")


def _invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)
