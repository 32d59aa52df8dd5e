"""The clients of firms, a page at a time: the mandates firms hold, listed for the chooser.

A firm (an accountant, a social secretariat) may hold thousands of mandates from client
enterprises. The espace chooser lists those a person reaches through their firms, searched and
paged, without reading them all: one statement per page, ordered by the client's name and
BCE number, resumed after the last mandate shown (a keyset, so a page costs the same whether it
is the first or the fortieth). The listing only narrows: every entry is then asked of the
policy (``authz.espaces.client_choices``), with the facts built here exactly as
:func:`authz.mandates.load_pair` would give them for that one mandate.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from peewee import SQL, NodeList, Tuple, Value, fn

from authz import facts as F
from authz.mandates import covers
from authz.models import Enterprise, EnterpriseMandate

PAGE_CHUNK = 100  # mandates read per statement while a page is filled


@dataclass(frozen=True)
class HeldMandate:
    """A client's mandate held by a firm, with the client as the policy sees it (holding just
    that mandate)."""

    id: int
    client: F.EnterpriseFacts
    firm: F.EnterpriseFacts


def held_mandates(
    firms: Mapping[str, F.EnterpriseFacts],
    day: date,
    service_domain: str,
    *,
    name_like: str | None = None,
    digits: str | None = None,
    exclude: Collection[str] = (),
    after: int | None = None,
    limit: int = PAGE_CHUNK,
) -> list[HeldMandate]:
    """Up to ``limit`` accepted mandates held by ``firms`` (BCE number -> the firm's facts),
    in force on ``day`` for ``service_domain``, from active clients not in ``exclude``, by
    client name, BCE number and mandate id, after the mandate ``after``.

    ``name_like`` is a LIKE pattern on the lower-cased name (``%`` and ``_`` as wildcards,
    ``\\`` escaping), ``digits`` a run of digits of the BCE number: either matching keeps a
    mandate. The caller checks each one found more closely (accents, the policy)."""
    if not firms:
        return []
    client, firm = Enterprise.alias(), Enterprise.alias()
    m = EnterpriseMandate
    condition = (
        firm.bce.in_(list(firms))
        & (m.status == "accepted")
        & (m.valid_from <= day)
        & (m.valid_until.is_null() | (m.valid_until >= day))
        & covers(service_domain)
        & (client.status == "active")
    )
    if exclude:
        condition &= client.bce.not_in(list(exclude))
    search = None
    if name_like is not None:
        search = _like(client.name, name_like)
    if digits:
        by_number = client.bce.contains(digits)
        search = by_number if search is None else (search | by_number)
    if search is not None:
        condition &= search
    if after is not None:
        last = (
            m.select(client.name, client.bce)
            .join(client, on=(m.mandator == client.id))
            .where(m.id == after)
            .tuples()
            .first()
        )
        if last is not None:
            condition &= Tuple(client.name, client.bce, m.id) > Tuple(last[0], last[1], after)
    rows = (
        m.select(
            m.id,
            m.domains,
            m.valid_from,
            m.valid_until,
            client.bce,
            client.name,
            client.authz_epoch,
            firm.bce,
        )
        .join_from(m, client, on=(m.mandator == client.id))
        .join_from(m, firm, on=(m.mandatee == firm.id))
        .where(condition)
        .order_by(client.name, client.bce, m.id)
        .limit(limit)
        .tuples()
    )
    found = []
    for mandate_id, domains, since, until, bce, name, epoch, firm_bce in rows:
        held_by = firms[firm_bce]
        mandate = F.ClientMandate(
            mandate_id, bce, held_by, domains.split(), _day(since), _day(until)
        )
        facts = F.EnterpriseFacts(
            bce, name, True, day, service_domain, int(epoch), mandates=[mandate]
        )
        found.append(HeldMandate(mandate_id, facts, held_by))
    return found


def _like(column, pattern: str):
    return NodeList(
        (
            fn.LOWER(column),
            SQL("LIKE"),
            Value(pattern, converter=False),
            SQL("ESCAPE"),
            Value("\\", converter=False),
        )
    )


def _day(value) -> date | None:
    # SQLite hands back the stored text, PostgreSQL a date.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
