"""idp_bridge/shared/nested_jwt.py: itsme's JOSE profile, and nothing else."""

from __future__ import annotations

import base64
import json

import pytest

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.nested_jwt import JoseFailure


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_sign_then_encrypt_round_trip(itsme_keys):
    token = nested_jwt.sign_then_encrypt({"a": "é"}, itsme_keys.op_sig, itsme_keys.rp_enc)
    claims = nested_jwt.decrypt_then_verify(token, itsme_keys.rp_enc, lambda kid: itsme_keys.op_sig)
    assert claims == {"a": "é"}


def test_the_key_is_chosen_by_kid(itsme_keys):
    token = nested_jwt.sign({"a": 1}, itsme_keys.op_sig)
    asked = []

    def resolve(kid):
        asked.append(kid)

    with pytest.raises(JoseFailure, match="no known signing key"):
        nested_jwt.verify(token, resolve)
    assert asked == [itsme_keys.op_sig.kid]


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "PS256", "ES256"])
def test_any_signature_algorithm_but_rs256_is_refused_before_the_key_is_looked_up(itsme_keys, alg):
    token = f"{b64({'alg': alg})}.{b64({'a': 1})}.c2ln"
    looked_up = []
    with pytest.raises(JoseFailure, match="refused"):
        nested_jwt.verify(token, looked_up.append)
    assert looked_up == []


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP", "enc": "A128CBC-HS256"},
        {"alg": "RSA1_5", "enc": "A128CBC-HS256"},
        {"alg": "RSA-OAEP-256", "enc": "A256GCM"},
        {"alg": "dir", "enc": "A128CBC-HS256"},
    ],
)
def test_other_encryption_algorithms_are_refused(itsme_keys, header):
    token = f"{b64(header)}.a.b.c.d"
    with pytest.raises(JoseFailure, match="RSA-OAEP-256 with A128CBC-HS256"):
        nested_jwt.decrypt(token, itsme_keys.rp_enc)


def test_an_encrypted_token_must_carry_a_signed_jwt(itsme_keys):
    token = nested_jwt.encrypt("just text", itsme_keys.rp_enc)
    with pytest.raises(JoseFailure, match="not a signed JWT"):
        nested_jwt.decrypt(token, itsme_keys.rp_enc)


def test_keys_have_a_use_a_kid_and_enough_bits(itsme_keys):
    with pytest.raises(ValueError, match="is for 'enc'"):
        nested_jwt.rsa_key(itsme_keys.rp_enc.as_dict(private=True), "sig")
    with pytest.raises(ValueError, match="2048 bits"):
        nested_jwt.generate_rsa_key("sig", bits=1024)
    pem = itsme_keys.rp_sig.as_pem(private=True)
    from_pem = nested_jwt.rsa_key(pem, "sig")
    assert from_pem.kid == itsme_keys.rp_sig.thumbprint() and from_pem.get("use") == "sig"
    assert nested_jwt.rsa_key(json.dumps(itsme_keys.rp_sig.as_dict(private=True)), "sig").is_private


def test_a_jwk_set_is_bounded_and_keeps_rsa_keys_only(itsme_keys):
    document = nested_jwt.public_jwks(itsme_keys.op_sig, itsme_keys.op_enc)
    document["keys"].append({"kty": "oct", "k": "c2VjcmV0"})
    keys = nested_jwt.key_set(document)
    assert nested_jwt.pick_key(keys, "sig").kid == itsme_keys.op_sig.kid
    assert nested_jwt.pick_key(keys, "enc").kid == itsme_keys.op_enc.kid
    assert len(keys.keys) == 2
    with pytest.raises(JoseFailure, match="more than 1"):
        nested_jwt.key_set(document, max_keys=1)
    with pytest.raises(JoseFailure):
        nested_jwt.key_set({"keys": "nope"})


def test_a_tampered_token_is_refused_with_the_librarys_reason(itsme_keys):
    """The log says which check failed, not only the type of the library's exception."""
    token = nested_jwt.sign({"a": 1}, itsme_keys.op_sig)
    head, payload, signature = token.split(".")
    with pytest.raises(JoseFailure, match=r"^bad signature or payload: DecodeError: \w"):
        nested_jwt.verify(f"{head}.{payload[:-2]}x.{signature}", lambda kid: itsme_keys.op_sig)
    parts = nested_jwt.encrypt(token, itsme_keys.rp_enc).split(".")
    parts[3] = parts[3][:-4] + "AAAA"
    with pytest.raises(JoseFailure, match=r"^cannot decrypt: DecodeError: \w"):
        nested_jwt.decrypt(".".join(parts), itsme_keys.rp_enc)
