"""A third upstream login, for the tests: this module and its settings are all it takes.

``upstream_plugins = "tests.idp_bridge.upstreams.fixed_login"`` adds it; ``fixed_nrn`` (the
switch) turns it on. Starting a login sends the browser straight to our own answer URL with a
fresh state, and the answer logs in the one configured person: a login that proves nothing,
made to show what the contract asks of an upstream (start, complete, routes, typed settings).
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import field_validator
from stdnum.be import nn

from authz import constant_time
from idp_bridge.shared.identity import LOA_SUBSTANTIAL, VerifiedIdentity
from idp_bridge.shared.stores import MemoryRequestStore
from idp_bridge.upstreams.base import (
    LoginStart,
    Plugin,
    Route,
    Site,
    Upstream,
    UpstreamError,
    UpstreamSettings,
)

NAME = "fixed"


class FixedSettings(UpstreamSettings):
    """``fixed_*`` settings: on when ``fixed_nrn`` is set."""

    switch = "nrn"

    nrn: str
    given_name: str = "Fixe"
    family_name: str = "Connexion"
    ttl: int = 60  # seconds between start and answer

    @field_validator("nrn")
    @classmethod
    def _an_nrn(cls, value: str) -> str:
        if not nn.is_valid(value):
            raise ValueError("must be a national register number")
        return nn.compact(value)


class FixedLogin(Upstream):
    name = NAME
    label = "Connexion fixe (tests)"
    hint = "toujours la même personne"

    def __init__(self, settings: FixedSettings, site: Site):
        self.settings = settings
        self.answer_url = site.login_url(NAME, "/answer")
        self._states = MemoryRequestStore()

    def routes(self) -> Sequence[Route]:
        return (Route("/answer"),)

    def start(self, return_to: str) -> LoginStart:
        state = secrets.token_urlsafe(16)
        self._states.put(state, {"return_to": return_to}, self.settings.ttl)
        return LoginStart(self.answer_url + "?" + urllib.parse.urlencode({"state": state}), state)

    def complete(
        self, params: Mapping[str, str], *, binding: str | None = None
    ) -> VerifiedIdentity:
        state = params.get("state") or ""
        pending = self._states.pop(state) if state else None
        if pending is None:
            raise UpstreamError("invalid", "unknown state, or its login already finished")
        if binding is not None and not constant_time.equal(binding, state):
            raise UpstreamError("invalid", "the answer is for another browser")
        return VerifiedIdentity(
            nrn=self.settings.nrn,
            given_name=self.settings.given_name,
            family_name=self.settings.family_name,
            acr=LOA_SUBSTANTIAL,
            amr=("fixed",),
            upstream=NAME,
            session_ref=state,
            extra={"return_to": pending.get("return_to", "")},
        )


def _build(settings: Any, site: Site) -> FixedLogin:
    return FixedLogin(settings, site)


PLUGIN = Plugin(name=NAME, settings=FixedSettings, factory=_build)
