"""Registration of relying parties (OpenID Connect) and callers of the decision API.

A client authenticates with ``client_secret_basic`` (RFC 6749 section 2.3.1), a secret
generated here, shown once and stored only as a salted hash; or with ``private_key_jwt``
(OpenID Connect Core section 9) against the JWKS it registered, inline or at a ``jwks_uri``.
A public client (``none``: an app that cannot keep a secret, RFC 6749 section 2.1) has no
credentials; its redirect URIs and PKCE are all that bind a code to it, so it must register
redirect URIs. What a client registers is checked by :class:`ClientMetadata`
(``authz.client_metadata``); what is registered is read as :class:`RegisteredClient`, so no
other package reads the table.

A secret is replaced with :func:`rotate_secret`; the old one stops verifying at once.

Endpoints called on every request of a relying party read clients through a
:class:`ClientCache`: a change made in this process reaches its caches when it commits, and
another process's caches within their time to live.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import weakref
from collections.abc import Iterator
from dataclasses import replace

import peewee
from cachetools import TTLCache

from authz import audit, db
from authz.catalogue import CatalogueEntry
from authz.client_metadata import (
    AUTH_METHODS,
    DEFAULT_SCOPES,
    SUBJECT_TYPES,
    ClientMetadata,
    RegisteredClient,
    validate_redirect_uris,
)
from authz.engine import get_engine
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import Client, utcnow
from authz.tables import RowByKey

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_SCOPES",
    "SUBJECT_TYPES",
    "ClientCache",
    "ClientMetadata",
    "RegisteredClient",
    "add_client",
    "add_redirect_uri",
    "catalogued_clients",
    "disable_client",
    "enabled_client",
    "enabled_client_ids",
    "find_client",
    "get_client",
    "hash_secret",
    "list_clients",
    "redirect_uris_of_enabled_clients",
    "rotate_secret",
    "secret_matches",
    "set_catalogue",
    "validate_redirect_uris",
    "verify_secret",
]
MAX_CLIENT_ID = 255  # the column's length: a longer id names no client
MIN_GIVEN_SECRET = 32  # characters of a secret given at registration instead of generated


def add_client(
    metadata: ClientMetadata, *, actor: str, ip: str | None = None, secret: str | None = None
) -> tuple[RegisteredClient, str | None]:
    """Register a client; return it and its secret in clear, or None for ``private_key_jwt``
    and public (``none``) clients.

    The secret is generated unless ``secret`` gives one (a client moved from another system
    keeps its secret): at least :data:`MIN_GIVEN_SECRET` characters, and only for
    ``client_secret_basic``; a demo-mode client (``allow_http``) may have a short published
    one. It is not
    stored: the caller shows it once. The metadata was checked when it was built; only the
    uniqueness of the client_id is left to check, here, in the transaction.
    """
    client_id = metadata.client_id or secrets.token_hex(16)
    if secret is not None:
        if metadata.auth_method != "client_secret_basic":
            raise InvalidInput(f"a {metadata.auth_method} client has no secret to give")
        shortest = 1 if metadata.allow_http else MIN_GIVEN_SECRET  # demo mode: published
        if not isinstance(secret, str) or len(secret) < shortest:
            raise InvalidInput(f"a given secret needs at least {shortest} characters")
    elif metadata.auth_method == "client_secret_basic":
        secret = secrets.token_urlsafe(32)
    details = {
        "name": metadata.name,
        "service_domain": metadata.service_domain,
        "auth_method": metadata.auth_method,
        "redirect_uris": list(metadata.redirect_uris),
        "scopes": list(metadata.scopes),
        "subject_type": metadata.subject_type,
        "may_receive_nrn": metadata.may_receive_nrn,
    }
    if metadata.jwks_uri is not None:
        details["jwks_uri"] = metadata.jwks_uri
    if metadata.post_logout_redirect_uris:
        details["post_logout_redirect_uris"] = list(metadata.post_logout_redirect_uris)
    if metadata.backchannel_logout_uri is not None:
        details["backchannel_logout_uri"] = metadata.backchannel_logout_uri
    taken = Conflict(f"a client with client_id {client_id!r} already exists")
    try:
        with db.transaction():
            if Client.select().where(Client.client_id == client_id).exists():
                raise taken
            row = Client.create(
                client_id=client_id,
                name=metadata.name,
                secret_hash=hash_secret(secret) if secret else None,
                auth_method=metadata.auth_method,
                redirect_uris=json.dumps(list(metadata.redirect_uris)),
                post_logout_redirect_uris=json.dumps(list(metadata.post_logout_redirect_uris)),
                backchannel_logout_uri=metadata.backchannel_logout_uri,
                jwks=metadata.jwks,
                jwks_uri=metadata.jwks_uri,
                allowed_scopes=" ".join(metadata.scopes),
                service_domain=metadata.service_domain,
                sector_identifier=metadata.sector_identifier,
                subject_type=metadata.subject_type,
                may_receive_nrn=metadata.may_receive_nrn,
            )
            _audit("client.add", client_id, details, actor=actor, ip=ip)
    except peewee.IntegrityError:  # registered at the same moment by someone else
        raise taken from None
    return _registered(row), secret


def _audit(action: str, client_id: str, details: dict, *, actor: str, ip: str | None) -> None:
    """Record a change of the client registry (inside the transaction that makes it); this
    process's client caches forget the client once it commits."""
    db.after_commit(lambda: _forget_everywhere(client_id))
    audit.record(
        actor=actor,
        action=action,
        target_type="client",
        target_id=client_id,
        ip=ip,
        policy_version=get_engine().version,
        details=details,
    )


# -- reading the registry ------------------------------------------------------------------


def _registered(row: Client) -> RegisteredClient:
    return RegisteredClient(
        client_id=row.client_id,
        name=row.name,
        auth_method=row.auth_method,
        service_domain=row.service_domain,
        redirect_uris=tuple(json.loads(row.redirect_uris or "[]")),
        scopes=tuple(row.allowed_scopes.split()),
        may_receive_nrn=bool(row.may_receive_nrn),
        subject_type=row.subject_type,
        sector_identifier=row.sector_identifier,
        jwks=row.jwks,
        jwks_uri=row.jwks_uri,
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris or "[]")),
        backchannel_logout_uri=row.backchannel_logout_uri,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        secret_hash=row.secret_hash,
        catalogue=CatalogueEntry.from_json(row.catalogue),
    )


def list_clients() -> list[RegisteredClient]:
    return [_registered(row) for row in Client.select().order_by(Client.client_id)]


def get_client(client_id: str) -> RegisteredClient:
    """The client of that id, enabled or not; :class:`NotFound` when there is none."""
    client = find_client(client_id)
    if client is None:
        raise NotFound(f"no client with client_id {client_id!r}")
    return client


_client_by_id = RowByKey(Client, Client.client_id)


def find_client(client_id: str) -> RegisteredClient | None:
    """The client of that id, enabled or not, or None (an id too long to exist included)."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
        return None
    with db.connection():
        row = _client_by_id(client_id)
    return _registered(row) if row is not None else None


class ClientCache:
    """Client records by client_id (enabled or not), read with :func:`find_client` on a miss
    and kept ``ttl`` seconds, at most ``size`` of them. A change committed in this process
    is seen at once; one made by another process within ``ttl``."""

    def __init__(self, ttl: float, size: int = 1024):
        self._clients: TTLCache = TTLCache(size, ttl)
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, client_id: str) -> RegisteredClient | None:
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            client = find_client(client_id)
            if client is not None:
                with self._lock:
                    self._clients[client_id] = client
        return client

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)


_caches: weakref.WeakSet[ClientCache] = weakref.WeakSet()


def _forget_everywhere(client_id: str) -> None:
    for cache in list(_caches):
        cache.forget(client_id)


def enabled_client(client_id: str | None) -> RegisteredClient | None:
    """The client of that id if it is registered and not disabled."""
    client = find_client(client_id) if client_id else None
    return client if client is not None and client.is_enabled else None


def enabled_client_ids() -> list[str]:
    with db.connection():
        query = Client.select(Client.client_id).where(Client.disabled_at.is_null())
        return [row.client_id for row in query]


def catalogued_clients() -> list[RegisteredClient]:
    """The enabled clients that have a catalogue entry (``authz.catalogue``), by client_id."""
    with db.connection():
        query = (
            Client.select()
            .where(Client.disabled_at.is_null() & Client.catalogue.is_null(False))
            .order_by(Client.client_id)
        )
        return [_registered(row) for row in query]


def redirect_uris_of_enabled_clients() -> Iterator[str]:
    """Every redirect URI of every enabled client (for the origins CORS admits)."""
    with db.connection():
        rows = list(Client.select(Client.redirect_uris).where(Client.disabled_at.is_null()))
    for row in rows:
        yield from json.loads(row.redirect_uris or "[]")


# -- changing a registration --------------------------------------------------------------


def disable_client(client_id: str, *, actor: str, ip: str | None = None) -> RegisteredClient:
    """Disable a client: its secret stops verifying. Disabling twice changes nothing."""
    with db.transaction():
        client = get_client(client_id)
        if not client.is_enabled:
            return client
        disabled_at = utcnow()
        Client.update(disabled_at=disabled_at).where(Client.client_id == client_id).execute()
        _audit("client.disable", client_id, {"name": client.name}, actor=actor, ip=ip)
    return replace(client, disabled_at=disabled_at)


def add_redirect_uri(
    client_id: str, uri: str, *, allow_http: bool = False, actor: str, ip: str | None = None
) -> RegisteredClient:
    """Register one more redirect URI for an enabled client (audited ``client.update``); a URI
    it has already is left as it is. The URI is checked as at registration (``http`` only
    with ``allow_http``: demo mode)."""
    with db.transaction():
        client = get_client(client_id)
        if not client.is_enabled:
            raise Conflict(f"client {client_id!r} is disabled")
        if uri in client.redirect_uris:
            return client
        (checked,) = validate_redirect_uris([uri], allow_http=allow_http)
        uris = [*client.redirect_uris, checked]
        Client.update(redirect_uris=json.dumps(uris)).where(Client.client_id == client_id).execute()
        _audit("client.update", client_id, {"redirect_uris": uris}, actor=actor, ip=ip)
    return replace(client, redirect_uris=tuple(uris))


def set_catalogue(
    client_id: str, entry: CatalogueEntry, *, actor: str, ip: str | None = None
) -> RegisteredClient:
    """Give an enabled client its catalogue entry, replacing any (audited ``client.update``).
    The entry was checked when it was built (``http`` start URL only with ``allow_http``)."""
    with db.transaction():
        client = get_client(client_id)
        if not client.is_enabled:
            raise Conflict(f"client {client_id!r} is disabled")
        if client.catalogue == entry:
            return client
        Client.update(catalogue=entry.to_json()).where(Client.client_id == client_id).execute()
        _audit("client.update", client_id, {"catalogue": entry.as_dict()}, actor=actor, ip=ip)
    return replace(client, catalogue=entry)


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
                (Client.client_id == client.client_id)
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


def verify_secret(client: RegisteredClient | Client, secret: object) -> bool:
    """True when ``secret`` is the enabled client's secret; compared in constant time."""
    if not client.is_enabled:
        return False
    return secret_matches(client.secret_hash, secret)


def secret_matches(secret_hash: str | None, secret: object) -> bool:
    """True when ``secret`` hashes to ``secret_hash``; compared in constant time."""
    if not secret_hash or not isinstance(secret, str):
        return False
    scheme, _, rest = secret_hash.partition("$")
    salt, _, expected = rest.partition("$")
    if scheme != "sha256" or not salt or not expected:
        return False
    return hmac.compare_digest(_digest(salt, secret), expected)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(salt.encode() + secret.encode()).hexdigest()
