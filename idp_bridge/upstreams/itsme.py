"""Login with itsme: an OpenID Connect relying party as itsme documents it.

Authorization code flow (OpenID Connect Core 3.1) with what itsme requires on top:

- the authorization request travels as a request object (Core 6.1), a JWT signed with our
  ``sig`` key (RS256) then encrypted to itsme's ``enc`` key (RSA-OAEP-256, A128CBC-HS256);
  scopes ``openid service:<CODE> eid``, ``acr_values`` basic or advanced, state, nonce and
  PKCE (RFC 7636, S256);
- the token endpoint authenticates us with ``private_key_jwt`` (RFC 7523, ``client_assertion``);
- the ID token comes back signed by itsme (RS256) then encrypted to our ``enc`` key; it is
  decrypted, its signature checked against itsme's JWK Set, and its claims checked (Core 3.1.3.7);
- we publish our own JWK Set: one ``sig`` and one ``enc`` public key.

The claims themselves (national register number, names, level) are read in ``itsme_claims``.

As a plugin (``PLUGIN``): on when ``itsme_issuer`` is set; our redirect URI is
``/login/itsme/callback`` and our JWK Set is served at ``/login/itsme/jwks``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
import urllib.parse
from base64 import urlsafe_b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flask import Response, current_app
from flask_babel import lazy_gettext as _
from pydantic import ValidationInfo, field_validator

from authz import constant_time
from idp_bridge.shared import client_assertion, nested_jwt
from idp_bridge.shared.db_stores import DatabaseRequestStore
from idp_bridge.shared.identity import VerifiedIdentity
from idp_bridge.shared.nested_jwt import JoseFailure, RSAKey
from idp_bridge.shared.remote_jwks import RemoteKeySet
from idp_bridge.shared.stores import RequestStore
from idp_bridge.shared.transport import HttpResponse, Transport, urllib_transport
from idp_bridge.upstreams.base import (
    LoginStart,
    Plugin,
    Route,
    Site,
    Upstream,
    UpstreamConfigError,
    UpstreamError,
    UpstreamSettings,
)
from idp_bridge.upstreams.itsme_claims import (
    ACR_VALUES,
    LANGUAGES,
    REQUESTED_CLAIMS,
    UPSTREAM,
    check_id_token_claims,
    to_identity,
)

logger = logging.getLogger(__name__)

STATE_PREFIX = "itsme:"


class ItsmeConfigError(UpstreamConfigError):
    """The itsme configuration cannot work; raised at start-up."""


@dataclass(frozen=True)
class ItsmeConfig:
    issuer: str  # e.g. https://idp.prd.itsme.services/v2 (discovery is read from there)
    client_id: str
    service_code: str
    redirect_uri: str
    signing_key: RSAKey = field(repr=False)  # ours, private, use "sig"
    encryption_key: RSAKey = field(repr=False)  # ours, private, use "enc"
    acr: str = "advanced"  # basic | advanced
    clock_skew: int = 60  # seconds of difference tolerated with itsme's clock
    login_ttl: int = 600  # seconds a person may take in the itsme app
    id_token_max_age: int = 600  # an ID token issued longer ago than this is refused

    def __post_init__(self):
        for name in ("issuer", "client_id", "service_code", "redirect_uri"):
            if not getattr(self, name):
                raise ItsmeConfigError(f"itsme: {name} is required")
        for name in ("issuer", "redirect_uri"):
            parts = urllib.parse.urlsplit(getattr(self, name))
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
                raise ItsmeConfigError(f"itsme: {name} must be an absolute URL")
        if " " in self.service_code:
            raise ItsmeConfigError("itsme: service_code is one word")
        if self.acr not in ACR_VALUES:
            raise ItsmeConfigError("itsme: acr must be basic or advanced")
        if not 0 <= self.clock_skew <= 300:
            raise ItsmeConfigError("itsme: clock_skew must be between 0 and 300 seconds")
        if self.login_ttl <= 0 or self.id_token_max_age <= 0:
            raise ItsmeConfigError("itsme: login_ttl and id_token_max_age must be positive")
        for name, use in (("signing_key", "sig"), ("encryption_key", "enc")):
            try:
                key = nested_jwt.rsa_key(getattr(self, name), use)
            except (ValueError, TypeError) as exc:
                raise ItsmeConfigError(f"itsme: {name}: {exc}") from exc
            if not key.is_private:
                raise ItsmeConfigError(f"itsme: {name} must be a private key")
            object.__setattr__(self, name, key)
        if self.signing_key.kid == self.encryption_key.kid:
            raise ItsmeConfigError("itsme: the sig and enc keys must be two different keys")

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class ItsmeUpstream(Upstream):
    name = UPSTREAM
    label = "itsme"  # a brand: the same in every language
    hint = _("avec l'application itsme sur votre smartphone")

    def __init__(
        self,
        config: ItsmeConfig,
        states: RequestStore,
        transport: Transport | None = None,
        *,
        clock: Callable[[], float] = time.time,
        metadata_ttl: float = 3600,
        jwks_min_refetch_interval: float = 60,
    ):
        self.config, self._states, self._clock = config, states, clock
        self._transport = transport or urllib_transport()
        self._metadata_ttl = metadata_ttl
        self._metadata_cache: tuple[float, dict] | None = None
        self._metadata_lock = threading.Lock()
        self.provider_keys = RemoteKeySet(
            lambda: self._get_json(self._metadata()["jwks_uri"]),
            ttl=metadata_ttl,
            min_refetch_interval=jwks_min_refetch_interval,
            clock=clock,
        )

    def jwks(self) -> dict:
        """Our JWK Set document, to publish at the URI registered with itsme."""
        return nested_jwt.public_jwks(self.config.signing_key, self.config.encryption_key)

    def routes(self) -> Sequence[Route]:
        return (
            Route("/callback"),  # the redirect URI: itsme's answer, with the code
            Route("/jwks", ("GET",), self.jwks_response),
        )

    def jwks_response(self) -> Response:
        response = current_app.json.response(self.jwks())
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    # -- starting a login ------------------------------------------------------------------

    def start(self, return_to: str) -> LoginStart:
        """Build the signed-then-encrypted request object; remember state, nonce, verifier."""
        cfg = self.config
        metadata = self._metadata()
        provider_enc = self.provider_keys.encryption_key()
        if provider_enc is None:
            raise UpstreamError("refused", "itsme publishes no encryption key")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        now = int(self._clock())
        scope = f"openid service:{cfg.service_code} eid"
        request_object = {
            "iss": cfg.client_id,
            "aud": cfg.issuer,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
            "response_type": "code",
            "client_id": cfg.client_id,
            "redirect_uri": cfg.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "acr_values": ACR_VALUES[cfg.acr],
            "claims": REQUESTED_CLAIMS,
            "ui_locales": " ".join(LANGUAGES),
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
        }
        request = nested_jwt.sign_then_encrypt(request_object, cfg.signing_key, provider_enc)
        self._states.put(
            STATE_PREFIX + state,
            {
                "nonce": nonce,
                "code_verifier": verifier,
                "acr": cfg.acr,
                "return_to": return_to,
                "created_at": str(now),
            },
            cfg.login_ttl * 2,  # kept past login_ttl so a late answer says "timed out"
        )
        # OAuth's own parameters repeated outside the request object (Core 6.1), nothing else.
        query = {"client_id": cfg.client_id, "response_type": "code", "scope": scope}
        query["request"] = request
        endpoint = metadata["authorization_endpoint"]
        separator = "&" if urllib.parse.urlsplit(endpoint).query else "?"
        # The state binds the login to the browser that started it (compared on the way back).
        return LoginStart(endpoint + separator + urllib.parse.urlencode(query), state)

    # -- finishing it ------------------------------------------------------------------------

    def complete(
        self, params: Mapping[str, str], *, binding: str | None = None
    ) -> VerifiedIdentity:
        """Check the authorization response, redeem the code, verify the ID token.

        ``binding`` is the state the browser's cookie kept from ``start``: given, the answer
        must carry it (a login started in one browser cannot be finished in another)."""
        try:
            # Without the browser's binding, no state can match: refused as started elsewhere.
            return self._complete(params, None if binding is None else binding or "-")
        except UpstreamError as exc:
            logger.warning("itsme login not accepted (%s): %s", exc.reason, exc.message)
            raise

    def _complete(self, params: Mapping[str, str], expected_state: str | None) -> VerifiedIdentity:
        cfg = self.config
        state = params.get("state") or ""
        if not state:
            raise UpstreamError("invalid", "the answer carries no state")
        # Taken first: a state gets one answer, good or bad.
        pending = self._states.pop(STATE_PREFIX + state)
        if pending is None:
            raise UpstreamError("invalid", "unknown state, or its login already finished")
        if expected_state is not None and not constant_time.equal(state, expected_state):
            raise UpstreamError("invalid", "the answer is for a login started elsewhere")
        if self._clock() - int(pending["created_at"]) > cfg.login_ttl:
            raise UpstreamError("timed_out", "the login took too long")
        if params.get("iss") is not None and params["iss"] != cfg.issuer:
            raise UpstreamError("invalid", "the answer names another issuer (RFC 9207)")
        error = params.get("error")
        if error:
            reason = "cancelled" if error == "access_denied" else "refused"
            raise UpstreamError(reason, f"itsme answered {error[:100]}")
        code = params.get("code")
        if not code:
            raise UpstreamError("invalid", "the answer carries neither code nor error")
        id_token = self._redeem(code, pending["code_verifier"])
        claims = self._verify_id_token(id_token, pending["nonce"])
        return to_identity(
            claims,
            requested_level=pending["acr"],
            session_ref=state,
            extra={"return_to": pending.get("return_to", "")},
        )

    def _redeem(self, code: str, verifier: str) -> str:
        cfg = self.config
        token_endpoint = self._metadata()["token_endpoint"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": cfg.redirect_uri,
            "code_verifier": verifier,
            "client_assertion_type": client_assertion.ASSERTION_TYPE,
            "client_assertion": client_assertion.make(
                cfg.client_id, token_endpoint, cfg.signing_key, clock=self._clock
            ),
        }
        response = self._call("POST", token_endpoint, form)
        body = _json_object(response)
        if response.status != 200:
            error = str(body.get("error", "")) if body else ""
            raise UpstreamError("refused", f"token endpoint answered {response.status} {error}")
        if body is None or not isinstance(body.get("id_token"), str):
            raise UpstreamError("invalid", "the token response carries no ID token")
        return body["id_token"]

    def _verify_id_token(self, id_token: str, nonce: str) -> dict:
        cfg = self.config
        try:
            claims = nested_jwt.decrypt_then_verify(
                id_token, cfg.encryption_key, self.provider_keys.signing_key
            )
        except JoseFailure as exc:
            raise UpstreamError("invalid", f"ID token: {exc}") from exc
        check_id_token_claims(
            claims,
            issuer=cfg.issuer,
            client_id=cfg.client_id,
            nonce=nonce,
            now=self._clock(),
            skew=cfg.clock_skew,
            max_age=cfg.id_token_max_age,
        )
        return claims

    # -- talking to itsme --------------------------------------------------------------------

    def _metadata(self) -> dict:
        """itsme's discovery document, cached for ``metadata_ttl`` seconds."""
        with self._metadata_lock:
            cached = self._metadata_cache
            if cached is not None and self._clock() - cached[0] < self._metadata_ttl:
                return cached[1]
            document = self._get_json(self.config.discovery_url)
            if document.get("issuer") != self.config.issuer:
                raise UpstreamError("invalid", "the discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                value = document.get(name)
                if not isinstance(value, str) or urllib.parse.urlsplit(value).scheme not in (
                    "https",
                    "http",
                ):
                    raise UpstreamError("invalid", f"the discovery document lacks {name}")
            self._metadata_cache = (self._clock(), document)
            return document

    def _get_json(self, url: str) -> dict:
        response = self._call("GET", url, None)
        if response.status != 200:
            raise UpstreamError("refused", f"{url} answered {response.status}")
        body = _json_object(response)
        if body is None:
            raise UpstreamError("invalid", f"{url} did not answer a JSON object")
        return body

    def _call(self, method: str, url: str, form: Mapping[str, str] | None) -> HttpResponse:
        try:
            return self._transport(method, url, form)
        except TimeoutError as exc:
            raise UpstreamError("timed_out", f"itsme did not answer: {exc}") from exc
        except OSError as exc:
            raise UpstreamError("refused", f"itsme cannot be reached: {exc}") from exc


def _json_object(response: HttpResponse) -> dict | None:
    try:
        body = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- the plugin --------------------------------------------------------------------------------


class ItsmeSettings(UpstreamSettings):
    """``itsme_*`` settings (``MONESPACE_ITSME_*``): on when ``itsme_issuer`` is set."""

    switch = "issuer"

    issuer: str  # e.g. https://idp.prd.itsme.services/v2
    client_id: str
    service_code: str
    signing_key_file: str  # our private keys (PEM), one for sig, one for enc
    encryption_key_file: str
    acr: Literal["basic", "advanced"] = "advanced"

    @field_validator("issuer")
    @classmethod
    def _https_in_production(cls, value: str, info: ValidationInfo) -> str:
        demo = bool(info.context and info.context.get("demo"))
        if not demo and not value.startswith("https://"):
            raise ValueError("must be an https URL in production mode")
        return value


def redirect_uri(site: Site) -> str:
    return site.login_url(UPSTREAM, "/callback")


def _build(settings: Any, site: Site) -> ItsmeUpstream:
    config = ItsmeConfig(
        issuer=settings.issuer,
        client_id=settings.client_id,
        service_code=settings.service_code,
        redirect_uri=redirect_uri(site),
        signing_key=Path(settings.signing_key_file).read_bytes(),
        encryption_key=Path(settings.encryption_key_file).read_bytes(),
        acr=settings.acr,
    )
    return ItsmeUpstream(config, DatabaseRequestStore(UPSTREAM))


PLUGIN = Plugin(name=UPSTREAM, settings=ItsmeSettings, factory=_build)
