"""Import of extracts of the BCE (Banque-Carrefour des Entreprises), the authentic source of
enterprises and of their legal representatives (``monespace import-bce``).

Two CSV kinds, told apart by their header row:

- enterprises: ``bce,name,legal_form,status``
- legal representatives: ``bce,nrn,given_name,family_name,capacity,end_date``

The file is streamed and written in batches, one transaction each; a bad row is reported with
its line number and skipped, the good rows around it are kept. Importing the same file twice
changes nothing the second time. Changes that alter who may act for an enterprise (its status,
a representation added, ended or re-opened) bump the enterprise's authorization epoch and are
audited in the batch's transaction.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from authz import audit, db, epochs
from authz.bce_csv import (
    PARSERS,
    BadRow,
    EnterpriseRow,
    RepresentativeRow,
    detect_kind,
    parse_header,
    records,
    row_cells,
    scan,
)
from authz.engine import get_engine
from authz.errors import InvalidInput
from authz.models import Enterprise, LegalRepresentation, utcnow
from authz.persons import PersonData, record_persons

__all__ = ["BATCH_SIZE", "ImportResult", "detect_kind", "import_file"]

BATCH_SIZE = 500
Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    file: str
    kind: str
    sha256: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return len(self.errors)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad": self.bad,
        }


def import_file(
    path: str | os.PathLike,
    *,
    actor: str,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Import one BCE extract; return the counts and the skipped rows.

    Raises :class:`InvalidInput` when the file as a whole cannot be read as a BCE extract (not
    UTF-8, empty, unknown header) and ``OSError`` when it cannot be opened; nothing is written
    then.
    """
    name = os.path.basename(os.fspath(path))
    sha256, total = scan(path, name)
    report = progress or (lambda _done, _total: None)
    policy_version = get_engine().version
    with open(path, encoding="utf-8-sig", newline="") as stream:
        kind, delimiter, columns = parse_header(stream.readline(), name)
        result = ImportResult(file=name, kind=kind, sha256=sha256)
        parse, apply = PARSERS[kind], _WRITERS[kind]
        importer = _Importer(result, actor, policy_version)
        report(0, total)
        batch: list = []
        reader = csv.reader(stream, delimiter=delimiter)
        for line, values in records(reader):
            result.rows += 1
            try:
                batch.append(parse(line, row_cells(values, columns)))
            except (BadRow, InvalidInput) as exc:
                result.errors.append((line, str(exc)))
            if result.rows % batch_size == 0:
                importer.flush(apply, batch)
                batch = []
                report(min(reader.line_num, total), total)
        importer.flush(apply, batch)
        report(total, total)
    result.errors.sort(key=lambda error: error[0])
    with db.transaction():
        audit.record(
            actor=actor,
            action="bce.import",
            target_type="bce_file",
            target_id=name,
            policy_version=policy_version,
            details={"file": name, "sha256": sha256, "kind": kind, **result.counts()},
        )
    return result


class _Importer:
    """Writes the batches of one import, keeping its counts."""

    def __init__(self, result: ImportResult, actor: str, policy_version: str):
        self.result = result
        self.actor = actor
        self.policy_version = policy_version
        self._events: list[dict] = []

    def flush(self, apply: Callable, batch: list) -> None:
        if batch:
            try:
                with db.transaction():
                    apply(self, batch)
                    audit.record_many(self._events)
            finally:
                self._events = []

    def audit(self, action: str, target_type: str, target_id: object, bce: str, **details):
        """Queue an event; the batch's events are appended in its transaction."""
        self._events.append(
            {
                "actor": self.actor,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "policy_version": self.policy_version,
                "enterprise_bce": bce,
                "details": {"file": self.result.file, **details},
            }
        )

    # Enterprises ---------------------------------------------------------------------------

    def enterprises(self, rows: list[EnterpriseRow]) -> None:
        known = {
            e.bce: e
            for e in Enterprise.select(
                Enterprise.id,
                Enterprise.bce,
                Enterprise.name,
                Enterprise.legal_form,
                Enterprise.status,
            ).where(Enterprise.bce.in_(list({row.bce for row in rows})))
        }
        created: dict[str, dict] = {}
        for row in rows:
            values = {"name": row.name, "legal_form": row.legal_form, "status": row.status}
            if row.bce in created:
                # The same new enterprise twice in one batch: the later row wins.
                pending = created[row.bce]
                self._count(any(pending[key] != value for key, value in values.items()))
                pending.update(values)
            elif row.bce not in known:
                created[row.bce] = {"bce": row.bce, **values}
                self.result.new += 1
            else:
                self._update_enterprise(known[row.bce], row, values)
        if created:
            Enterprise.insert_many(list(created.values())).execute()

    def _update_enterprise(self, enterprise: Enterprise, row: EnterpriseRow, values) -> None:
        changes = {k: v for k, v in values.items() if getattr(enterprise, k) != v}
        if not changes:
            self.result.unchanged += 1
            return
        update = {**changes, "updated_at": utcnow()}
        Enterprise.update(update).where(Enterprise.id == enterprise.id).execute()
        if "status" in changes:
            epochs.bump([enterprise.id])
            self.audit(
                "bce.enterprise_status",
                "enterprise",
                enterprise.bce,
                enterprise.bce,
                line=row.line,
                previous=enterprise.status,
                status=row.status,
            )
        for key, value in changes.items():
            setattr(enterprise, key, value)
        self.result.updated += 1

    # Legal representatives -----------------------------------------------------------------

    def representatives(self, rows: list[RepresentativeRow]) -> None:
        enterprises = {
            e.bce: e
            for e in Enterprise.select(Enterprise.id, Enterprise.bce).where(
                Enterprise.bce.in_(list({row.bce for row in rows}))
            )
        }
        kept = []
        for row in rows:
            if row.bce in enterprises:
                kept.append(row)
            else:
                self.result.errors.append(
                    (
                        row.line,
                        f"unknown enterprise {row.bce}: import it in an enterprises file first",
                    )
                )
        if not kept:
            return
        # Their persons, created or renamed as the registry says (an empty name in the file
        # never erases a known one), audited by the one writer of persons.
        persons, renamed = record_persons(
            (PersonData(r.nrn, r.given_name or None, r.family_name or None) for r in kept),
            actor=self.actor,
            policy_version=self.policy_version,
        )
        representations = {
            (r.person_id, r.enterprise_id): r
            for r in LegalRepresentation.select().where(
                LegalRepresentation.person.in_([p.id for p in persons.values()])
                & LegalRepresentation.enterprise.in_([e.id for e in enterprises.values()])
            )
        }
        bumped: set[int] = set()
        added: list[tuple[RepresentativeRow, LegalRepresentation]] = []
        for row in kept:
            person, enterprise = persons[row.nrn], enterprises[row.bce]
            person_changed = row.nrn in renamed  # counted once, on the person's first row
            renamed.discard(row.nrn)
            key = (person.id, enterprise.id)
            representation = representations.get(key)
            if representation is None:
                representations[key] = representation = LegalRepresentation(
                    person=person.id,
                    enterprise=enterprise.id,
                    capacity=row.capacity,
                    ended_on=row.ended_on,
                    source="bce",
                    imported_at=utcnow(),
                )
                added.append((row, representation))
                bumped.add(enterprise.id)
                self.result.new += 1
            elif representation.id is None:
                # Added by an earlier row of this batch and not written yet: the later row wins.
                changed = (representation.capacity, representation.ended_on) != (
                    row.capacity,
                    row.ended_on,
                )
                representation.capacity, representation.ended_on = row.capacity, row.ended_on
                self._count(changed or person_changed)
            else:
                changed = self._update_representation(representation, enterprise, row, bumped)
                self._count(changed or person_changed)
        if added:
            self._insert_representations(added)
        epochs.bump(bumped)

    def _insert_representations(
        self, added: list[tuple[RepresentativeRow, LegalRepresentation]]
    ) -> None:
        """Write the batch's new representations in one statement, then audit each."""
        fields = ("person", "enterprise", "capacity", "ended_on", "source", "imported_at")
        LegalRepresentation.insert_many(
            [{name: r.__data__[name] for name in fields} for _row, r in added]
        ).execute()
        ids = {
            (r.person_id, r.enterprise_id): r.id
            for r in LegalRepresentation.select(
                LegalRepresentation.id, LegalRepresentation.person, LegalRepresentation.enterprise
            ).where(
                LegalRepresentation.person.in_(list({r.person_id for _row, r in added}))
                & LegalRepresentation.enterprise.in_(list({r.enterprise_id for _row, r in added}))
            )
        }
        for row, representation in added:
            representation.id = ids[(representation.person_id, representation.enterprise_id)]
            self.audit(
                "bce.representation_add",
                "legal_representation",
                representation.id,
                row.bce,
                line=row.line,
                nrn=row.nrn,
                capacity=representation.capacity,
                ended_on=_iso(representation.ended_on),
            )

    def _update_representation(
        self,
        representation: LegalRepresentation,
        enterprise: Enterprise,
        row: RepresentativeRow,
        bumped: set[int],
    ) -> bool:
        changes = {}
        if representation.capacity != row.capacity:
            changes["capacity"] = row.capacity
        if representation.ended_on != row.ended_on:
            changes["ended_on"] = row.ended_on
        if not changes:
            return False
        LegalRepresentation.update({**changes, "imported_at": utcnow()}).where(
            LegalRepresentation.id == representation.id
        ).execute()
        if "ended_on" in changes:
            # Ended, re-opened or end date moved: who may act for the enterprise changes.
            bumped.add(enterprise.id)
            self.audit(
                "bce.representation_end",
                "legal_representation",
                representation.id,
                enterprise.bce,
                line=row.line,
                nrn=row.nrn,
                previous=_iso(representation.ended_on),
                ended_on=_iso(row.ended_on),
            )
        for key, value in changes.items():
            setattr(representation, key, value)
        return True

    def _count(self, changed: bool) -> None:
        if changed:
            self.result.updated += 1
        else:
            self.result.unchanged += 1


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


_WRITERS = {"enterprises": _Importer.enterprises, "representatives": _Importer.representatives}
