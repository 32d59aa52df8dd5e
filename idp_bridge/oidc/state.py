"""pyop's authorization state (codes, tokens, subject identifiers) in the database, safe on many
nodes, with the traps of pyop's ``AuthorizationState`` closed (docs/security.md, "pyop's
authorization state").

:class:`ProviderAuthorizationState` subclasses ``pyop.authz_state.AuthorizationState`` and
keeps every method and signature pyop's ``Provider`` calls. Each code opens a token family
(``idp_bridge.oidc.token_families``), so that a reused code or a replayed refresh token revokes
every token of its grant; subjects are found through a reverse index
(``idp_bridge.oidc.subjects``).

For the revocation endpoint (RFC 7009): :meth:`~ProviderAuthorizationState.revoke_access_token`,
:meth:`~ProviderAuthorizationState.revoke_refresh_token` (the whole family, section 2.1),
:meth:`~ProviderAuthorizationState.revoke_family`; for introspection (RFC 7662, ``active``):
:meth:`~ProviderAuthorizationState.active_access_token` and
:meth:`~ProviderAuthorizationState.active_refresh_token`. pyop's refresh path does not check
that a refresh token belongs to the client presenting it (RFC 6749 section 6): the token
endpoint must, with ``active_refresh_token(value)["client_id"]``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cachetools import TTLCache
from oic.extension.message import TokenIntrospectionResponse
from pyop.access_token import AccessToken
from pyop.authz_state import AuthorizationState
from pyop.exceptions import (
    InvalidAccessToken,
    InvalidAuthorizationCode,
    InvalidRefreshToken,
    InvalidScope,
    InvalidSubjectIdentifier,
)
from pyop.message import AuthorizationRequest
from pyop.subject_identifier import SubjectIdentifierFactory
from pyop.util import requested_scope_is_allowed

from authz import db
from idp_bridge.oidc.storage import (
    DatabaseStorage,
    StoredRecord,
    store_all,
    swap_then_store,
    written_together,
)
from idp_bridge.oidc.subjects import SubjectIdentifierStorage
from idp_bridge.oidc.token_families import FamilyClosedError, TokenFamilies, new_secret

logger = logging.getLogger(__name__)

CODES = "authorization_codes"
ACCESS_TOKENS = "access_tokens"
REFRESH_TOKENS = "refresh_tokens"

# A refresh token issued with an access token at a code's redemption, kept until pyop's
# Provider asks for it (create_refresh_token, right after exchange_code_for_token).
ISSUED_REFRESH_TOKENS_KEPT = 4096
ISSUED_REFRESH_TOKENS_SECONDS = 60


class _LostRace(Exception):
    """The code or refresh token a grant was for was used (or changed) by another request
    between its reading and its use: nothing of the grant was written."""


class ProviderAuthorizationState(AuthorizationState):
    """pyop's ``AuthorizationState`` over the ``oidc_state`` table, safe on many nodes.

    ``code_replay_window``: seconds a code is kept after its lifetime, so that a late replay
    still revokes what it gave (default: the longest token lifetime). ``clock``: the time,
    for the tests. Refresh tokens are issued when ``refresh_token_lifetime`` is set, and
    rotated at every use (pyop's ``refresh_token_threshold`` has no counterpart).
    ``grant_deadline``: given the authorization request, the time (POSIX seconds) after which
    no token of its grant may be used, or None; every token issued from the grant expires by
    then, however often refresh tokens rotate (the provider passes the end of the login
    session the grant came from).
    """

    def __init__(
        self,
        subject_identifier_factory: SubjectIdentifierFactory,
        *,
        authorization_code_lifetime: int = 600,
        access_token_lifetime: int = 3600,
        refresh_token_lifetime: int | None = None,
        code_replay_window: int | None = None,
        grant_deadline: Callable[[Mapping[str, Any]], int | None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        longest_token = max(access_token_lifetime, refresh_token_lifetime or 0)
        replay_window = longest_token if code_replay_window is None else code_replay_window
        self._code_ttl = authorization_code_lifetime + replay_window
        super().__init__(
            subject_identifier_factory,
            DatabaseStorage(CODES, ttl=self._code_ttl, clock=clock),
            DatabaseStorage(ACCESS_TOKENS, ttl=access_token_lifetime, clock=clock, write_once=True),
            DatabaseStorage(REFRESH_TOKENS, ttl=refresh_token_lifetime, clock=clock),
            SubjectIdentifierStorage(clock=clock),
            authorization_code_lifetime=authorization_code_lifetime,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
        )
        self.families = TokenFamilies(max(self._code_ttl, longest_token), clock=clock)
        self._clock = clock
        self._grant_deadline = grant_deadline or (lambda _request: None)
        self._issued_refresh_tokens: TTLCache = TTLCache(
            ISSUED_REFRESH_TOKENS_KEPT, ISSUED_REFRESH_TOKENS_SECONDS
        )
        self._issued_lock = threading.Lock()

    def _now(self) -> int:
        return int(self._clock())

    # Subject identifiers

    def get_subject_identifier(
        self, subject_type: str, user_id: str, sector_identifier: str | None = None
    ) -> str:
        factory = self._subject_identifier_factory
        if subject_type == "public":
            return self.subject_identifiers.public(
                user_id, lambda: factory.create_public_identifier(user_id)
            )
        if subject_type == "pairwise":
            if not sector_identifier:
                raise ValueError("sector_identifier cannot be None or empty")
            sub = factory.create_pairwise_identifier(user_id, sector_identifier)
            self.subject_identifiers.add_pairwise(user_id, sub)
            return sub
        raise ValueError(f"Unknown subject_type={subject_type}")

    def get_user_id_for_subject_identifier(self, subject_identifier: str) -> str:
        user_id = self.subject_identifiers.user_for(subject_identifier)
        if user_id is None:
            raise InvalidSubjectIdentifier("unknown subject identifier")
        return user_id

    # Authorization codes

    def create_authorization_code(
        self,
        authorization_request: AuthorizationRequest,
        subject_identifier: str,
        scope: Iterable[str] | None = None,
        user_info: Mapping[str, Any] | None = None,
        extra_id_token_claims: Mapping[str, Any] | None = None,
    ) -> str:
        grant = self._grant(authorization_request, subject_identifier, scope)
        now, code = self._now(), new_secret()
        with written_together():  # the family, its subject's index and the code: one commit
            family_id = self.families.open(grant, until=now + self._code_ttl, code=code)
            self.authorization_codes[code] = {
                "used": False,
                "exp": now + self.authorization_code_lifetime,
                "sub": subject_identifier,
                "client_id": grant["client_id"],
                "granted_scope": grant["granted_scope"],
                self.KEY_AUTHORIZATION_REQUEST: grant[self.KEY_AUTHORIZATION_REQUEST],
                "family": family_id,
            }
        return code

    def exchange_code_for_token(self, authorization_code: str) -> AccessToken:
        access_token, refresh_token = self.redeem_code(authorization_code)
        if refresh_token:  # for pyop's Provider, which asks for it next
            with self._issued_lock:
                self._issued_refresh_tokens[access_token.value] = refresh_token
        return access_token

    def redeem_code(self, authorization_code: str) -> tuple[AccessToken, str | None]:
        """The access token, and the refresh token when they are issued, of a code's single
        redemption; :class:`InvalidAuthorizationCode` when it cannot be redeemed (a replay
        revokes its grant)."""
        record = self._unused_code(authorization_code)
        family_id = record["family"]
        grant = self.families.live(family_id)
        if grant is None:
            raise InvalidAuthorizationCode("the grant of this authorization code was revoked")
        # One transaction: the tokens stored, listed in the family, the code marked used. Of
        # concurrent redemptions one commits; the others' swap of the code fails, which undoes
        # their writes, and they are replays (below).
        try:
            access_token, refresh_token = self._issue(
                family_id,
                grant,
                refresh=bool(self.refresh_token_lifetime),
                consume=(self.authorization_codes, authorization_code, record),
            )
        except FamilyClosedError:
            raise InvalidAuthorizationCode(
                "the grant of this authorization code was revoked"
            ) from None
        except _LostRace:
            self._unused_code(authorization_code)  # used (and now revoked), unknown, expired
            raise InvalidAuthorizationCode("authorization code could not be redeemed") from None
        return access_token, refresh_token

    def get_authorization_request_for_code(self, authorization_code: str) -> AuthorizationRequest:
        return AuthorizationRequest().from_dict(self.unused_code(authorization_code)[0])

    def unused_code(self, authorization_code: str) -> tuple[dict, str]:
        """The authorization request (as stored: a plain dict) and the subject of a code that
        may still be redeemed, else :class:`InvalidAuthorizationCode` (a used one presented
        again revokes its grant). Its family is read with it (remembered for the grant)."""
        if isinstance(authorization_code, str):
            codes, families = self.authorization_codes, self.families.records
            codes.read_linked(authorization_code, families, "family")
        record = self._unused_code(authorization_code)
        return record[self.KEY_AUTHORIZATION_REQUEST], record["sub"]

    def get_subject_identifier_for_code(self, authorization_code: str) -> str:
        return self._unused_code(authorization_code)["sub"]

    def family_of_code(self, authorization_code: str) -> str:
        """The token family the code opened: what ends with the login session it came from."""
        return self._code(authorization_code)["family"]

    def get_user_info_for_code(self, authorization_code: str) -> dict | None:
        return self._code(authorization_code).get(self.KEY_USER_INFO)

    def get_extra_id_token_claims_for_code(self, authorization_code: str) -> dict | None:
        return self._code(authorization_code).get(self.KEY_EXTRA_ID_TOKEN_CLAIMS)

    def _code(self, authorization_code: str) -> dict:
        record = self.authorization_codes.get(authorization_code)
        if record is None or "family" not in record:
            raise InvalidAuthorizationCode("unknown authorization code")
        return record

    def _unused_code(self, authorization_code: str) -> dict:
        """The code's record, if it may still be redeemed. A used code presented again, by
        whichever client, is a replay: the family it opened is revoked (RFC 6749 4.1.2)."""
        record = self._code(authorization_code)
        if record["used"]:
            self._replayed("authorization code", record)
            raise InvalidAuthorizationCode(
                "authorization code has already been used: the tokens issued from it are revoked"
            )
        if record["exp"] < self._now():
            raise InvalidAuthorizationCode("authorization code has expired")
        return record

    # Access tokens

    def create_access_token(
        self,
        authorization_request: AuthorizationRequest,
        subject_identifier: str,
        scope: Iterable[str] | None = None,
        user_info: Mapping[str, Any] | None = None,
    ) -> AccessToken:
        """An access token straight from the authorization endpoint (implicit flow): a family
        of its own, so that it can be revoked like any other."""
        grant = self._grant(authorization_request, subject_identifier, scope)
        family_id = self.families.open(grant, until=self._now() + self.access_token_lifetime)
        try:
            access_token, _ = self._issue(family_id, grant)
        except FamilyClosedError:
            raise InvalidAccessToken("the grant of this access token was revoked") from None
        return access_token

    def introspect_access_token(self, access_token_value: str) -> dict:
        record = self._access_token(access_token_value)
        introspection = {"active": record["exp"] >= self._now()}
        introspection.update(
            (k, v) for k, v in record.items() if k in TokenIntrospectionResponse.c_param
        )
        return introspection

    def get_user_info_for_access_token(self, access_token: str) -> dict | None:
        return self._access_token(access_token).get(self.KEY_USER_INFO)

    def get_authorization_request_for_access_token(
        self, access_token_value: str
    ) -> AuthorizationRequest:
        record = self._access_token(access_token_value)
        return AuthorizationRequest().from_dict(record[self.KEY_AUTHORIZATION_REQUEST])

    def _access_token(self, value: str) -> dict:
        record = self.access_tokens.get(value)
        if record is None:
            raise InvalidAccessToken("unknown access token")
        return record

    # Refresh tokens

    def create_refresh_token(self, access_token_value: str) -> str | None:
        with self._issued_lock:
            issued = self._issued_refresh_tokens.pop(access_token_value, None)
        if issued is not None:
            return issued
        record = self._access_token(access_token_value)
        if not self.refresh_token_lifetime:
            return None
        grant = self.families.live(record.get("family"))
        if grant is None:
            raise InvalidAccessToken("the grant of this access token was revoked")
        try:
            _, refresh_token = self._issue(
                record["family"], grant, access=False, refresh=True, with_access=access_token_value
            )
        except FamilyClosedError:
            raise InvalidAccessToken("the grant of this access token was revoked") from None
        return refresh_token

    def use_refresh_token(
        self, refresh_token: str, scope: Iterable[str] | None = None
    ) -> tuple[AccessToken, str]:
        """A new access token and a new refresh token; ``refresh_token`` is used up."""
        record = self.refresh_tokens.get(refresh_token)
        if record is None or "family" not in record:
            raise InvalidRefreshToken("unknown refresh token")
        if record["used"]:
            self._replayed("refresh token", record)
            raise InvalidRefreshToken(
                "refresh token has already been used: every token of its grant is revoked"
            )
        if record["exp"] < self._now():
            raise InvalidRefreshToken("refresh token has expired")
        grant = self.families.live(record["family"])
        if grant is None:
            raise InvalidRefreshToken("the grant of this refresh token was revoked")
        if scope:
            if not requested_scope_is_allowed(scope, grant["granted_scope"]):
                raise InvalidScope("Requested scope includes non-granted value")
            scope = " ".join(scope)
        try:
            access_token, new_refresh_token = self._issue(
                record["family"],
                grant,
                scope=scope or None,
                refresh=True,
                retire=[refresh_token],
                consume=(self.refresh_tokens, refresh_token, record),
            )
        except FamilyClosedError:
            raise InvalidRefreshToken("the grant of this refresh token was revoked") from None
        except _LostRace:
            again = self.refresh_tokens.get(refresh_token)
            if again is not None and again["used"]:  # another use won: this one is a replay
                self._replayed("refresh token", again)
                raise InvalidRefreshToken(
                    "refresh token has already been used: every token of its grant is revoked"
                ) from None
            raise InvalidRefreshToken("refresh token could not be used") from None
        return access_token, new_refresh_token

    # Logout, revocation, introspection

    def delete_state_for_subject_identifier(self, subject_identifier: str) -> None:
        """Logout: revoke every family of the subject (its codes, access and refresh
        tokens), found in the index subject -> families."""
        if not self._is_valid_subject_identifier(subject_identifier):
            raise InvalidSubjectIdentifier("Trying to delete state for unknown subject identifier")
        family_ids = self.families.of(subject_identifier)
        for family_id in family_ids:
            self.revoke_family(family_id)
        self.families.forget(subject_identifier, family_ids)

    def revoke_family(self, family_id: str) -> bool:
        """Revoke a grant: its code and every access and refresh token issued from it. Return
        whether the family was known."""
        listed = self.families.revoke(family_id)
        if listed is None:
            return False
        if listed["code"]:
            self.authorization_codes.pop(listed["code"], None)
        self._discard(listed["access_tokens"], listed["refresh_tokens"])
        return True

    def revoke_access_token(self, access_token_value: str) -> bool:
        """RFC 7009: this access token only. Return whether it was live."""
        return self.access_tokens.pop(access_token_value, None) is not None

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """RFC 7009 section 2.1: the refresh token and every token of its grant. Return
        whether it was known (used ones too: revoking one still revokes its family)."""
        record = self.refresh_tokens.pop(refresh_token, None)
        if record is None:
            return False
        if "family" in record:
            self.revoke_family(record["family"])
        return True

    def active_access_token(self, access_token_value: str) -> dict | None:
        """The access token's record if it is active (RFC 7662 ``active``), else ``None``."""
        record = self.access_tokens.get(access_token_value)
        return None if record is None or record["exp"] < self._now() else dict(record)

    def active_refresh_token(self, refresh_token: str) -> dict | None:
        """The refresh token's record, with its grant's ``scope``, if it may be used: not
        used, not expired, its family not revoked. Else ``None``. (The token and its family
        are read in one statement, and remembered for the grant.)"""
        if isinstance(refresh_token, str):
            self.refresh_tokens.read_linked(refresh_token, self.families.records, "family")
        record = self.refresh_tokens.get(refresh_token)
        if record is None or record.get("used") is not False or record["exp"] < self._now():
            return None
        grant = self.families.live(record.get("family"))
        if grant is None:
            return None
        return {k: v for k, v in record.items() if k != "access_token"} | {
            "scope": grant["granted_scope"]
        }

    def is_access_token_active(self, access_token_value: str) -> bool:
        return self.active_access_token(access_token_value) is not None

    def is_refresh_token_active(self, refresh_token: str) -> bool:
        return self.active_refresh_token(refresh_token) is not None

    # Issuing

    def _grant(
        self,
        authorization_request: AuthorizationRequest,
        subject_identifier: str,
        scope: Iterable[str] | None,
    ) -> dict:
        if not self._is_valid_subject_identifier(subject_identifier):
            raise InvalidSubjectIdentifier("unknown subject identifier")
        return {
            "sub": subject_identifier,
            "client_id": authorization_request["client_id"],
            "granted_scope": " ".join(scope or authorization_request["scope"]),
            self.KEY_AUTHORIZATION_REQUEST: authorization_request.to_dict(),
            "deadline": self._grant_deadline(authorization_request.to_dict()),
        }

    def _issue(
        self,
        family_id: str,
        grant: Mapping[str, Any],
        *,
        scope: str | None = None,
        access: bool = True,
        refresh: bool = False,
        retire: Iterable[str] = (),
        with_access: str | None = None,
        consume: tuple[DatabaseStorage, str, StoredRecord] | None = None,
    ) -> tuple[AccessToken | None, str | None]:
        """Store new tokens of the family and list them in it (``retire``: refresh tokens it
        rotates away), and mark ``consume`` (storage, key, record: the code or refresh token
        they are issued for) used, in one transaction. Nothing is written when the family is
        revoked meanwhile (:class:`FamilyClosedError`) or ``consume`` was used or changed
        meanwhile (:class:`_LostRace`)."""
        now = self._now()
        deadline = grant.get("deadline")
        if deadline is not None and deadline <= now:
            raise FamilyClosedError(family_id)

        def expiry(lifetime: int) -> int:
            return now + lifetime if deadline is None else min(now + lifetime, deadline)

        access_token = refresh_token = None
        access_listed: dict[str, int] = {}
        refresh_listed: dict[str, int] = {}
        rows: list[tuple[DatabaseStorage, str, dict]] = []
        if access:
            access_exp = expiry(self.access_token_lifetime)
            access_token = AccessToken(new_secret(), access_exp - now)
            access_listed[access_token.value] = access_exp
            rows.append(
                (
                    self.access_tokens,
                    access_token.value,
                    {
                        "iat": now,
                        "exp": access_exp,
                        "sub": grant["sub"],
                        "client_id": grant["client_id"],
                        "aud": [grant["client_id"]],
                        "scope": scope or grant["granted_scope"],
                        "granted_scope": grant["granted_scope"],
                        "token_type": AccessToken.BEARER_TOKEN_TYPE,
                        self.KEY_AUTHORIZATION_REQUEST: grant[self.KEY_AUTHORIZATION_REQUEST],
                        "family": family_id,
                    },
                )
            )
        if refresh:
            refresh_token = new_secret()
            refresh_listed[refresh_token] = expiry(self.refresh_token_lifetime)
            rows.append(
                (
                    self.refresh_tokens,
                    refresh_token,
                    {
                        "used": False,
                        "exp": refresh_listed[refresh_token],
                        "sub": grant["sub"],
                        "client_id": grant["client_id"],
                        "access_token": access_token.value if access_token else with_access,
                        "family": family_id,
                    },
                )
            )
        listed = {"access": access_listed, "refresh": refresh_listed, "retire": retire}
        if consume is not None and self._issued_in_one_statement(family_id, rows, listed, consume):
            return access_token, refresh_token
        with written_together():
            store_all(rows)
            self.families.add(family_id, **listed)
            if consume is not None and not consume[0].consume(consume[1], consume[2]):
                raise _LostRace(consume[1])
        return access_token, refresh_token

    def _issued_in_one_statement(
        self,
        family_id: str,
        rows: list[tuple[DatabaseStorage, str, dict]],
        listed: dict[str, Any],
        consume: tuple[DatabaseStorage, str, StoredRecord],
    ) -> bool:
        """:meth:`_issue`'s writes in one statement on PostgreSQL (``storage.swap_then_store``):
        the family listing the new tokens, then the code or refresh token marked used, then
        the tokens stored, each only if the one before it was written. False when the family
        or the record spent changed since they were read: no token was stored, and
        :meth:`_issue` takes its general path, which reads them again and decides (a revoked
        family, a lost race). Elsewhere (SQLite, inside a transaction), False at once."""
        if not db.is_postgresql() or db.database.in_transaction():
            return False
        family = self.families.records.get(family_id)  # read by the caller: remembered
        storage, key, record = consume
        if family is None or record.get("used") is not False:
            return False
        with_tokens = self.families.with_tokens(family_id, family, **listed)
        return swap_then_store(
            [
                (self.families.records, family_id, family, with_tokens, True),
                (storage, key, record, {**record, "used": True}, False),
            ],
            rows,
        )

    def _discard(self, access_tokens: Iterable[str], refresh_tokens: Iterable[str]) -> None:
        for value in access_tokens:
            self.access_tokens.pop(value, None)
        for value in refresh_tokens:
            self.refresh_tokens.pop(value, None)

    def _replayed(self, what: str, record: Mapping[str, Any]) -> None:
        logger.warning(
            "%s presented again (client %s): revoking every token of its grant",
            what,
            record.get("client_id"),
        )
        self.revoke_family(record["family"])
