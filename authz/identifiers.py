"""Belgian identifiers: the national register number (NRN) and the BCE/KBO enterprise number.

Validation is python-stdnum's (``stdnum.be.nn`` and ``stdnum.be.vat``); this module only turns
its exceptions into :class:`~authz.errors.InvalidInput` and formats numbers for display.
"""

import re

from stdnum.be import nn, vat
from stdnum.exceptions import ValidationError

from authz.errors import InvalidInput

# C0 control characters but tab, LF and CR, and DEL: part of no identifier, name or typed text
# (PostgreSQL cannot even store NUL in text). Every request is checked for them at the edge
# (monespace.wsgi.RequestGate), and every attribute an upstream login sends
# (idp_bridge.shared.identity).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Longer than any spelling of a number (dots, dashes, spaces, a prefix): refused unread, as
# python-stdnum would turn thousands of digits into an int Python refuses to build.
MAX_SPELLING = 40


def normalize_nrn(value: object) -> str:
    """Return the 11-digit NRN, accepting the usual spellings (dots, dashes, spaces)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("a national register number is required")
    if len(value) > MAX_SPELLING:
        raise InvalidInput("invalid national register number: far too long")
    try:
        return nn.validate(value.strip())
    except ValidationError as exc:
        raise InvalidInput(f"invalid national register number {value.strip()!r}: {exc}") from None


def normalize_bce(value: object) -> str:
    """Return the 10-digit BCE number, accepting dots, spaces and a ``BE`` prefix."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("a BCE number is required")
    if len(value) > MAX_SPELLING:
        raise InvalidInput("invalid BCE number: far too long")
    try:
        return vat.validate(value.strip())
    except ValidationError as exc:
        raise InvalidInput(f"invalid BCE number {value.strip()!r}: {exc}") from None


def format_nrn(nrn: str) -> str:
    """``85073003361`` -> ``85.07.30-033.61``."""
    return nn.format(nrn)


def format_bce(bce: str) -> str:
    """``0403170701`` -> ``0403.170.701``, the spelling of the BCE's public search."""
    return f"{bce[:4]}.{bce[4:7]}.{bce[7:]}"


# Deliberately loose (the address is proven by the person opening the link), but one plain
# address an email can be sent to: no display name, no list, no quoting.
_EMAIL = re.compile(
    r"^[^@\s,;<>()\"\x00-\x1f\x7f]{1,64}@[^@\s,;<>()\"\x00-\x1f\x7f]+\.[^@\s,;<>()\"\x00-\x1f\x7f]+$"
)


def parse_email(value: object) -> str:
    """One plain email address, stripped; InvalidInput otherwise."""
    if not isinstance(value, str) or len(value.strip()) > 254 or not _EMAIL.match(value.strip()):
        raise InvalidInput(f"invalid email address {value!r}")
    return value.strip()
