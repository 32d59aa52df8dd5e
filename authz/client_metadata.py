"""What a client registers: its metadata, checked once, as one frozen value.

:class:`ClientMetadata` is what an operator (the CLI, the operator pages, the demo) asks to
register; building one checks every field, so a value that exists is a valid registration and
``authz.clients.add_client`` takes it as it is. :class:`RegisteredClient` is a client as the
registry knows it, read by the OpenID provider and the decision API without touching the table.

Redirect URIs are compared by exact match (RFC 9700 section 4.1.3), so they are checked here
once: absolute, no fragment, no wildcard, no user information, HTTPS. The same rules apply to the
URIs of logout: ``post_logout_redirect_uris`` (OpenID Connect RP-Initiated Logout section 3.1)
and ``backchannel_logout_uri`` (OpenID Connect Back-Channel Logout section 2.2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from authz.errors import InvalidInput

if TYPE_CHECKING:
    from authz.catalogue import CatalogueEntry

AUTH_METHODS = ("client_secret_basic", "private_key_jwt", "none")
SUBJECT_TYPES = ("pairwise", "public")
DEFAULT_SCOPES = ("openid", "profile")

# Matched with fullmatch: "$" would let a trailing newline through.
SERVICE_DOMAIN = re.compile(r"[a-z][a-z0-9_-]{1,39}")
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 3986 section 2: unreserved, reserved and "%" are all a URI may contain. Anything else
# (a backslash, which browsers read as "/" and Python's urlsplit does not; non-ASCII) must be
# percent-encoded by the client, so a registered URI holding one could never match exactly.
URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
MAX_URI = 2000
MAX_TEXT = 255
MAX_JWKS_URI = 255  # the column's length
MAX_BACKCHANNEL_LOGOUT_URI = 255  # the column's length


@dataclass(frozen=True)
class ClientMetadata:
    """A registration request, checked and normalized when built (:class:`InvalidInput` names
    the first bad field).

    The fields are in the order of the registration's usual arguments, so
    ``ClientMetadata("Guichet", "fiscalite", [uri])`` reads as before. Lists may be given as
    any iterable (``scopes`` also as a space-separated string) and ``jwks`` as a dict or JSON
    text; they are kept as tuples and canonical JSON text. ``allow_http`` admits ``http://``
    redirect and logout URIs and ``jwks_uri`` (demo mode only). ``client_id`` is generated at
    registration when None. A ``private_key_jwt`` client registers its public keys either
    inline (``jwks``) or where it publishes them (``jwks_uri``), never both; a public client
    (``none``) needs a redirect URI.
    """

    name: str
    service_domain: str
    redirect_uris: Iterable[str] = ()
    auth_method: str = "client_secret_basic"
    scopes: Iterable[str] | str = DEFAULT_SCOPES
    may_receive_nrn: bool = False
    subject_type: str = "pairwise"
    sector_identifier: str | None = None
    jwks: dict | str | None = None
    client_id: str | None = None
    _: KW_ONLY
    allow_http: bool = False
    jwks_uri: str | None = None
    post_logout_redirect_uris: Iterable[str] = ()
    backchannel_logout_uri: str | None = None

    def __post_init__(self) -> None:
        name = _text(self.name, "client name")
        service_domain = _service_domain(self.service_domain)
        allow_http = bool(self.allow_http)
        redirect_uris = validate_redirect_uris(self.redirect_uris, allow_http=allow_http)
        logout_uris = validate_redirect_uris(
            self.post_logout_redirect_uris, allow_http=allow_http, what="post-logout redirect URI"
        )
        backchannel = self.backchannel_logout_uri
        if backchannel is not None:
            _check_redirect_uri(backchannel, allow_http, "back-channel logout URI")
            if len(backchannel) > MAX_BACKCHANNEL_LOGOUT_URI:
                raise InvalidInput(
                    f"invalid back-channel logout URI: longer than {MAX_BACKCHANNEL_LOGOUT_URI} "
                    "characters"
                )
        if self.auth_method not in AUTH_METHODS:
            raise InvalidInput(
                f"unknown auth method {self.auth_method!r}: expected one of "
                f"{', '.join(AUTH_METHODS)}"
            )
        scopes = _scopes(self.scopes)
        if self.subject_type not in SUBJECT_TYPES:
            raise InvalidInput(
                f"unknown subject type {self.subject_type!r}: expected one of "
                f"{', '.join(SUBJECT_TYPES)}"
            )
        sector_identifier = self.sector_identifier
        if sector_identifier is not None:
            if self.subject_type != "pairwise":
                raise InvalidInput("a sector identifier applies only to pairwise subjects")
            sector_identifier = _text(sector_identifier, "sector identifier")
        jwks = _jwks(self.jwks)
        jwks_uri = _jwks_uri(self.jwks_uri, allow_http) if self.jwks_uri is not None else None
        if jwks is not None and jwks_uri is not None:
            # OpenID Connect Dynamic Client Registration section 2: never both.
            raise InvalidInput("register the client's keys either inline (JWKS) or by jwks_uri")
        if self.auth_method == "private_key_jwt" and jwks is None and jwks_uri is None:
            raise InvalidInput(
                "private_key_jwt needs the client's public keys (a JWKS or jwks_uri)"
            )
        if self.auth_method == "none" and not redirect_uris:
            raise InvalidInput("a public client (auth method none) needs at least one redirect URI")
        client_id = self.client_id
        if client_id is not None and (
            not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)
        ):
            raise InvalidInput(
                f"invalid client_id {client_id!r}: 3 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        normalized = {
            "name": name,
            "service_domain": service_domain,
            "redirect_uris": tuple(redirect_uris),
            "scopes": tuple(scopes),
            "may_receive_nrn": bool(self.may_receive_nrn),
            "sector_identifier": sector_identifier,
            "jwks": jwks,
            "allow_http": allow_http,
            "jwks_uri": jwks_uri,
            "post_logout_redirect_uris": tuple(logout_uris),
        }
        for name, value in normalized.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class RegisteredClient:
    """A client as registered: what the provider and the decision API read of it.

    ``secret_hash`` (``authz.clients.hash_secret``) is for ``authz.clients.verify_secret``
    only; it is kept out of the ``repr`` so that no log line carries it.
    """

    client_id: str
    name: str
    auth_method: str
    service_domain: str
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    may_receive_nrn: bool = False
    subject_type: str = "pairwise"
    sector_identifier: str | None = None
    jwks: str | None = None  # canonical JSON text of a JWK Set
    jwks_uri: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None
    secret_hash: str | None = field(default=None, repr=False)
    # How the portal shows it (authz.catalogue); None until an operator sets it.
    catalogue: CatalogueEntry | None = None

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


def _service_domain(value: object) -> str:
    if not isinstance(value, str) or not SERVICE_DOMAIN.fullmatch(value):
        raise InvalidInput(
            f"invalid service domain {value!r}: lowercase letters, digits, '_' or '-', "
            "starting with a letter, 2 to 40 characters"
        )
    return value


def validate_redirect_uris(
    uris: Iterable[str], *, allow_http: bool = False, what: str = "redirect URI"
) -> list[str]:
    """The URIs, checked and without duplicates; :class:`InvalidInput` names the first bad one.

    Absolute ``https`` URIs (``http`` too when ``allow_http``: demo mode) with a host, no
    fragment, no wildcard, no user information, only characters a URI may hold.
    """
    if isinstance(uris, str):
        uris = [uris]
    checked: list[str] = []
    for uri in uris:
        _check_redirect_uri(uri, allow_http, what)
        if uri not in checked:
            checked.append(uri)
    return checked


def _check_redirect_uri(uri: object, allow_http: bool, what: str = "redirect URI") -> None:
    if not isinstance(uri, str) or not uri:
        raise InvalidInput(f"a {what} must be a non-empty string")

    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"invalid {what} {uri!r}: {reason}")

    if len(uri) > MAX_URI:
        raise bad(f"longer than {MAX_URI} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        raise bad("contains whitespace or control characters")
    if "*" in uri:
        raise bad("wildcards are not allowed; register each URI exactly")
    if not URI_CHARACTERS.fullmatch(uri):
        raise bad("contains a character a URI cannot hold (RFC 3986); percent-encode it")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise bad(str(exc)) from None
    allowed = ("https", "http") if allow_http else ("https",)
    if not parts.scheme or not parts.netloc or not parts.hostname:
        raise bad("must be an absolute URI with a host")
    if parts.scheme not in allowed:
        need = "https or http (demo mode)" if allow_http else "https"
        raise bad(f"scheme must be {need}")
    if "#" in uri:
        raise bad("must not contain a fragment")
    if "@" in parts.netloc:
        raise bad("must not contain user information")


def _scopes(scopes: Iterable[str] | str) -> list[str]:
    items = scopes.split() if isinstance(scopes, str) else [s for s in scopes]
    result: list[str] = []
    for scope in items:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise InvalidInput(f"invalid scope {scope!r}")
        if scope not in result:
            result.append(scope)
    if not result:
        raise InvalidInput("a client needs at least one scope")
    return result


def _jwks(jwks: dict | str | None) -> str | None:
    if jwks is None:
        return None
    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError as exc:
            raise InvalidInput(f"the JWKS is not valid JSON: {exc}") from None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise InvalidInput('the JWKS must be a JSON object with a non-empty "keys" list')
    if any("d" in key or "k" in key for key in keys):
        raise InvalidInput("the JWKS contains private or secret key material; register public keys")
    return json.dumps(jwks, sort_keys=True)


def _jwks_uri(uri: object, allow_http: bool) -> str:
    if not isinstance(uri, str) or not uri:
        raise InvalidInput("a jwks_uri must be a non-empty string")
    if len(uri) > MAX_JWKS_URI or any(ch.isspace() or not ch.isprintable() for ch in uri):
        raise InvalidInput(
            f"invalid jwks_uri: at most {MAX_JWKS_URI} characters, no whitespace or controls"
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise InvalidInput(f"invalid jwks_uri {uri!r}: {exc}") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        need = "https or http (demo mode)" if allow_http else "https"
        raise InvalidInput(f"invalid jwks_uri {uri!r}: must be an absolute {need} URL")
    if "#" in uri or "@" in parts.netloc:
        raise InvalidInput(f"invalid jwks_uri {uri!r}: no fragment, no user information")
    return uri


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a {what} is required")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"the {what} is longer than {MAX_TEXT} characters")
    return value
