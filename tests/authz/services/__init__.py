"""Tests of the mandate services (``authz/services/``), one module per service module.

The helpers below are shared by those modules: fictional but valid identifiers, callers, dates.
"""

from __future__ import annotations

from datetime import date, timedelta

from authz.models import Person, today
from authz.services import Caller


def make_bce(serial: int) -> str:
    """A valid BCE number: 8 digits (leading 0) and their mod-97 check."""
    first = f"{serial:08d}"
    assert len(first) == 8 and first[0] == "0"
    return first + f"{97 - int(first) % 97:02d}"


def make_nrn(born: str, serial: int) -> str:
    """A valid NRN of someone born before 2000 on ``born`` (YYMMDD)."""
    first = f"{born}{serial:03d}"
    return first + f"{97 - int(first) % 97:02d}"


def spelled_bce(bce: str) -> str:
    """``0123456749`` -> ``0123.456.749``, the public spelling."""
    return f"{bce[:4]}.{bce[4:7]}.{bce[7:]}"


def yesterday() -> date:
    return today() - timedelta(days=1)


def in_days(days: int) -> date:
    return today() + timedelta(days=days)


def actor(person: Person) -> str:
    return f"person:{person.nrn}"


def as_(person: Person, ip: str | None = None) -> Caller:
    return Caller.for_person(person, ip=ip)


def reload(row):
    """The row as it is now in the database."""
    return type(row).get_by_id(row.id)
