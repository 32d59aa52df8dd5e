"""What every upstream login (eID, itsme, a simulator of either) offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

# UpstreamError is defined beside the identity, whose own checks raise it (UnusableIdentity).
from idp_bridge.shared.identity import UpstreamError, VerifiedIdentity

__all__ = ["Upstream", "UpstreamError", "VerifiedIdentity"]


class Upstream(ABC):
    name: str

    @abstractmethod
    def begin(self, return_to: str) -> str:
        """Start a login; return the URL to send the browser to (or an auto-post page URL)."""

    @abstractmethod
    def complete(self, params: Mapping[str, str]) -> VerifiedIdentity:
        """Check what the upstream sent back; return the identity or raise UpstreamError."""
