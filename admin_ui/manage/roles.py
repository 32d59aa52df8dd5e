"""Changing and revoking a role grant.

Only what the caller may both revoke and grant is offered (``allow_role_change``); the GAP,
who holds a designation rather than a grant, is never changed here. A revocation goes through
a confirmation page: the POST needs a form token bound to the grant, and only that page
carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, make_response, redirect, request, url_for
from flask_babel import gettext as _

from admin_ui.enterprises import role_labels
from admin_ui.manage.context import (
    GRANT_FIELDS,
    Manager,
    bp,
    forbidden,
    form_values,
    grant_errors,
    length_error,
    manager,
    page,
    refusal,
    row,
)
from admin_ui.manage.members import grant_row, members_page
from admin_ui.pages import check_form, person_name
from authz import db, queries
from authz.errors import AuthzError
from authz.permissions import GRANT_ROLE, REVOKE_ROLE
from authz.services import change_role, revoke_role
from idp_bridge.browser_session import csrf_token

if TYPE_CHECKING:
    from authz.models import RoleGrant

MAX_REASON = 500  # as the service


def _grant(caller: Manager, grant_id: int, allowed) -> RoleGrant:
    """The grant in force of this enterprise, or the page saying why it cannot be acted on."""
    grant = row("grant", grant_id, caller)
    if grant.ended_at is not None:
        abort(make_response(members_page(caller, error=_ended(grant)), 409))
    if not allowed(grant.role):
        reason = _(
            "Vous ne pouvez ni modifier ni révoquer le rôle de %(name)s : il est plus fort "
            "que le vôtre.",
            name=person_name(grant.person),
        )
        abort(forbidden(caller.enterprise, reason))
    return grant


def _ended(grant: RoleGrant) -> str:
    return _(
        "Le rôle de %(name)s a déjà pris fin (révoqué ou remplacé) : rechargez la page.",
        name=person_name(grant.person),
    )


@bp.route("/roles/<int:grant_id>/modifier", methods=["GET", "POST"])
def change(bce: str, grant_id: int) -> Any:
    caller = manager(bce, GRANT_ROLE)
    grant = _grant(caller, grant_id, caller.may_change)
    if request.method == "GET":
        form = {
            "role": grant.role,
            "valid_until": grant.valid_until.isoformat() if grant.valid_until else "",
            "scope": " ".join(grant.scopes),
        }
        return _change_page(caller, grant, form)
    check_form(caller.session)
    form = form_values(GRANT_FIELDS)
    errors = grant_errors(form, caller.grantable)
    if errors:
        error = _("Le rôle n'a pas été modifié : corrigez les champs signalés.")
        return _change_page(caller, grant, form, errors=errors, error=error), 400
    try:
        with db.transaction():  # the action and its email commit together
            new = change_role(
                caller.caller(),
                grant.id,
                form["role"],
                valid_until=form["valid_until"] or None,
                scope=form["scope"],
            )
    except AuthzError as exc:
        unchanged = not queries.grant_ended(grant.id)
        message, status = refusal(
            exc,
            _("Rien à modifier : le rôle, la date de fin et les domaines sont déjà ceux-là.")
            if unchanged
            else _ended(grant),
        )
        return _change_page(caller, grant, form, error=message), status
    return redirect(url_for(".members", bce=caller.bce, modifie=new.id), 303)


def _change_page(caller: Manager, grant: RoleGrant, form, *, errors=None, error=None) -> str:
    return page(
        "manage/change.html",
        caller,
        grant=grant_row(grant),
        own=grant.person_id == caller.person.id,
        form=form,
        offered=caller.grantable,
        labels=role_labels(),
        errors=errors or {},
        error=error,
    )


@bp.route("/roles/<int:grant_id>/revoquer", methods=["GET", "POST"])
def revoke(bce: str, grant_id: int) -> Any:
    caller = manager(bce, REVOKE_ROLE)
    grant = _grant(caller, grant_id, caller.may_revoke)
    purpose = f"revoke:{grant.id}"
    if request.method == "GET":
        return _revoke_page(caller, grant, {"reason": ""}, purpose)
    # Only the confirmation page carries this grant's token: no revocation without it.
    check_form(caller.session, purpose)
    form = form_values(("reason",))
    errors = length_error(form, "reason", MAX_REASON)
    if errors:
        return _revoke_page(caller, grant, form, purpose, errors=errors), 400
    try:
        with db.transaction():  # the action and its email commit together
            revoke_role(caller.caller(), grant.id, form["reason"])
    except AuthzError as exc:
        message, status = refusal(exc, _ended(grant))
        return _revoke_page(caller, grant, form, purpose, error=message), status
    return redirect(url_for(".members", bce=caller.bce, revoque=grant.id), 303)


def _revoke_page(caller: Manager, grant, form, purpose, *, errors=None, error=None) -> str:
    return page(
        "manage/revoke.html",
        caller,
        grant=grant_row(grant),
        own=grant.person_id == caller.person.id,
        form=form,
        confirm_token=csrf_token(caller.session, purpose),
        errors=errors or {},
        error=error,
    )
