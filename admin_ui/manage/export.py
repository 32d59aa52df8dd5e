"""The members as CSV, for the GAP: ``GET /membres.csv`` with the members page's filters.

Only the enterprise's GAP (the ``gap`` role, from the policy) exports: an access manager sees
the members page but takes no copy of it away (403). The file is written a row at a time as
the rows are read (:func:`authz.listings.each_member`, a chunk at a time), never built whole in
memory. A cell a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) is prefixed with an apostrophe, so that opening the file runs
nothing a name or an address slipped in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, abort, stream_with_context
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.manage.context import bp, forbidden, manager
from admin_ui.manage.members import member_query, source_labels
from authz import listings
from authz.permissions import VIEW_MEMBERS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A value as a CSV cell no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[Iterable[object]], flush_at: int = 64 * 1024) -> Iterator[str]:
    """The rows as CSV (RFC 4180: quoted where needed, CRLF), escaped, in pieces of about
    ``flush_at`` characters: each piece is sent as it is ready."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([cell(value) for value in row])
        if buffer.tell() >= flush_at:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _iso(value: object) -> str:
    """A date or moment as ISO text, as the database hands it (SQLite: text already)."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@bp.get("/membres.csv")
def export_members(bce: str) -> Any:
    caller = manager(bce, VIEW_MEMBERS)
    if not caller.is_gap:
        abort(
            forbidden(
                caller.enterprise,
                _(
                    "Seul le gestionnaire d'accès principal (GAP) de l'entreprise peut "
                    "exporter la liste de ses membres."
                ),
            )
        )
    asked = member_query()
    if asked.error:
        abort(400, asked.error)
    enterprise = caller.enterprise
    roles, sources = short_role_labels(), source_labels()
    header = (
        _("Nom"),
        _("Prénom"),
        _("Numéro de registre national"),
        _("Rôle"),
        _("Domaines"),
        _("Jusqu'au"),
        _("Origine"),
        _("Accordé par"),
        _("Accordé le"),
    )

    def rows() -> Iterator[tuple]:
        yield header
        for found in listings.each_member(enterprise, asked.search):
            family, given, nrn, role, scope, until, source, by_given, by_family, at = found
            yield (
                family,
                given,
                nrn,
                roles.get(role, role),
                scope,
                _iso(until),
                sources.get(source, source),
                f"{by_given or ''} {by_family or ''}".strip(),
                _iso(at)[:10],
            )

    name = f"membres-{enterprise.bce}.csv"
    return Response(
        stream_with_context(csv_lines(rows())),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
