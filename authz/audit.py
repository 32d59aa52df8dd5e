"""The tamper-evident audit log.

Every access change and admin action appends one :class:`~authz.models.AuditEvent` in the same
transaction as the change. Rows are numbered densely (``seq`` 1, 2, 3...) and each stores the
SHA-256 of its own content and the hash of the previous row, so altering, deleting or inserting
a row breaks the chain at that point, and :func:`verify` names it.

Truncating the newest rows leaves a shorter valid chain; keep the head that ``monespace audit
verify`` prints somewhere else (a ticket, a log shipper) and pass it back with ``--head`` to
detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from authz import db
from authz.models import AuditEvent, utcnow

GENESIS_HASH = "0" * 64
# Any constant works: it only has to be the same in every process writing the log.
_PG_LOCK_KEY = 0x4D45_4155  # "MEAU"


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
    with db.transaction():
        # Appends are serialized: two writers reading the same head would fork the chain.
        # SQLite's BEGIN IMMEDIATE already holds the write lock; PostgreSQL needs a lock.
        if db.is_postgresql():
            db.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
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
            events.append(event)
        for start in range(0, len(events), 500):
            AuditEvent.insert_many([e.__data__ for e in events[start : start + 500]]).execute()
    return events


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    head: str
    problem: str | None = None
    first_bad_seq: int | None = None


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


def verify(
    expected_head: str | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> VerifyResult:
    """Recompute the chain; report the first altered, missing or inserted row."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    for event in _iter_events():
        if event.seq != expected_seq:
            missing = (
                f"row {expected_seq} is missing"
                if event.seq > expected_seq
                else f"row {event.seq} appears twice"
            )
            return VerifyResult(False, count, prev_hash, missing, expected_seq)
        if event.prev_hash != prev_hash:
            return VerifyResult(
                False,
                count,
                prev_hash,
                f"row {event.seq} does not follow row {event.seq - 1} (previous hash differs)",
                event.seq,
            )
        if row_hash(event) != event.hash:
            return VerifyResult(False, count, prev_hash, f"row {event.seq} was altered", event.seq)
        prev_hash, expected_seq, count = event.hash, expected_seq + 1, count + 1
        if count % 1000 == 0:
            progress(count)
    if (
        expected_head is not None
        and expected_head not in (prev_hash,)
        and not _head_in_chain(expected_head)
    ):
        return VerifyResult(
            False,
            count,
            prev_hash,
            f"the recorded head {expected_head[:16]}... is not in the log: rows were removed",
            count + 1,
        )
    return VerifyResult(True, count, prev_hash)


def _head_in_chain(head: str) -> bool:
    return AuditEvent.select().where(AuditEvent.hash == head).exists()
