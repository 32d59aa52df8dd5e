"""The tamper-evident audit log: a hash chain keyed with HMAC-SHA-256 (RFC 2104).

Every access change and admin action appends one :class:`~authz.models.AuditEvent` in the same
transaction as the change. Rows are numbered densely (``seq`` 1, 2, 3...); each stores the
SHA-256 of its own content and of the previous row's hash (``hash``, ``prev_hash``), and
HMAC-SHA-256 of that hash under the audit key (``mac``) with the key's id (``key_id``).

The hash chain alone can be recomputed by anyone who can write the database: rewrite a row,
recompute every later hash, and the chain is valid again. The HMAC cannot be recomputed without
the audit key, which is kept outside the database (a file or the environment, like the service's
other secrets), so :func:`verify` detects, against a database writer without the key, a row
rewritten, inserted or deleted anywhere, and a row appended. Whoever holds the key can rewrite
the log undetected: the key is the trust boundary.

Each row's HMAC covers its hash, which covers every row before it, so the newest row
authenticates the whole log. Truncating the newest rows still leaves a shorter valid log; keep
the head that ``monespace audit verify`` prints somewhere else (a ticket, a log shipper) and
pass it back with ``--head`` to detect that too.

Keys rotate: new rows are keyed with the current key, and older keys are kept to verify the
rows they keyed. A key's id is derived from the key, so ids never need naming by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from authz import db
from authz.errors import AuthzError
from authz.models import AuditEvent, AuditMention, utcnow

GENESIS_HASH = "0" * 64
MIN_KEY_LENGTH = 32
# Any constant works: it only has to be the same in every process writing the log.
_PG_LOCK_KEY = 0x4D45_4155  # "MEAU"
_KEY_ID_LABEL = b"monespace audit key id"


class AuditKeyMissing(AuthzError):
    """No audit key is configured: events cannot be written nor verified."""

    code = "audit_key"


@dataclass(frozen=True)
class AuditKey:
    """One HMAC key; ``id`` is derived from the secret and stored with each row it keys."""

    id: str
    secret: bytes

    @classmethod
    def from_text(cls, text: str) -> AuditKey:
        secret = text.encode()
        key_id = hmac.new(secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]
        return cls(key_id, secret)

    def mac(self, row_hash: str) -> str:
        return hmac.new(self.secret, row_hash.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"AuditKey(id={self.id!r})"  # never the secret


@dataclass(frozen=True)
class Keyring:
    """The key new rows are keyed with, and every key rows may have been keyed with."""

    current: AuditKey
    by_id: dict[str, AuditKey]

    @classmethod
    def from_texts(cls, current: str, previous: Iterable[str] = ()) -> Keyring:
        keys = [AuditKey.from_text(text) for text in (current, *previous)]
        return cls(keys[0], {key.id: key for key in reversed(keys)})


_keyring: Keyring | None = None


def use_keys(current: str, previous: Iterable[str] = ()) -> Keyring:
    """Key the log of this process: ``current`` keys new rows; ``previous`` (retired keys)
    only verify the rows they keyed. Called at start-up with the configured keys."""
    global _keyring
    _keyring = Keyring.from_texts(current, previous)
    return _keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise AuditKeyMissing(
            "no audit key is configured (MONESPACE_AUDIT_KEY_FILE or MONESPACE_AUDIT_KEY)"
        )
    return _keyring


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(event: AuditEvent) -> str:
    """SHA-256 over the row's content and the previous row's hash."""
    content = [
        event.seq,
        event.occurred_at,
        event.actor,
        event.action,
        event.target_type,
        event.target_id,
        event.enterprise_bce,
        event.details,
        event.ip,
        event.policy_version,
        event.prev_hash,
    ]
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def record(
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    policy_version: str,
    enterprise_bce: str | None = None,
    details: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction that makes the change it records."""
    return record_many(
        [
            {
                "actor": actor,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "policy_version": policy_version,
                "enterprise_bce": enterprise_bce,
                "details": details,
                "ip": ip,
            }
        ]
    )[0]


def record_many(entries: list[dict]) -> list[AuditEvent]:
    """Append several events in order (each a dict of :func:`record`'s arguments), taking the
    lock and reading the head once: what a batch of a large import needs."""
    if not entries:
        return []
    key = keyring().current  # before any write: no key, no unkeyed row either
    with db.transaction():
        serialize_appends()
        head = (
            AuditEvent.select(AuditEvent.seq, AuditEvent.hash)
            .order_by(AuditEvent.seq.desc())
            .first()
        )
        seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        occurred_at = utcnow().isoformat(timespec="microseconds")
        events = []
        for entry in entries:
            seq += 1
            event = AuditEvent(
                seq=seq,
                occurred_at=occurred_at,
                actor=entry["actor"],
                action=entry["action"],
                target_type=entry["target_type"],
                target_id=str(entry["target_id"]),
                enterprise_bce=entry.get("enterprise_bce"),
                details=canonical_json(entry.get("details") or {}),
                ip=entry.get("ip"),
                policy_version=entry["policy_version"],
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = row_hash(event)
            event.key_id, event.mac = key.id, key.mac(event.hash)
            events.append(event)
        for start in range(0, len(events), 500):
            AuditEvent.insert_many([e.__data__ for e in events[start : start + 500]]).execute()
        index_mentions(events)
    return events


NRN_RE = re.compile(r"\d{11}")


def mentions(event: AuditEvent) -> set[str]:
    """The national register numbers ``event`` names: its actor (``person:<NRN>``), its target
    when a person, and every value of its details that is 11 digits (a person there)."""
    found = set()
    actor = event.actor or ""
    if actor.startswith("person:") and NRN_RE.fullmatch(actor[7:]):
        found.add(actor[7:])
    if event.target_type == "person" and NRN_RE.fullmatch(event.target_id or ""):
        found.add(event.target_id)
    stack: list[object] = [json.loads(event.details or "{}")]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and NRN_RE.fullmatch(value):
            found.add(value)
    return found


def index_mentions(events: Iterable[AuditEvent]) -> int:
    """Write the :class:`AuditMention` rows of ``events`` (inside the caller's transaction);
    return how many."""
    rows = [{"nrn": nrn, "seq": e.seq} for e in events for nrn in sorted(mentions(e))]
    for start in range(0, len(rows), 500):
        AuditMention.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()
    return len(rows)


def rebuild_mentions(batch: int = 5000) -> int:
    """Index the mentions of the whole log afresh (a schema upgrade); return how many."""
    AuditMention.delete().execute()
    return sum(index_mentions(chunk) for chunk in _chunks(_iter_events(batch), batch))


def _chunks(events: Iterator[AuditEvent], size: int) -> Iterator[list[AuditEvent]]:
    chunk: list[AuditEvent] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def serialize_appends() -> None:
    """Wait for the other writers of the log, until the transaction under way ends.

    Appends are serialized: two writers reading the same head would fork the chain. SQLite's
    BEGIN IMMEDIATE (every :func:`authz.db.transaction`) already holds the write lock;
    PostgreSQL takes a transaction-level advisory lock. A caller that reads the log to decide
    whether to append (one event per change, whichever node sees it first) calls it first,
    in the same transaction.
    """
    if db.is_postgresql():
        db.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))


@dataclass(frozen=True)
class Head:
    """A point of the log recorded elsewhere: row ``seq`` had hash ``hash``. Printed and read
    as ``SEQ:HASH``; a bare hash (as printed before heads carried their row) has no seq."""

    seq: int | None
    hash: str

    def __str__(self) -> str:
        return self.hash if self.seq is None else f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    head: str
    problem: str | None = None
    first_bad_seq: int | None = None
    # False when the rows themselves are sound but do not reach the recorded head.
    chain_broken: bool = True
    # Rows after the recorded head, when one was given and found.
    appended: int = 0

    @property
    def head_token(self) -> str:
        return str(Head(self.rows, self.head))


def _iter_events(batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = list(
            AuditEvent.select().where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _chain_problem(event: AuditEvent, expected_seq: int, prev_hash: str) -> str | None:
    """What is wrong with this row's place in the SHA-256 chain, if anything."""
    if event.seq != expected_seq:
        if event.seq > expected_seq:
            return f"row {expected_seq} is missing"
        return f"row {event.seq} appears twice"
    if event.prev_hash != prev_hash:
        return f"row {event.seq} does not follow row {event.seq - 1} (previous hash differs)"
    if row_hash(event) != event.hash:
        return f"row {event.seq} was altered"
    return None


def _key_problem(event: AuditEvent, keys: Keyring) -> str | None:
    """What is wrong with this row's HMAC, if anything."""
    if not event.key_id or not event.mac:
        return f"row {event.seq} has no HMAC: it was written without the audit key"
    key = keys.by_id.get(event.key_id)
    if key is None:
        return (
            f"row {event.seq} was keyed with audit key {event.key_id}, which is not configured "
            "(a retired key belongs in MONESPACE_AUDIT_PREVIOUS_KEYS_FILE)"
        )
    if not hmac.compare_digest(key.mac(event.hash), event.mac):
        return (
            f"row {event.seq} was altered: its hashes were recomputed without the audit key "
            "(its HMAC does not match)"
        )
    return None


def verify(
    expected_head: Head | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> VerifyResult:
    """Recompute the chain and each row's HMAC; report the first altered, missing, inserted or
    unkeyed row, then whether the log still reaches ``expected_head``."""
    keys = keyring()
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    head_seq = None  # the row whose hash is the recorded head, once seen
    hash_at_head_seq = None
    for event in _iter_events():
        problem = _chain_problem(event, expected_seq, prev_hash) or _key_problem(event, keys)
        if problem:
            return VerifyResult(False, count, prev_hash, problem, expected_seq)
        prev_hash, expected_seq, count = event.hash, expected_seq + 1, count + 1
        if expected_head is not None:
            if expected_head.seq == event.seq:
                hash_at_head_seq = event.hash
            if event.hash == expected_head.hash:
                head_seq = event.seq
        if count % 1000 == 0:
            progress(count)
    if expected_head is None or (expected_head.hash == GENESIS_HASH and not expected_head.seq):
        return VerifyResult(True, count, prev_hash, appended=count if expected_head else 0)
    if head_seq is not None and expected_head.seq in (None, head_seq):
        return VerifyResult(True, count, prev_hash, appended=count - head_seq)
    return VerifyResult(
        False, count, prev_hash, _head_problem(expected_head, count, hash_at_head_seq), None, False
    )


def _head_problem(head: Head, rows: int, hash_at_head_seq: str | None) -> str:
    """Why a sound log does not reach the recorded head."""
    recorded = f"the recorded head {head.hash[:16]}..."
    if head.seq is None:
        return (
            f"{recorded} is not in the log: rows were removed from its end, or rewritten by "
            "someone holding the audit key (a head given as SEQ:HASH, as verify prints it, "
            "tells which)"
        )
    if head.seq > rows:
        removed = (
            f"row {head.seq} was" if head.seq == rows + 1 else f"rows {rows + 1} to {head.seq} were"
        )
        return (
            f"{removed} removed from the end (the log has {rows} rows, the head was row {head.seq})"
        )
    return (
        f"row {head.seq} is not {recorded}: the rows up to it were rewritten by someone holding "
        f"the audit key, or the head is from another log (row {head.seq} has "
        f"{(hash_at_head_seq or '')[:16]}...)"
    )


def key_legacy_rows() -> tuple[int, str | None]:
    """Key the rows written before the log was keyed, after checking their SHA-256 chain.

    Rows are keyed in order up to the first one that breaks the chain, which is left unkeyed
    so that :func:`verify` still names it; keying it would vouch for it. Returns the number of
    rows keyed and the problem that stopped, if any. Their hashes do not change, so heads
    recorded before remain valid.
    """
    key = keyring().current
    prev_hash, expected_seq, keyed, pending = GENESIS_HASH, 1, 0, []
    problem = None
    for event in _iter_events():
        problem = _chain_problem(event, expected_seq, prev_hash)
        if problem:
            break
        if not event.key_id:
            event.key_id, event.mac = key.id, key.mac(event.hash)
            pending.append(event)
        prev_hash, expected_seq = event.hash, expected_seq + 1
        if len(pending) == 500:
            AuditEvent.bulk_update(pending, fields=[AuditEvent.key_id, AuditEvent.mac])
            keyed, pending = keyed + len(pending), []
    if pending:
        AuditEvent.bulk_update(pending, fields=[AuditEvent.key_id, AuditEvent.mac])
        keyed += len(pending)
    return keyed, problem
