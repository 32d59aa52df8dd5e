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

import codecs
import csv
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from authz import audit, db
from authz.engine import get_engine
from authz.errors import InvalidInput
from authz.identifiers import normalize_bce, normalize_nrn
from authz.models import (
    ENTERPRISE_STATUSES,
    LEGAL_FORMS,
    Enterprise,
    LegalRepresentation,
    Person,
    utcnow,
)

ENTERPRISE_COLUMNS = ("bce", "name", "legal_form", "status")
REPRESENTATIVE_COLUMNS = ("bce", "nrn", "given_name", "family_name", "capacity", "end_date")
KINDS = {"enterprises": ENTERPRISE_COLUMNS, "representatives": REPRESENTATIVE_COLUMNS}
BATCH_SIZE = 500
# CharField columns are VARCHAR(255) on PostgreSQL: longer text must be a bad row, not an
# error that rolls back the whole batch.
MAX_TEXT = 255

Progress = Callable[[int, int], None]


class BadRow(Exception):
    """One row cannot be imported; the message says why."""


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


@dataclass(frozen=True)
class _EnterpriseRow:
    line: int
    bce: str
    name: str
    legal_form: str
    status: str


@dataclass(frozen=True)
class _RepresentativeRow:
    line: int
    bce: str
    nrn: str
    given_name: str
    family_name: str
    capacity: str
    ended_on: date | None


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
    sha256, total = _scan(path, name)
    report = progress or (lambda _done, _total: None)
    policy_version = get_engine().version
    with open(path, encoding="utf-8-sig", newline="") as stream:
        kind, delimiter, columns = _read_header(stream, name)
        result = ImportResult(file=name, kind=kind, sha256=sha256)
        parse, apply = _HANDLERS[kind]
        importer = _Importer(result, actor, policy_version)
        report(0, total)
        batch: list = []
        reader = csv.reader(stream, delimiter=delimiter)
        for line, values in _records(reader):
            result.rows += 1
            try:
                batch.append(parse(line, _fields(values, columns)))
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


def detect_kind(path: str | os.PathLike) -> str:
    """``"enterprises"`` or ``"representatives"``, from the file's header row."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            return _read_header(stream, name)[0]
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: the header is not UTF-8 text") from None


def _scan(path: str | os.PathLike, name: str) -> tuple[str, int]:
    """SHA-256 of the file and its number of data lines; refuse a file that is not UTF-8.

    Checking the encoding before writing anything keeps a wrongly exported file from being
    half imported.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, last = 0, b""
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                near = lines + chunk[: max(exc.start, 0)].count(b"\n") + 1
                raise InvalidInput(f"{name}: not UTF-8 text (line {near})") from None
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not UTF-8 text (line {lines + 1})") from None
    if last and last != b"\n":
        lines += 1
    return digest.hexdigest(), max(lines - 1, 0)


def _read_header(stream, name: str) -> tuple[str, str, dict[str, int]]:
    """Kind, delimiter and column positions, from the first line."""
    header = stream.readline()
    if not header.strip():
        raise InvalidInput(f"{name}: the file is empty or has no header row")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    cells = [cell.strip().lower() for cell in next(csv.reader([header], delimiter=delimiter))]
    for kind, expected in KINDS.items():
        if sorted(cells) == sorted(expected):
            return kind, delimiter, {column: cells.index(column) for column in expected}
    raise InvalidInput(
        f"{name}: unrecognized header {header.strip()!r}; expected "
        f"{','.join(ENTERPRISE_COLUMNS)!r} (enterprises) or "
        f"{','.join(REPRESENTATIVE_COLUMNS)!r} (legal representatives)"
    )


def _records(reader) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(line number where the record starts, its cells or why it cannot be read).

    Blank lines are skipped. The header was read before the reader started, so the reader's
    line 1 is the file's line 2.
    """
    while True:
        start = reader.line_num + 2
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, exc
            continue
        if any(value.strip() for value in values):
            yield start, values


def _fields(values: list[str] | csv.Error, columns: dict[str, int]) -> dict[str, str]:
    if isinstance(values, csv.Error):
        raise BadRow(f"unreadable CSV record: {values}")
    if len(values) != len(columns):
        raise BadRow(f"expected {len(columns)} columns, found {len(values)}")
    cells = {column: values[index].strip() for column, index in columns.items()}
    for column, value in cells.items():
        if "\x00" in value:
            raise BadRow(f"{column} contains a NUL character")
        if len(value) > MAX_TEXT:
            raise BadRow(f"{column} is longer than {MAX_TEXT} characters")
    return cells


def _parse_enterprise(line: int, cells: dict[str, str]) -> _EnterpriseRow:
    bce = normalize_bce(cells["bce"])
    if not cells["name"]:
        raise BadRow("missing name")
    legal_form = cells["legal_form"].lower()
    if legal_form not in LEGAL_FORMS:
        raise BadRow(
            f"unknown legal form {cells['legal_form']!r}: expected one of {', '.join(LEGAL_FORMS)}"
        )
    status = cells["status"].lower()
    if status not in ENTERPRISE_STATUSES:
        raise BadRow(
            f"unknown status {cells['status']!r}: expected one of {', '.join(ENTERPRISE_STATUSES)}"
        )
    return _EnterpriseRow(line, bce, cells["name"], legal_form, status)


def _parse_representative(line: int, cells: dict[str, str]) -> _RepresentativeRow:
    bce = normalize_bce(cells["bce"])
    nrn = normalize_nrn(cells["nrn"])
    ended_on = None
    if cells["end_date"]:
        try:
            ended_on = date.fromisoformat(cells["end_date"])
        except ValueError:
            raise BadRow(
                f"invalid end date {cells['end_date']!r}: expected YYYY-MM-DD or empty"
            ) from None
    return _RepresentativeRow(
        line,
        bce,
        nrn,
        cells["given_name"],
        cells["family_name"],
        cells["capacity"],
        ended_on,
    )


class _Importer:
    """Writes the batches of one import, keeping its counts."""

    def __init__(self, result: ImportResult, actor: str, policy_version: str):
        self.result = result
        self.actor = actor
        self.policy_version = policy_version

    def flush(self, apply: Callable, batch: list) -> None:
        if batch:
            with db.transaction():
                apply(self, batch)

    def audit(self, action: str, target_type: str, target_id: object, bce: str, **details):
        audit.record(
            actor=self.actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            policy_version=self.policy_version,
            enterprise_bce=bce,
            details={"file": self.result.file, **details},
        )

    # Enterprises ---------------------------------------------------------------------------

    def enterprises(self, rows: list[_EnterpriseRow]) -> None:
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

    def _update_enterprise(self, enterprise: Enterprise, row: _EnterpriseRow, values) -> None:
        changes = {k: v for k, v in values.items() if getattr(enterprise, k) != v}
        if not changes:
            self.result.unchanged += 1
            return
        update = {**changes, "updated_at": utcnow()}
        if "status" in changes:
            update["authz_epoch"] = Enterprise.authz_epoch + 1
        Enterprise.update(update).where(Enterprise.id == enterprise.id).execute()
        if "status" in changes:
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

    def representatives(self, rows: list[_RepresentativeRow]) -> None:
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
        persons = self._persons(kept)
        representations = {
            (r.person_id, r.enterprise_id): r
            for r in LegalRepresentation.select().where(
                LegalRepresentation.person.in_([p.id for p in persons.values()])
                & LegalRepresentation.enterprise.in_([e.id for e in enterprises.values()])
            )
        }
        bumped: set[int] = set()
        for row in kept:
            person, enterprise = persons[row.nrn], enterprises[row.bce]
            person_changed = self._update_person(person, row)
            key = (person.id, enterprise.id)
            if key not in representations:
                representations[key] = self._add_representation(person, enterprise, row)
                bumped.add(enterprise.id)
                self.result.new += 1
                continue
            representation = representations[key]
            changed = self._update_representation(representation, enterprise, row, bumped)
            self._count(changed or person_changed)
        if bumped:
            Enterprise.update(authz_epoch=Enterprise.authz_epoch + 1).where(
                Enterprise.id.in_(sorted(bumped))
            ).execute()

    def _persons(self, rows: list[_RepresentativeRow]) -> dict[str, Person]:
        """The batch's persons by NRN, creating the unknown ones."""
        fields = (Person.id, Person.nrn, Person.given_name, Person.family_name)
        nrns = {row.nrn for row in rows}
        persons = {p.nrn: p for p in Person.select(*fields).where(Person.nrn.in_(list(nrns)))}
        new = {}
        for row in rows:
            if row.nrn not in persons and row.nrn not in new:
                new[row.nrn] = {
                    "nrn": row.nrn,
                    "given_name": row.given_name,
                    "family_name": row.family_name,
                }
        if new:
            Person.insert_many(list(new.values())).execute()
            persons.update(
                (p.nrn, p) for p in Person.select(*fields).where(Person.nrn.in_(list(new)))
            )
        return persons

    def _update_person(self, person: Person, row: _RepresentativeRow) -> bool:
        # An empty name in the file never erases a known one.
        changes = {
            key: value
            for key, value in (("given_name", row.given_name), ("family_name", row.family_name))
            if value and getattr(person, key) != value
        }
        if not changes:
            return False
        Person.update({**changes, "updated_at": utcnow()}).where(Person.id == person.id).execute()
        for key, value in changes.items():
            setattr(person, key, value)
        return True

    def _add_representation(
        self, person: Person, enterprise: Enterprise, row: _RepresentativeRow
    ) -> LegalRepresentation:
        representation = LegalRepresentation.create(
            person=person.id,
            enterprise=enterprise.id,
            capacity=row.capacity,
            ended_on=row.ended_on,
            source="bce",
        )
        self.audit(
            "bce.representation_add",
            "legal_representation",
            representation.id,
            enterprise.bce,
            line=row.line,
            nrn=person.nrn,
            capacity=row.capacity,
            ended_on=_iso(row.ended_on),
        )
        return representation

    def _update_representation(
        self,
        representation: LegalRepresentation,
        enterprise: Enterprise,
        row: _RepresentativeRow,
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


_HANDLERS = {
    "enterprises": (_parse_enterprise, _Importer.enterprises),
    "representatives": (_parse_representative, _Importer.representatives),
}
