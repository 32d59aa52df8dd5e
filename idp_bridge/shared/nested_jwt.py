"""Nested JWTs (RFC 7519 section 5.2: signed, then encrypted) with the algorithms itsme uses.

itsme's JOSE profile, followed by both sides here (our relying party and the simulator):
RSA keys only, one key for signatures (``use: sig``) and one for encryption (``use: enc``);
signatures RS256; encryption RSA-OAEP-256 for the key and A128CBC-HS256 for the content, with
``cty: JWT`` in the JWE header. Nothing else is accepted: the registries below allow exactly
these algorithms, and ``alg: none`` is refused before any library code sees the token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.util import json_b64decode

SIG_ALG = "RS256"
ENC_ALG = "RSA-OAEP-256"
ENC_ENC = "A128CBC-HS256"
MIN_RSA_BITS = 2048

_JWS_REGISTRY = jws.JWSRegistry(algorithms=[SIG_ALG])
_JWE_REGISTRY = jwe.JWERegistry(algorithms=[ENC_ALG, ENC_ENC])


class JoseFailure(Exception):
    """A token that is malformed, not protected as required, or fails its signature."""


def generate_rsa_key(use: str, bits: int = 2048) -> RSAKey:
    """A new private RSA key for ``use`` (``sig`` or ``enc``), its ``kid`` the RFC 7638
    thumbprint."""
    if bits < MIN_RSA_BITS:
        raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")
    return rsa_key(RSAKey.generate_key(bits, parameters={"use": use}, private=True), use)


def rsa_key(value: RSAKey | Mapping[str, Any] | str | bytes, use: str) -> RSAKey:
    """An RSA key from a JWK (dict or JSON text) or PEM, checked for ``use`` and size; the
    ``kid`` defaults to the RFC 7638 thumbprint."""
    if use not in ("sig", "enc"):
        raise ValueError(f"key use must be sig or enc, not {use!r}")
    if isinstance(value, RSAKey):
        if value.get("use") == use and value.kid and value.raw_value.key_size >= MIN_RSA_BITS:
            return value
        key = value
    else:
        data: Any = value
        if isinstance(value, str) and value.lstrip().startswith("{"):
            data = json.loads(value)
        key = RSAKey.import_key(data)
    if key.get("use", use) != use:
        raise ValueError(f"key {key.kid!r} is for {key.get('use')!r}, not {use!r}")
    if key.raw_value.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")
    data = key.as_dict(private=key.is_private)
    data["use"] = use
    data.setdefault("kid", key.thumbprint())
    return RSAKey.import_key(data)


def public_jwks(*keys: RSAKey) -> dict:
    """The JWK Set document publishing the public half of ``keys``."""
    return {"keys": [key.as_dict(private=False) for key in keys]}


def key_set(document: Mapping[str, Any], max_keys: int = 16) -> KeySet:
    """The RSA keys of a JWK Set document (other key types are ignored); at most ``max_keys``."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise JoseFailure("a JWK Set needs a list of keys")
    rsa = [k for k in keys if isinstance(k, dict) and k.get("kty") == "RSA"]
    if len(rsa) > max_keys:
        raise JoseFailure(f"a JWK Set of more than {max_keys} RSA keys is refused")
    try:
        return KeySet([RSAKey.import_key(k) for k in rsa])
    except (JoseError, ValueError, TypeError) as exc:
        raise JoseFailure(f"invalid key in JWK Set: {exc}") from exc


def pick_key(keys: KeySet, use: str, kid: str | None = None) -> RSAKey | None:
    """The key of ``keys`` for ``use`` with ``kid`` (any ``kid`` if None, when only one fits)."""
    fits = [k for k in keys.keys if k.get("use", use) == use and isinstance(k, RSAKey)]
    if kid is not None:
        fits = [k for k in fits if k.kid == kid]
    return fits[0] if len(fits) == 1 else None


def sign(claims: Mapping[str, Any], key: RSAKey) -> str:
    """A JWS compact serialization of ``claims``, RS256 with ``key``."""
    header = {"alg": SIG_ALG, "typ": "JWT", "kid": key.kid}
    payload = json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False)
    return jws.serialize_compact(header, payload, key, registry=_JWS_REGISTRY)


def encrypt(inner: str, key: RSAKey) -> str:
    """A JWE compact serialization carrying the JWS ``inner`` to the holder of ``key``."""
    header = {"alg": ENC_ALG, "enc": ENC_ENC, "cty": "JWT", "kid": key.kid}
    return jwe.encrypt_compact(header, inner, key, registry=_JWE_REGISTRY)


def sign_then_encrypt(claims: Mapping[str, Any], sig_key: RSAKey, enc_key: RSAKey) -> str:
    return encrypt(sign(claims, sig_key), enc_key)


def header(token: str) -> dict:
    """The (unverified) protected header of a compact JWS or JWE."""
    try:
        value = json_b64decode(token.split(".", 1)[0].encode("ascii"))
    except (ValueError, TypeError) as exc:
        raise JoseFailure("unreadable JOSE header") from exc
    if not isinstance(value, dict):
        raise JoseFailure("unreadable JOSE header")
    return value


def decrypt(token: str, key: RSAKey) -> str:
    """The JWS carried by the JWE ``token``, which must be encrypted to ``key``."""
    if not isinstance(token, str) or token.count(".") != 4:
        raise JoseFailure("not an encrypted token (JWE compact serialization expected)")
    head = header(token)
    if head.get("alg") != ENC_ALG or head.get("enc") != ENC_ENC:
        raise JoseFailure(f"encryption must be {ENC_ALG} with {ENC_ENC}")
    if "kid" in head and head["kid"] != key.kid:
        raise JoseFailure(f"encrypted to key {head['kid']!r}, not to ours")
    try:
        plaintext = jwe.decrypt_compact(token, key, registry=_JWE_REGISTRY).plaintext
    except (JoseError, ValueError) as exc:
        raise JoseFailure(f"cannot decrypt: {_reason(exc)}") from exc
    inner = (plaintext or b"").decode("ascii", "replace")
    if inner.count(".") != 2:
        raise JoseFailure("the encrypted content is not a signed JWT")
    return inner


def _reason(exc: Exception) -> str:
    """What the library said, for the log: joserfc's descriptions are its own fixed words
    ("tag does not match"); a JSON error's text would quote the payload, so only its type."""
    description = getattr(exc, "description", None) if isinstance(exc, JoseError) else None
    return f"{type(exc).__name__}: {description}" if description else type(exc).__name__


def verify(token: str, resolve: Callable[[str | None], RSAKey | None]) -> dict:
    """The claims of the JWS ``token`` once its RS256 signature checks with the key that
    ``resolve(kid)`` returns."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise JoseFailure("not a signed token (JWS compact serialization expected)")
    alg = header(token).get("alg")
    # Checked here, before the library: "none" or an HMAC alg must never reach key handling.
    if alg != SIG_ALG:
        raise JoseFailure(f"signature algorithm {alg!r} refused, {SIG_ALG} required")
    kid = header(token).get("kid")
    key = resolve(kid if isinstance(kid, str) else None)
    if key is None:
        raise JoseFailure(f"no known signing key {kid!r}")
    try:
        payload = jws.deserialize_compact(token, key, registry=_JWS_REGISTRY).payload
        claims = json.loads(payload)
    except (JoseError, ValueError) as exc:
        raise JoseFailure(f"bad signature or payload: {_reason(exc)}") from exc
    if not isinstance(claims, dict):
        raise JoseFailure("the JWT payload is not a JSON object")
    return claims


def decrypt_then_verify(
    token: str, enc_key: RSAKey, resolve: Callable[[str | None], RSAKey | None]
) -> dict:
    return verify(decrypt(token, enc_key), resolve)
