"""The mandates a firm receives from its clients, as the firm's GAP sees them.

``POST /<id>/accepter`` and ``POST /<id>/refuser`` (with an optional reason) decide on a
proposed mandate; the GAPs of both sides are emailed in the step's transaction.
``GET /clients`` lists the firm's clients (accepted mandates), searched by words of the
client's name or its BCE number in any spelling, sorted by name or first day, 50 a page: a
firm may have thousands, and only the page is read (:func:`authz.listings.mandates`).
Ending an accepted mandate is :func:`.given.end`, the same confirmation for both sides.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import redirect, request, url_for
from flask_babel import gettext as _

from admin_ui import listing
from admin_ui.mandates.context import (
    bp,
    caller_on,
    mandate_of,
    mandate_row,
    page,
    refusal,
)
from admin_ui.mandates.overview import overview
from admin_ui.pages import check_form
from authz import db, listings
from authz.errors import AuthzError, InvalidInput
from authz.identifiers import normalize_bce
from authz.permissions import ACCEPT_MANDATE
from authz.services import accept_mandate, refuse_mandate
from authz.services.intermediaries import MANDATEE, MAX_MESSAGE


@bp.post("/<int:mandate_id>/accepter")
def accept(bce: str, mandate_id: int) -> Any:
    caller = caller_on(bce, ACCEPT_MANDATE)
    mandate = mandate_of(caller, mandate_id, MANDATEE)
    check_form(caller.session)
    try:
        with db.transaction():  # the step, its audit event and the emails commit together
            accept_mandate(caller.caller(), mandate.id)
    except AuthzError as exc:
        message, status = refusal(exc)
        return overview(caller, error=message), status
    return redirect(url_for(".index", bce=caller.bce, accepte=mandate.id), 303)


@bp.post("/<int:mandate_id>/refuser")
def refuse(bce: str, mandate_id: int) -> Any:
    caller = caller_on(bce, ACCEPT_MANDATE)
    mandate = mandate_of(caller, mandate_id, MANDATEE)
    check_form(caller.session)
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_MESSAGE:
        error = _("Ce texte est trop long (%(limit)d caractères au plus).", limit=MAX_MESSAGE)
        return overview(caller, error=error), 400
    try:
        with db.transaction():
            refuse_mandate(caller.caller(), mandate.id, reason)
    except AuthzError as exc:
        message, status = refusal(exc)
        return overview(caller, error=message), status
    return redirect(url_for(".index", bce=caller.bce, refuse=mandate.id), 303)


def client_query() -> listing.Query:
    """The clients' search: words of a name, or a BCE number in any spelling."""
    asked = listing.parse(listings.MANDATE_SORTS, people=False)
    text = asked.form["q"]
    if text and listing.NUMBER_RE.match(text.upper().removeprefix("BE").strip() or "x"):
        try:
            number = normalize_bce(text)
        except InvalidInput:
            message = _(
                "Indiquez un numéro d'entreprise valide (10 chiffres, par exemple 0123.456.749)."
            )
            return replace(asked, form={**asked.form, "q": ""}, error=message)
        return replace(asked, search=replace(asked.search, nrn=number))
    return replace(asked, search=replace(asked.search, words=tuple(text.split())))


@bp.get("/clients")
def clients(bce: str) -> Any:
    caller = caller_on(bce, ACCEPT_MANDATE)
    asked = client_query()
    found = listings.mandates(caller.enterprise, MANDATEE, ("accepted",), asked.search, asked.page)
    return page(
        "mandates/clients.html",
        caller,
        found=found,
        rows=[mandate_row(m, m.other) for m in found.rows],
        asked=asked,
        form_error=asked.error,
    ), (400 if asked.error else 200)
