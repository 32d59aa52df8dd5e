"""Deciding role requests: accept (possibly with a lesser role, an end date, a scope) or
refuse (with a reason). The service's transaction writes the requester's email too
(``admin_ui.notifications``)."""

from __future__ import annotations

from typing import Any

from flask import redirect, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui import listing
from admin_ui.enterprises import role_labels, short_role_labels
from admin_ui.manage.context import (
    GRANT_FIELDS,
    Manager,
    bp,
    form_values,
    grant_errors,
    length_error,
    manager,
    page,
    query_id,
    refusal,
    row,
)
from admin_ui.pages import check_form, person_name
from authz import listings, queries
from authz.errors import AuthzError
from authz.identifiers import format_nrn
from authz.permissions import DECIDE_REQUEST
from authz.queries import active_grants_of
from authz.roles import GRANTABLE_ROLES
from authz.services import accept_request, refuse_request

MAX_REASON = 2000  # as the service


@bp.get("/demandes")
def requests(bce: str) -> Any:
    caller = manager(bce, DECIDE_REQUEST, back=".requests")
    asked = request_query()
    page_ = requests_page(caller, asked, notice=_notice(caller))
    return page_, (400 if asked.error else 200)


def request_query() -> listing.Query:
    return listing.parse(listings.REQUEST_SORTS, GRANTABLE_ROLES)


def requests_page(
    caller: Manager,
    asked: listing.Query | None = None,
    *,
    failed: int | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> str:
    """The pending requests; ``failed`` is the one whose form is shown again with its
    ``form`` values, field ``errors`` and ``error``."""
    asked = asked or request_query()
    found = listings.pending_requests(caller.enterprise, asked.search, asked.page)
    waiting = found.rows
    held = active_grants_of(caller.enterprise, [r.person_id for r in waiting])
    decidable = caller.decidable(waiting)  # one question to the policy for the page
    rows = []
    for made in waiting:
        offered = caller.offered(made.role)
        again = made.id == failed
        fresh = {
            "role": made.role if made.role in offered else (offered or ("",))[0],
            "valid_until": "",
            "scope": "",
            "reason": "",
        }
        rows.append(
            {
                "id": made.id,
                "name": person_name(made.person),
                "nrn": format_nrn(made.person.nrn),
                "role": made.role,
                "message": made.message,
                "date": format_date(made.created_at.date()),
                "expires": format_date(made.expires_at.date()),
                "held": held.get(made.person_id),
                "own": made.id not in decidable,
                "offered": offered,
                "form": {**fresh, **form} if again and form else fresh,
                "errors": (errors or {}) if again else {},
                "error": error if again else None,
            }
        )
    return page(
        "manage/requests.html",
        caller,
        requests=rows,
        found=found,
        asked=asked,
        sorts=listings.REQUEST_SORTS,
        grantable=GRANTABLE_ROLES,
        form_error=asked.error,
        labels=role_labels(),
        notice=notice,
        # A request decided meanwhile has no form left to show its error in.
        error=error if failed not in {r.id for r in waiting} else None,
    )


def _notice(caller: Manager) -> str | None:
    for key, status in (("acceptee", "accepted"), ("refusee", "refused")):
        made_id = query_id(key)
        if not made_id:
            continue
        made = queries.row("request", made_id)
        if made is None or made.enterprise_id != caller.enterprise.id or made.status != status:
            return None
        name = person_name(made.person)
        if status == "accepted" and made.grant_id:
            done = _(
                "La demande de %(name)s a été acceptée, avec le rôle : %(role)s.",
                name=name,
                role=short_role_labels()[made.grant.role],
            )
        else:
            done = _("La demande de %(name)s a été refusée.", name=name)
        if made.person.email:
            return done + " " + _("Un courriel l'en informe.")
        return (
            done
            + " "
            + _("Cette personne n'a pas d'adresse e-mail connue : prévenez-la vous-même.")
        )
    return None


@bp.post("/demandes/<int:request_id>/accepter")
def accept(bce: str, request_id: int) -> Any:
    caller = manager(bce, DECIDE_REQUEST, back=".requests")
    made = row("request", request_id, caller)
    check_form(caller.session)
    form = form_values(GRANT_FIELDS)
    errors = grant_errors(form, caller.offered(made.role))
    if errors:
        error = _("La demande n'a pas été acceptée : corrigez les champs signalés.")
        page_ = requests_page(caller, failed=made.id, form=form, errors=errors, error=error)
        return page_, 400
    try:
        accept_request(
            caller.caller(),
            made.id,
            role=form["role"],
            valid_until=form["valid_until"] or None,
            scope=form["scope"],
        )
    except AuthzError as exc:
        message, status = refusal(
            exc,
            _(
                "Cette demande a déjà été traitée, ou la personne a déjà un rôle égal ou plus "
                "fort : rechargez la page."
            ),
        )
        return requests_page(caller, failed=made.id, form=form, error=message), status
    return redirect(url_for(".requests", bce=caller.bce, acceptee=made.id), 303)


@bp.post("/demandes/<int:request_id>/refuser")
def refuse(bce: str, request_id: int) -> Any:
    caller = manager(bce, DECIDE_REQUEST, back=".requests")
    made = row("request", request_id, caller)
    check_form(caller.session)
    form = form_values(("reason",))
    errors = length_error(form, "reason", MAX_REASON)
    if errors:
        error = _("La demande n'a pas été refusée : corrigez les champs signalés.")
        page_ = requests_page(caller, failed=made.id, form=form, errors=errors, error=error)
        return page_, 400
    try:
        refuse_request(caller.caller(), made.id, form["reason"])
    except AuthzError as exc:
        message, status = refusal(exc, _("Cette demande a déjà été traitée : rechargez la page."))
        return requests_page(caller, failed=made.id, form=form, error=message), status
    return redirect(url_for(".requests", bce=caller.bce, refusee=made.id), 303)
