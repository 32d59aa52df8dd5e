"""Registration of relying parties (OpenID Connect) and callers of the decision API.

A client authenticates with ``client_secret_basic`` (RFC 6749 section 2.3.1), a secret
generated here, shown once and stored only as a salted hash; or with ``private_key_jwt``
(OpenID Connect Core section 9) against the JWKS it registered, inline or at a ``jwks_uri``.
A public client (``none``: an app that cannot keep a secret, RFC 6749 section 2.1) has no
credentials; its redirect URIs and PKCE are all that bind a code to it, so it must register
redirect URIs. Redirect URIs are compared by exact match (RFC 9700 section 4.1.3), so they are
checked here once: absolute, no fragment, no wildcard, no user information, HTTPS. The same rules
apply to the URIs of logout: ``post_logout_redirect_uris`` (OpenID Connect RP-Initiated Logout
section 3.1) and ``backchannel_logout_uri`` (OpenID Connect Back-Channel Logout section 2.2).

A secret is replaced with :func:`rotate_secret`; the old one stops verifying at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

import peewee

from authz import audit, db
from authz.engine import get_engine
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import Client, utcnow

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


def add_client(
    name: str,
    service_domain: str,
    redirect_uris: Iterable[str] = (),
    auth_method: str = "client_secret_basic",
    scopes: Iterable[str] | str = DEFAULT_SCOPES,
    may_receive_nrn: bool = False,
    subject_type: str = "pairwise",
    sector_identifier: str | None = None,
    jwks: dict | str | None = None,
    client_id: str | None = None,
    *,
    actor: str,
    ip: str | None = None,
    allow_http: bool = False,
    jwks_uri: str | None = None,
    post_logout_redirect_uris: Iterable[str] = (),
    backchannel_logout_uri: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client; return it and its secret in clear, or None for ``private_key_jwt``
    and public (``none``) clients.

    The secret is not stored: the caller shows it once. ``allow_http`` admits ``http://``
    redirect and logout URIs and ``jwks_uri`` (demo mode only). A ``private_key_jwt`` client
    registers its public keys either inline (``jwks``) or where it publishes them
    (``jwks_uri``). ``post_logout_redirect_uris`` and ``backchannel_logout_uri`` are checked
    like redirect URIs.
    """
    name = _text(name, "client name")
    if not isinstance(service_domain, str) or not SERVICE_DOMAIN.fullmatch(service_domain):
        raise InvalidInput(
            f"invalid service domain {service_domain!r}: lowercase letters, digits, '_' or '-', "
            "starting with a letter, 2 to 40 characters"
        )
    uris = validate_redirect_uris(redirect_uris, allow_http=allow_http)
    logout_uris = validate_redirect_uris(
        post_logout_redirect_uris, allow_http=allow_http, what="post-logout redirect URI"
    )
    if backchannel_logout_uri is not None:
        _check_redirect_uri(backchannel_logout_uri, allow_http, "back-channel logout URI")
        if len(backchannel_logout_uri) > MAX_BACKCHANNEL_LOGOUT_URI:
            raise InvalidInput(
                f"invalid back-channel logout URI: longer than {MAX_BACKCHANNEL_LOGOUT_URI} "
                "characters"
            )
    if auth_method not in AUTH_METHODS:
        raise InvalidInput(
            f"unknown auth method {auth_method!r}: expected one of {', '.join(AUTH_METHODS)}"
        )
    scope_list = _scopes(scopes)
    if subject_type not in SUBJECT_TYPES:
        raise InvalidInput(
            f"unknown subject type {subject_type!r}: expected one of {', '.join(SUBJECT_TYPES)}"
        )
    if sector_identifier is not None:
        if subject_type != "pairwise":
            raise InvalidInput("a sector identifier applies only to pairwise subjects")
        sector_identifier = _text(sector_identifier, "sector identifier")
    jwks_text = _jwks(jwks)
    if jwks_uri is not None:
        jwks_uri = _jwks_uri(jwks_uri, allow_http)
    if jwks_text is not None and jwks_uri is not None:
        # OpenID Connect Dynamic Client Registration section 2: never both.
        raise InvalidInput("register the client's keys either inline (JWKS) or by jwks_uri")
    if auth_method == "private_key_jwt" and jwks_text is None and jwks_uri is None:
        raise InvalidInput("private_key_jwt needs the client's public keys (a JWKS or jwks_uri)")
    if auth_method == "none" and not uris:
        raise InvalidInput("a public client (auth method none) needs at least one redirect URI")
    if client_id is None:
        client_id = secrets.token_hex(16)
    elif not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput(
            f"invalid client_id {client_id!r}: 3 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )

    secret = secrets.token_urlsafe(32) if auth_method == "client_secret_basic" else None
    details = {
        "name": name,
        "service_domain": service_domain,
        "auth_method": auth_method,
        "redirect_uris": uris,
        "scopes": scope_list,
        "subject_type": subject_type,
        "may_receive_nrn": bool(may_receive_nrn),
    }
    if jwks_uri is not None:
        details["jwks_uri"] = jwks_uri
    if logout_uris:
        details["post_logout_redirect_uris"] = logout_uris
    if backchannel_logout_uri is not None:
        details["backchannel_logout_uri"] = backchannel_logout_uri
    taken = Conflict(f"a client with client_id {client_id!r} already exists")
    try:
        with db.transaction():
            if Client.select().where(Client.client_id == client_id).exists():
                raise taken
            client = Client.create(
                client_id=client_id,
                name=name,
                secret_hash=hash_secret(secret) if secret else None,
                auth_method=auth_method,
                redirect_uris=json.dumps(uris),
                post_logout_redirect_uris=json.dumps(logout_uris),
                backchannel_logout_uri=backchannel_logout_uri,
                jwks=jwks_text,
                jwks_uri=jwks_uri,
                allowed_scopes=" ".join(scope_list),
                service_domain=service_domain,
                sector_identifier=sector_identifier,
                subject_type=subject_type,
                may_receive_nrn=bool(may_receive_nrn),
            )
            _audit("client.add", client_id, details, actor=actor, ip=ip)
    except peewee.IntegrityError:  # registered at the same moment by someone else
        raise taken from None
    return client, secret


def _audit(action: str, client_id: str, details: dict, *, actor: str, ip: str | None) -> None:
    """Record a change of the client registry (inside the transaction that makes it)."""
    audit.record(
        actor=actor,
        action=action,
        target_type="client",
        target_id=client_id,
        ip=ip,
        policy_version=get_engine().version,
        details=details,
    )


def list_clients() -> list[Client]:
    return list(Client.select().order_by(Client.client_id))


def get_client(client_id: str) -> Client:
    client = Client.get_or_none(Client.client_id == client_id)
    if client is None:
        raise NotFound(f"no client with client_id {client_id!r}")
    return client


def disable_client(client_id: str, *, actor: str, ip: str | None = None) -> Client:
    """Disable a client: its secret stops verifying. Disabling twice changes nothing."""
    with db.transaction():
        client = get_client(client_id)
        if not client.is_enabled:
            return client
        client.disabled_at = utcnow()
        client.save()
        _audit("client.disable", client_id, {"name": client.name}, actor=actor, ip=ip)
    return client


def rotate_secret(client_id: str, *, actor: str, ip: str | None = None) -> str:
    """Give an enabled ``client_secret_basic`` client a new secret and return it in clear.

    Only its hash is stored and the old secret stops verifying when the transaction commits:
    the caller shows the new one once, and the client must switch to it at once.
    """
    with db.transaction():
        client = get_client(client_id)
        if client.auth_method == "none":
            raise InvalidInput(
                f"client {client_id!r} is a public client (auth method none): "
                "it has no secret to rotate"
            )
        if client.auth_method != "client_secret_basic":
            raise InvalidInput(
                f"client {client_id!r} authenticates with {client.auth_method}: it has no "
                "secret to rotate; it rotates the keys of its JWKS itself"
            )
        if not client.is_enabled:
            raise Conflict(f"client {client_id!r} is disabled; its secret cannot be rotated")
        secret = secrets.token_urlsafe(32)
        # Compare-and-swap: of two rotations (or a rotation and a disable) racing, only one
        # wins, so no secret is printed that was overwritten before anyone could use it.
        changed = (
            Client.update(secret_hash=hash_secret(secret))
            .where(
                (Client.id == client.id)
                & (Client.secret_hash == client.secret_hash)
                & Client.disabled_at.is_null()
            )
            .execute()
        )
        if changed != 1:
            raise Conflict(f"client {client_id!r} changed while rotating its secret; try again")
        _audit("client.rotate_secret", client_id, {"name": client.name}, actor=actor, ip=ip)
    return secret


# The secrets are 256-bit random values, not passwords people choose: no dictionary applies
# and brute force over 2**256 is out of reach whatever the hash speed, so a slow password hash
# (bcrypt, scrypt) would add nothing but CPU cost on every token request. The salt keeps equal
# secrets from having equal hashes and rules out precomputed tables.
def hash_secret(secret: str) -> str:
    """``sha256$<salt>$<hex digest of salt + secret>``."""
    salt = secrets.token_hex(16)
    return f"sha256${salt}${_digest(salt, secret)}"


def verify_secret(client: Client, secret: object) -> bool:
    """True when ``secret`` is the enabled client's secret; compared in constant time."""
    if not client.is_enabled or not client.secret_hash or not isinstance(secret, str):
        return False
    scheme, _, rest = client.secret_hash.partition("$")
    salt, _, expected = rest.partition("$")
    if scheme != "sha256" or not salt or not expected:
        return False
    return hmac.compare_digest(_digest(salt, secret), expected)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(salt.encode() + secret.encode()).hexdigest()


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


# -- reads for the provider ----------------------------------------------------------------------


def find_client(client_id: str) -> Client | None:
    """The client of that id, enabled or not, if registered."""
    return Client.get_or_none(Client.client_id == client_id)


def enabled_client(client_id: str) -> Client | None:
    """The client of that id if it is registered and not disabled."""
    return Client.get_or_none((Client.client_id == client_id) & Client.disabled_at.is_null())


def enabled_client_ids() -> list[str]:
    return [row.client_id for row in Client.select(Client.client_id).where(_enabled())]


def enabled_client_count() -> int:
    return Client.select().where(_enabled()).count()


def enabled_redirect_uris() -> list[str]:
    """Every redirect URI of the enabled clients."""
    rows = Client.select(Client.redirect_uris).where(_enabled())
    return [uri for row in rows for uri in row.redirect_uri_list]


def _enabled():
    return Client.disabled_at.is_null()
