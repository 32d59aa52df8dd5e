"""The one internal identity every upstream login hands to the rest of the system.

:class:`VerifiedIdentity` is also the one gate for what upstreams send: whatever the upstream,
an identity whose number, names, address or login facts could not be stored or shown as they
are (a control character, a name of thousands of characters, an NRN that is not one) is never
built. Building one raises :class:`UnusableIdentity`, an :class:`UpstreamError`, so the login
is refused like any other (logged by the upstream module, the refusal page shown).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from stdnum.be import nn

from authz.errors import InvalidInput
from authz.identifiers import parse_email

LOA_LOW = "http://eidas.europa.eu/LoA/low"
LOA_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
LOA_HIGH = "http://eidas.europa.eu/LoA/high"

MAX_LANGUAGE_LENGTH = 35  # a BCP 47 tag with a region and a script, and then some
MAX_NAME_LENGTH = 200  # a person's given or family name
MAX_REFERENCE_LENGTH = 255  # acr, upstream session reference: stored in 255-character columns
MAX_AMR = 10
MAX_AMR_LENGTH = 32


class UpstreamError(Exception):
    """A login that did not succeed; ``reason`` is refused, cancelled, timed_out or invalid."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class UnusableIdentity(UpstreamError):
    """An upstream's answer holds an attribute we cannot take; the message names the attribute,
    never its value."""

    def __init__(self, message: str):
        super().__init__("invalid", message)


@dataclass(frozen=True)
class VerifiedIdentity:
    """A person as an upstream proved them: national register number and what came with it."""

    nrn: str
    given_name: str
    family_name: str
    acr: str
    amr: tuple[str, ...]
    upstream: str
    session_ref: str
    email: str | None = None
    language: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.nrn, str) and self.nrn.isdigit() and nn.is_valid(self.nrn)):
            raise UnusableIdentity("the national register number is not valid")
        for name in ("given_name", "family_name"):
            if not _is_line(getattr(self, name), MAX_NAME_LENGTH):
                raise UnusableIdentity(f"{name} is not a usable name")
        if not (self.given_name.strip() or self.family_name.strip()):
            raise UnusableIdentity("the person has no name")
        for name in ("acr", "upstream", "session_ref"):
            if not _is_line(getattr(self, name), MAX_REFERENCE_LENGTH):
                raise UnusableIdentity(f"{name} is not usable")
        if not (
            isinstance(self.amr, tuple)
            and len(self.amr) <= MAX_AMR
            and all(_is_line(value, MAX_AMR_LENGTH) for value in self.amr)
        ):
            raise UnusableIdentity("amr is not usable")
        if self.email is not None:
            try:
                parse_email(self.email)
            except InvalidInput:
                raise UnusableIdentity("the email address is not usable") from None
        # A language other than ours is taken as unsaid (idp_bridge.sessions); only its form
        # is checked here.
        if self.language is not None and not _is_line(self.language, MAX_LANGUAGE_LENGTH):
            raise UnusableIdentity("the language is not usable")


def _is_line(value: object, max_length: int) -> bool:
    """Text of one line, at most ``max_length`` characters, without control characters (C0,
    DEL, C1: Unicode category Cc) or line and paragraph separators."""
    return (
        isinstance(value, str)
        and len(value) <= max_length
        and not any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value)
    )
