"""The one internal identity every upstream login hands to the rest of the system."""

from __future__ import annotations

from dataclasses import dataclass, field

LOA_LOW = "http://eidas.europa.eu/LoA/low"
LOA_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
LOA_HIGH = "http://eidas.europa.eu/LoA/high"


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
