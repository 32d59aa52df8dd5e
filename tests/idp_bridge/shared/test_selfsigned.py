"""Demo keys generated at first use."""

from __future__ import annotations

import stat

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from idp_bridge.shared.selfsigned import ensure_key_pair


def test_a_key_pair_is_generated_once_then_reused(tmp_path):
    key_file, cert_file = ensure_key_pair(tmp_path / "keys", "demo", "Demo signer")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject.rfc4514_string() == "CN=Demo signer"

    before = key_file.read_bytes()
    assert ensure_key_pair(tmp_path / "keys", "demo", "Demo signer") == (key_file, cert_file)
    assert key_file.read_bytes() == before


def test_a_missing_certificate_means_a_new_pair(tmp_path):
    key_file, cert_file = ensure_key_pair(tmp_path, "demo", "Demo signer")
    before = key_file.read_bytes()
    cert_file.unlink()
    ensure_key_pair(tmp_path, "demo", "Demo signer")
    assert key_file.read_bytes() != before and cert_file.exists()
