"""The secrets of the configuration: the secret key and the audit keys, given, read from their
files, or generated once for the demo; and the secrets directory, one file per setting
(``monespace.config``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from monespace.config_error import ConfigError

MIN_SECRET_KEY_LENGTH = 32
DEMO_KEY_FILENAME = "secret_key"
DEMO_AUDIT_KEY_FILENAME = "audit_key"  # in keys_dir


def secret_key(key: str | None, key_file: str | None) -> str | None:
    """The secret key, given or read from its file; None when neither is set."""
    return read_secret("SECRET_KEY", key, key_file)


def previous_secret_keys(
    value: str | None, value_file: str | None, current: str
) -> tuple[str, ...]:
    """The secret keys replaced by ``current``, newest first: given (separated by commas or new
    lines) or read from their file (one a line, ``#`` comments). Each must be one a secret key
    could have been, and not the current one (a rotation that changed nothing)."""
    if value is not None and value_file is not None:
        raise ConfigError(
            "set MONESPACE_PREVIOUS_SECRET_KEYS or MONESPACE_PREVIOUS_SECRET_KEYS_FILE, not both"
        )
    if value_file is not None:
        text = _read_key_file("MONESPACE_PREVIOUS_SECRET_KEYS_FILE", value_file)
        items = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    else:
        items = (value or "").replace(",", "\n").splitlines()
    keys = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"previous_secret_keys: previous secret key {number} is {len(key)} characters "
                f"long; a secret key has at least {MIN_SECRET_KEY_LENGTH}"
            )
        if key == current:
            raise ConfigError(
                f"previous_secret_keys: previous secret key {number} is the secret key itself; "
                "list there only the keys it replaced"
            )
    return keys


def read_secret(name: str, value: str | None, value_file: str | None) -> str | None:
    """A secret setting (``MONESPACE_<name>``), given or read from the file named by
    ``MONESPACE_<name>_FILE``; None when neither is set."""
    if value is not None and value_file is not None:
        raise ConfigError(f"set MONESPACE_{name} or MONESPACE_{name}_FILE, not both")
    if value_file is not None:
        path = Path(value_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read MONESPACE_{name}_FILE {path}: {exc.strerror}") from None
    return value


def audit_keys(
    key: str | None, key_file: str | None, previous_file: str | None, demo_keys_dir: Path | None
) -> tuple[str, ...]:
    """The audit key, then the retired ones; demo mode generates the key when none is set."""
    if key is not None and key_file is not None:
        raise ConfigError(
            "audit_key: set MONESPACE_AUDIT_KEY or MONESPACE_AUDIT_KEY_FILE, not both"
        )
    if key_file is not None:
        current = _read_key_file("MONESPACE_AUDIT_KEY_FILE", key_file).strip()
    elif key is not None:
        current = key
    elif demo_keys_dir is not None:
        make_dir(demo_keys_dir, "keys directory", "MONESPACE_KEYS_DIR")
        current = _generated_secret(demo_keys_dir / DEMO_AUDIT_KEY_FILENAME, "demo audit key")
    else:
        raise ConfigError(
            "audit_key: production mode needs MONESPACE_AUDIT_KEY_FILE or MONESPACE_AUDIT_KEY, "
            f"at least {MIN_SECRET_KEY_LENGTH} random characters kept outside the database "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    previous: list[str] = []
    if previous_file is not None:
        text = _read_key_file("MONESPACE_AUDIT_PREVIOUS_KEYS_FILE", previous_file)
        previous = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    return (current, *previous)


def audit_keys_checked(keys: tuple[str, ...], secret_key: str) -> tuple[str, ...]:
    for number, key in enumerate(keys):
        which = "the audit key" if number == 0 else f"retired audit key {number}"
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"audit_key: {which} is {len(key)} characters long; it needs at least "
                f"{MIN_SECRET_KEY_LENGTH} (generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if key == secret_key:
            # Two secrets for two purposes: the session key signs cookies sent to browsers.
            raise ConfigError(f"audit_key: {which} must differ from the secret key")
    return keys


def _read_key_file(variable: str, value: str) -> str:
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {variable} {path}: {exc.strerror}") from None


def make_dir(
    data_dir: Path, what: str = "data directory", variable: str = "MONESPACE_DATA_DIR"
) -> None:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the {what} {data_dir}: {exc.strerror} "
            f"(set {variable} to a writable directory)"
        ) from None


def demo_secret_key(data_dir: Path) -> str:
    """The demo's secret key: generated on first use, then read back, so sessions survive."""
    return _generated_secret(data_dir / DEMO_KEY_FILENAME, "demo secret key")


def _generated_secret(path: Path, what: str) -> str:
    """A random secret in ``path``: generated on first use, then read back."""
    if not path.exists():
        # Written aside then linked into place: a second process starting at the same moment
        # either sees no file or the complete one, and only one key ever wins.
        partial = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(partial, path)
            except FileExistsError:
                pass
            finally:
                partial.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot create the {what} {path}: {exc.strerror}") from None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None


def read_secrets_dir(directory: str) -> dict[str, str]:
    """The settings held in ``directory``, one file per setting named after it (``database_url``,
    ``secret_key``...), as Docker mounts secrets under /run/secrets and Kubernetes a Secret's
    keys. The value is the file's text without surrounding whitespace; an empty file sets
    nothing. Hidden entries and subdirectories are skipped (Kubernetes keeps its ``..data``
    links there); every other name must be a setting, checked by the caller."""
    path = Path(directory).expanduser()
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise ConfigError(
            f"cannot read MONESPACE_SECRETS_DIR {path}: {exc.strerror or exc}"
        ) from None
    values = {}
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            value = entry.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"cannot read the secret {entry}: {reason}") from None
        if value:
            values[entry.name] = value
    return values
