"""What someone who can write the database can do to the audit log, row by row.

Each function changes the rows as plain SQL would and recomputes every SHA-256 hash after the
change, so the hash chain alone is valid again; ``key`` is the HMAC key the writer has, if any.
"""

from __future__ import annotations

from authz import audit
from authz.models import AuditEvent


def rechain(start: int = 1, key: audit.AuditKey | None = None) -> None:
    """Recompute every hash from row ``start`` on (and their HMACs, with ``key``)."""
    previous = AuditEvent.get_or_none(AuditEvent.seq == start - 1)
    prev_hash = previous.hash if previous else audit.GENESIS_HASH
    for event in AuditEvent.select().where(AuditEvent.seq >= start).order_by(AuditEvent.seq):
        event.prev_hash = prev_hash
        event.hash = prev_hash = audit.row_hash(event)
        if key is not None:
            event.key_id, event.mac = key.id, key.mac(event.hash)
        event.save()


def rewrite(seq: int, key: audit.AuditKey | None = None, **changes: object) -> None:
    AuditEvent.update(**changes).where(AuditEvent.seq == seq).execute()
    rechain(seq, key)


def delete(seq: int, key: audit.AuditKey | None = None) -> None:
    """Delete a row and renumber the later ones, so no seq is missing."""
    AuditEvent.delete().where(AuditEvent.seq == seq).execute()
    for event in AuditEvent.select().where(AuditEvent.seq > seq).order_by(AuditEvent.seq):
        AuditEvent.update(seq=event.seq - 1).where(AuditEvent.seq == event.seq).execute()
    rechain(seq, key)


def insert(seq: int, key: audit.AuditKey | None = None, **values: object) -> None:
    """Insert a row at ``seq``, renumbering the later ones; unset values copy row ``seq``."""
    template = AuditEvent.get(AuditEvent.seq == seq)
    for event in AuditEvent.select().where(AuditEvent.seq >= seq).order_by(AuditEvent.seq.desc()):
        AuditEvent.update(seq=event.seq + 1).where(AuditEvent.seq == event.seq).execute()
    data = {**template.__data__, **values, "seq": seq}
    data.pop("id", None)
    AuditEvent.insert(data).execute()
    rechain(seq, key)


def append(key: audit.AuditKey | None = None, **values: object) -> None:
    """Add a row after the last one, copying it."""
    last = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    data = {**last.__data__, **values, "seq": last.seq + 1, "prev_hash": last.hash}
    data.pop("id", None)
    event = AuditEvent(**data)
    event.hash = audit.row_hash(event)
    event.key_id, event.mac = (key.id, key.mac(event.hash)) if key else (None, None)
    event.save(force_insert=True)
