"""Fictional but valid Belgian identifiers and BCE extracts for tests.

The numbers pass the mod-97 checks and are generated from a counter, so every test can make
as many distinct ones as it needs. They belong to nobody.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

ENTERPRISE_HEADER = ("bce", "name", "legal_form", "status")
REPRESENTATIVE_HEADER = ("bce", "nrn", "given_name", "family_name", "capacity", "end_date")


def fake_bce(n: int) -> str:
    """The n-th fictional BCE number: 8 digits starting with 0, then 97 - (those % 97)."""
    base = f"{2_000_000 + n:08d}"
    return base + f"{97 - int(base) % 97:02d}"


def fake_nrn(n: int) -> str:
    """The n-th fictional NRN of someone born before 2000: YYMMDD, serial, 97 - (those % 97)."""
    born = date(1950, 1, 1) + timedelta(days=n // 997)
    base = born.strftime("%y%m%d") + f"{n % 997 + 1:03d}"
    return base + f"{97 - int(base) % 97:02d}"


def write_csv(path: Path, header, rows, *, delimiter: str = ",", bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path
