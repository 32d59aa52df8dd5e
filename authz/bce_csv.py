"""Reading BCE (Banque-Carrefour des Entreprises) extracts: CSV files of enterprises and of
legal representatives, told apart by their header row.

Only reading and checking happen here; :mod:`authz.bce_import` writes what this module reads.
Each function raises :class:`~authz.errors.InvalidInput` for a file that cannot be read at all
and :class:`BadRow` (or ``InvalidInput`` from the identifier checks) for one bad row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from authz.errors import InvalidInput
from authz.identifiers import normalize_bce, normalize_nrn
from authz.models import ENTERPRISE_STATUSES, LEGAL_FORMS

ENTERPRISE_COLUMNS = ("bce", "name", "legal_form", "status")
REPRESENTATIVE_COLUMNS = ("bce", "nrn", "given_name", "family_name", "capacity", "end_date")
KINDS = {"enterprises": ENTERPRISE_COLUMNS, "representatives": REPRESENTATIVE_COLUMNS}
# CharField columns are VARCHAR(255) on PostgreSQL: longer text must be a bad row, not an
# error that rolls back the whole batch.
MAX_TEXT = 255


class BadRow(Exception):
    """One row cannot be imported; the message says why."""


@dataclass(frozen=True)
class EnterpriseRow:
    line: int
    bce: str
    name: str
    legal_form: str
    status: str


@dataclass(frozen=True)
class RepresentativeRow:
    line: int
    bce: str
    nrn: str
    given_name: str
    family_name: str
    capacity: str
    ended_on: date | None


def detect_kind(path: str | os.PathLike) -> str:
    """``"enterprises"`` or ``"representatives"``, from the file's header row."""
    name = os.path.basename(os.fspath(path))
    with open(path, "rb") as stream:
        first = stream.readline()
    try:
        header = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not UTF-8 text (line 1)") from None
    return parse_header(header, name)[0]


def scan(path: str | os.PathLike, name: str) -> tuple[str, int]:
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


def parse_header(header: str, name: str) -> tuple[str, str, dict[str, int]]:
    """Kind, delimiter and column positions, from the first line."""
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


def records(reader) -> Iterator[tuple[int, list[str] | csv.Error]]:
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


def row_cells(values: list[str] | csv.Error, columns: dict[str, int]) -> dict[str, str]:
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


def parse_enterprise(line: int, cells: dict[str, str]) -> EnterpriseRow:
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
    return EnterpriseRow(line, bce, cells["name"], legal_form, status)


def parse_representative(line: int, cells: dict[str, str]) -> RepresentativeRow:
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
    return RepresentativeRow(
        line,
        bce,
        nrn,
        cells["given_name"],
        cells["family_name"],
        cells["capacity"],
        ended_on,
    )


PARSERS = {"enterprises": parse_enterprise, "representatives": parse_representative}
