"""Keys and a clock for the itsme tests: RSA keys generated once per run (:func:`generate`, the
``itsme_keys`` fixture of tests/idp_bridge/conftest.py), time moved by hand."""

from __future__ import annotations

import time
from dataclasses import dataclass

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.nested_jwt import RSAKey


@dataclass(frozen=True)
class Keys:
    rp_sig: RSAKey  # our relying party's
    rp_enc: RSAKey
    op_sig: RSAKey  # the (simulated) itsme provider's
    op_enc: RSAKey
    other_sig: RSAKey  # nobody's: an attacker's, or a key from another deployment
    other_enc: RSAKey


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def generate() -> Keys:
    return Keys(
        rp_sig=nested_jwt.generate_rsa_key("sig"),
        rp_enc=nested_jwt.generate_rsa_key("enc"),
        op_sig=nested_jwt.generate_rsa_key("sig"),
        op_enc=nested_jwt.generate_rsa_key("enc"),
        other_sig=nested_jwt.generate_rsa_key("sig"),
        other_enc=nested_jwt.generate_rsa_key("enc"),
    )
