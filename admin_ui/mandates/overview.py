"""The mandate page of one enterprise, both sides on one page: ``GET ""``.

What the caller may use and nothing else: the mandates the enterprise gave, newest first,
pending, in force and ended, 50 a page (for ``give_mandate``); the mandates clients propose to
it, waiting for its GAP's answer, and the number of its clients (for ``accept_mandate``).
After an action, the page says what it did (the mandate's id in the query string, checked to
be this enterprise's, on that side, in the status the action leaves it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request
from flask_babel import gettext as _

from admin_ui import listing
from admin_ui.mandates.context import (
    MandateCaller,
    bp,
    caller_on,
    mandate_row,
    page,
)
from authz import listings, queries
from authz.services.intermediaries import MANDATEE, MANDATOR
from authz.tables import MAX_ROW_ID

if TYPE_CHECKING:
    from authz.models import EnterpriseMandate

GIVEN_STATUSES = ("pending", "accepted", "refused", "withdrawn", "ended")
PROPOSALS_SHOWN = 50


@bp.get("")
def index(bce: str) -> Any:
    caller = caller_on(bce)
    return overview(caller, notice=_notice(caller))


def overview(caller: MandateCaller, *, error: str | None = None, notice: str | None = None):
    given = received = None
    if caller.may_give:
        found = listings.mandates(
            caller.enterprise,
            MANDATOR,
            GIVEN_STATUSES,
            listings.Search(sort="since", descending=True),
            listing.page_number(request.args.get("page")),
        )
        given = {"found": found, "rows": [mandate_row(m, m.other) for m in found.rows]}
    if caller.may_accept:
        pending = listings.mandates(
            caller.enterprise,
            MANDATEE,
            ("pending",),
            listings.Search(sort="since"),
            1,
            size=PROPOSALS_SHOWN,
        )
        clients = listings.mandates(
            caller.enterprise, MANDATEE, ("accepted",), listings.Search(), 1, size=1
        )
        received = {
            "found": pending,
            "rows": [mandate_row(m, m.other) for m in pending.rows],
            "clients": clients.total,
        }
    return page(
        "mandates/index.html",
        caller,
        given=given,
        received=received,
        error=error,
        notice=notice,
    )


def _notice(caller: MandateCaller) -> str | None:
    texts = {
        "donne": (
            MANDATOR,
            "pending",
            _("Le mandat a été proposé à %(name)s : son GAP doit l'accepter."),
        ),
        "retire": (MANDATOR, "withdrawn", _("Le mandat proposé à %(name)s a été retiré.")),
        "accepte": (MANDATEE, "accepted", _("Le mandat de %(name)s est accepté.")),
        "refuse": (MANDATEE, "refused", _("Le mandat proposé par %(name)s a été refusé.")),
    }
    for key, (side, status, text) in texts.items():
        mandate = _own(caller, request.args.get(key, type=int), side)
        if mandate is not None and mandate.status == status:
            other = mandate.mandatee if side == MANDATOR else mandate.mandator
            return text % {"name": other.name}
    for side in (MANDATOR, MANDATEE):
        mandate = _own(caller, request.args.get("termine", type=int), side)
        if mandate is not None and mandate.status == "ended":
            other = mandate.mandatee if side == MANDATOR else mandate.mandator
            return _(
                "Le mandat entre %(one)s et %(other)s a pris fin.",
                one=caller.enterprise.name,
                other=other.name,
            )
    return None


def _own(caller: MandateCaller, mandate_id: int | None, side: str) -> EnterpriseMandate | None:
    if mandate_id is None or not 0 < mandate_id <= MAX_ROW_ID:
        return None
    mandate = queries.row("mandate", mandate_id)
    if mandate is None:
        return None
    mine = mandate.mandator_id if side == MANDATOR else mandate.mandatee_id
    return mandate if mine == caller.enterprise.id else None
