"""What every table of the project shares: the peewee base model and the clock of the rows.

Packages around the core (the provider's sessions and keys, the admin UI's outbox) define
their own tables on :class:`BaseModel`, so that one database and one naming rule serve all;
they read and write the core's tables only through ``authz``'s functions, never directly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from peewee import Model

from authz.db import database

# Row ids are 32-bit on PostgreSQL (SERIAL): a larger number names no row, and SQLite cannot
# even compare it. Pages and services refuse it before any query.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    """Naive UTC now: every timestamp in the database is UTC without tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)


def today() -> date:
    return utcnow().date()


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False
