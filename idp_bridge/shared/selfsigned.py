"""Demo keys: an RSA key and a self-signed certificate, generated at first use.

The simulators and the demo service provider sign with these. They are created at run time in
the data directory (never shipped, never committed) and have no value outside the demo: in
production, keys and certificates come from files the operator provides.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_SIZE = 3072
VALID_DAYS = 3650


def ensure_key_pair(directory: str | os.PathLike, name: str, common_name: str) -> tuple[Path, Path]:
    """Return ``(key_file, cert_file)`` named ``name``, creating them if either is missing."""
    directory = Path(directory)
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    if key_file.exists() and cert_file.exists():
        return key_file, cert_file
    directory.mkdir(parents=True, exist_ok=True)
    # Several processes may start at once: one generates, the others wait and reuse its pair.
    with open(directory / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (key_file.exists() and cert_file.exists()):
            _generate(key_file, cert_file, common_name)
    return key_file, cert_file


def _generate(key_file: Path, cert_file: Path, common_name: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written under a temporary name then renamed, so that a concurrent reader never sees half a
    # key; the key file is private to its owner from the start.
    tmp_key = key_file.with_suffix(f".key.{os.getpid()}.tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    tmp_cert = cert_file.with_suffix(f".crt.{os.getpid()}.tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_file)
    os.replace(tmp_cert, cert_file)
