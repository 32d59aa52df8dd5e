"""The contract of an upstream login (eID, itsme, or any other), and of the plugin that builds it.

An upstream login is one module: an :class:`Upstream` (start a login, check the answer, the URLs
it needs under ``/login/<name>``), typed settings (:class:`UpstreamSettings`, read from the
``<name>_*`` settings, ``MONESPACE_<NAME>_*`` in the environment), and a :class:`Plugin` that
names them and builds the upstream, registered in :mod:`idp_bridge.upstreams.registry`.

The login pages (``idp_bridge.web``) do the rest for every upstream alike: the page listing
them, ``/login/<name>`` to start, the cookie binding a login to its browser, the session.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

# UpstreamError is defined beside the identity, whose own checks raise it (UnusableIdentity).
from idp_bridge.shared.identity import UpstreamError, VerifiedIdentity

__all__ = [
    "LOGIN_PATH",
    "LoginStart",
    "Plugin",
    "Route",
    "Site",
    "Upstream",
    "UpstreamConfigError",
    "UpstreamError",
    "UpstreamSettings",
    "VerifiedIdentity",
]

LOGIN_PATH = "/login"
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,255}$")


class UpstreamConfigError(ValueError):
    """An upstream cannot be built from its configuration (metadata, keys...); raised at start."""


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and what binds the login to it: the value (a SAML request id,
    an OpenID state) kept in the browser's cookie and given back to :meth:`Upstream.complete`."""

    url: str
    binding: str

    def __post_init__(self) -> None:
        # Kept in a cookie beside the upstream's name, ":"-separated: a token, nothing else.
        if not _TOKEN.match(self.binding):
            raise ValueError("a login's binding is 1-255 letters, digits and -._~")


@dataclass(frozen=True)
class Route:
    """A URL the upstream needs, ``path`` under ``/login/<name>``.

    Without a ``view``, the upstream's answer comes back there (an assertion consumer service,
    a redirect URI): the login pages hand the form (POST) or the query (GET) to
    :meth:`Upstream.complete` and open the session. With one, the view serves a document
    itself (our SAML metadata, our JWK Set).
    """

    path: str
    methods: tuple[str, ...] = ("GET",)
    view: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Site:
    """What a plugin may know of the service it is built for."""

    base_url: str  # public, without a trailing slash
    keys_dir: Path
    demo: bool

    def login_url(self, name: str, path: str = "") -> str:
        """The public URL of ``path`` under the login of that name."""
        return f"{self.base_url}{LOGIN_PATH}/{name}{path}"


class Upstream(ABC):
    """One login method, built once per app by its plugin."""

    name: str  # the URL segment under /login/ and VerifiedIdentity.upstream
    label: Any  # the method's name on the login page (a lazy translated string)
    hint: Any = ""  # what the person needs for it, under the label

    @abstractmethod
    def start(self, return_to: str) -> LoginStart:
        """Start a login that ends at ``return_to`` (a local path); raise UpstreamError when
        it cannot start (the upstream out of reach)."""

    @abstractmethod
    def complete(
        self, params: Mapping[str, str], *, binding: str | None = None
    ) -> VerifiedIdentity:
        """Check what the upstream sent back; return the identity or raise UpstreamError.

        ``binding`` is what the browser's cookie holds from :meth:`start` ("" when it holds
        none): the answer must belong to that login. None skips that check (a caller that
        binds the login to its browser otherwise)."""

    def routes(self) -> Sequence[Route]:
        """The URLs this upstream needs under ``/login/<name>``."""
        return ()


class UpstreamSettings(BaseModel):
    """A plugin's typed settings: field ``x`` is the setting ``<name>_x`` (MONESPACE_<NAME>_X).

    The login is on when the ``switch`` setting is given; its other required fields must then
    be given too. The validation context holds ``demo`` (bool): production may ask for more.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    switch: ClassVar[str]


@dataclass(frozen=True)
class Plugin:
    """An upstream login as the service knows it: its name, its settings type, its factory."""

    name: str
    settings: type[UpstreamSettings]
    factory: Callable[[Any, Site], Upstream]

    def build(self, settings: UpstreamSettings, site: Site) -> Upstream:
        upstream = self.factory(settings, site)
        if upstream.name != self.name:
            raise UpstreamConfigError(f"{self.name}: the plugin built an upstream {upstream.name}")
        return upstream
