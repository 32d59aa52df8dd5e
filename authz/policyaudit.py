"""The policy in force, written to the audit log when it changes.

Every node calls :func:`record_in_force` at start-up with the hash of the policy it loaded
(``authz.engine.policy_version``). The event ``policy.in_force`` is appended only when that
hash differs from the one of the last such event: one event per change of the policy, not one
per node or per restart. Nodes starting together are serialized on the audit log's own append
lock (``authz.audit.serialize_appends``), taken before the last event is read, so the first
node appends and the others find its event.
"""

from __future__ import annotations

from pathlib import Path

from authz import audit, db
from authz.engine import PolicyEngine, file_digest
from authz.models import AuditEvent

ACTION = "policy.in_force"
ACTOR = "system:start-up"


def last_recorded() -> str | None:
    """The policy hash of the last ``policy.in_force`` event, None before the first."""
    row = (
        AuditEvent.select(AuditEvent.target_id)
        .where(AuditEvent.action == ACTION)
        .order_by(AuditEvent.seq.desc())
        .first()
    )
    return row.target_id if row else None


def record_in_force(engine: PolicyEngine, node: str | None = None) -> AuditEvent | None:
    """Append ``policy.in_force`` if ``engine``'s policy is not the last one recorded; the
    event, or None when it was already recorded (by this node earlier, or another one)."""
    with db.transaction():
        audit.serialize_appends()
        previous = last_recorded()
        if previous == engine.version:
            return None
        return audit.record(
            actor=ACTOR,
            action=ACTION,
            target_type="policy",
            target_id=engine.version,
            policy_version=engine.version,
            details={
                "previous": previous,
                "files": {path.name: file_digest(path) for path in _sorted(engine.files)},
                **({"node": node} if node else {}),
            },
        )


def _sorted(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda path: path.name.encode())


def in_force_since(version: str) -> str | None:
    """When ``version`` was last recorded as coming into force (the event's ISO time, UTC),
    None if it never was."""
    row = (
        AuditEvent.select(AuditEvent.occurred_at)
        .where((AuditEvent.action == ACTION) & (AuditEvent.target_id == version))
        .order_by(AuditEvent.seq.desc())
        .first()
    )
    return row.occurred_at if row else None
