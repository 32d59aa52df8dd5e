"""Token families: one authorization grant and every token issued from it, so that all of
them can be revoked at once.

pyop keeps no link from an authorization code to the tokens issued from it, nor from a refresh
token to the other tokens of its grant, so it cannot do what these ask:

- RFC 6749 section 4.1.2 (and 10.5): a code used more than once must be refused, and the
  server should revoke "all tokens previously issued based on that authorization code";
- RFC 9700 (OAuth 2.0 Security BCP) section 4.14.2: a rotated-away refresh token presented
  again reveals a theft; the server revokes the active refresh token of that grant (here, every
  token of it);
- RFC 7009 section 2.1: revoking a refresh token should also invalidate the access tokens of
  the same grant.

A family's record (collection ``token_families``) holds the grant (subject, client, granted
scope, authorization request) and what of it may still be live: its code, its access tokens
and its refresh tokens not yet rotated away, each with its expiry. The index ``subject_families``
lists the families of each subject, for logout.

Every change of a family is a compare-and-swap. A token is handed out only once it is listed
in a family that is not revoked (:meth:`TokenFamilies.add`, in the transaction that stores the
token); revoking marks the family revoked and empties its lists in one swap
(:meth:`TokenFamilies.revoke`). So a token is either listed when its family is revoked, and
deleted, or refused a place and never stored: none escapes a revocation. The family's record
outlives every row that names it (its time to live starts again with each change and is at
least that of any code or token), so a replay is recognised for as long as the replayed code
or token is stored.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from idp_bridge.oidc.storage import DatabaseStorage

FAMILIES = "token_families"  # family id -> the grant and its live code and tokens
SUBJECT_FAMILIES = "subject_families"  # sub -> {"families": {family id: expiry hint}}


class FamilyClosedError(Exception):
    """The family is revoked or gone: nothing more may be issued from it."""


def new_secret() -> str:
    """A code, a token or a family id: 256 random bits (pyop's are UUID4s, 122 bits)."""
    return secrets.token_urlsafe(32)


class TokenFamilies:
    """The families of one provider. ``ttl``: how long a family's record lives after each
    change; at least as long as any code or token issued into it."""

    def __init__(self, ttl: int, clock: Callable[[], float] = time.time):
        self.records = DatabaseStorage(FAMILIES, ttl=ttl, clock=clock)
        self.of_subject = DatabaseStorage(SUBJECT_FAMILIES, clock=clock)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def open(self, grant: Mapping[str, Any], *, until: int, code: str | None = None) -> str:
        """Start a family for ``grant`` (``sub``, ``client_id``, ``granted_scope``,
        ``auth_req``), listing ``code`` if given, live at least ``until``; list it under its
        subject. Return its id."""
        family_id = new_secret()
        self.records[family_id] = {
            **grant,
            "revoked": False,
            "exp": until,
            "code": code,
            "access_tokens": {},
            "refresh_tokens": {},
        }
        now = self._now()

        def add(index):
            families = index["families"]
            for other, hint in list(families.items()):
                if hint < now:  # past what was known of it: rotations may have extended it
                    record = self.records.get(other)
                    if record is None or record["revoked"] or record["exp"] < now:
                        del families[other]
                    else:
                        families[other] = record["exp"]
            families[family_id] = until
            return index

        self.of_subject.modify(grant["sub"], add, create={"families": {}})
        return family_id

    def live(self, family_id: str) -> dict | None:
        """The family's record, or ``None`` when it is revoked or gone."""
        record = self.records.get(family_id) if isinstance(family_id, str) else None
        return None if record is None or record["revoked"] else dict(record)

    def add(
        self,
        family_id: str,
        *,
        access: Mapping[str, int] | None = None,
        refresh: Mapping[str, int] | None = None,
        retire: Iterable[str] = (),
    ) -> None:
        """List new tokens (value -> expiry) in the family and drop the refresh tokens
        ``retire`` (rotated away); :class:`FamilyClosedError` when it is revoked or gone."""

        def list_tokens(record):
            return self.with_tokens(
                family_id, record, access=access, refresh=refresh, retire=retire
            )

        if self.records.modify(family_id, list_tokens) is None:
            raise FamilyClosedError(family_id)

    def with_tokens(
        self,
        family_id: str,
        record: Mapping[str, Any],
        *,
        access: Mapping[str, int] | None = None,
        refresh: Mapping[str, int] | None = None,
        retire: Iterable[str] = (),
    ) -> dict:
        """The family's ``record`` as :meth:`add` leaves it (a new dict; tokens expired or
        retired dropped, the family's expiry the latest of its tokens');
        :class:`FamilyClosedError` when it is revoked."""
        if record["revoked"]:
            raise FamilyClosedError(family_id)
        access, refresh, retire = dict(access or {}), dict(refresh or {}), set(retire)
        now = self._now()
        changed = dict(record)
        for kind, new in (("access_tokens", access), ("refresh_tokens", refresh)):
            kept = {
                value: exp
                for value, exp in record[kind].items()
                if exp >= now and value not in retire
            }
            changed[kind] = {**kept, **new}
        changed["exp"] = max(record["exp"], *access.values(), *refresh.values())
        return changed

    def revoke(self, family_id: str) -> dict | None:
        """Mark the family revoked; return what it listed (``code``, ``access_tokens``,
        ``refresh_tokens``) for the caller to delete, or ``None`` when it is unknown."""
        listed: dict[str, Any] = {}

        def close(record):
            listed.update(
                code=record["code"],
                access_tokens=list(record["access_tokens"]),
                refresh_tokens=list(record["refresh_tokens"]),
            )
            if record["revoked"] and not any(listed.values()):
                return None
            return {
                **record,
                "revoked": True,
                "code": None,
                "access_tokens": {},
                "refresh_tokens": {},
            }

        if not isinstance(family_id, str) or self.records.modify(family_id, close) is None:
            return None
        return listed

    def of(self, sub: str) -> list[str]:
        """The families listed under subject ``sub``."""
        index = self.of_subject.get(sub)
        return [] if index is None else list(index["families"])

    def forget(self, sub: str, family_ids: Iterable[str]) -> None:
        """Drop ``family_ids`` from the families listed under ``sub``."""
        gone = set(family_ids)

        def drop(index):
            if not gone & index["families"].keys():
                return None
            return {"families": {f: h for f, h in index["families"].items() if f not in gone}}

        self.of_subject.modify(sub, drop)
