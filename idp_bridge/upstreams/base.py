"""What every upstream login (eID, itsme, a simulator of either) offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from idp_bridge.identity import VerifiedIdentity


class UpstreamError(Exception):
    """A login that did not succeed; ``reason`` is refused, cancelled, timed_out or invalid."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class Upstream(ABC):
    name: str

    @abstractmethod
    def begin(self, return_to: str) -> str:
        """Start a login; return the URL to send the browser to (or an auto-post page URL)."""

    @abstractmethod
    def complete(self, params: Mapping[str, str]) -> VerifiedIdentity:
        """Check what the upstream sent back; return the identity or raise UpstreamError."""
