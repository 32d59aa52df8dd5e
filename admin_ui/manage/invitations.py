"""Inviting someone by email to take a role on the enterprise.

The invitation and its email (the single-use link, in the language of the person it is bound
to when known, French otherwise) commit together: the service's transaction writes both
(``admin_ui.notifications``). The form is rate limited per person
(``invitation_limit``), failed submissions included: it sends email to any address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui import limits
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
)
from admin_ui.pages import check_form, nrn_error, too_many
from authz import queries
from authz.errors import AuthzError, InvalidInput
from authz.identifiers import normalize_nrn, parse_email
from authz.permissions import INVITE_MEMBER
from authz.services import invite

if TYPE_CHECKING:
    pass

FIELDS = ("email", *GRANT_FIELDS, "nrn", "message")
MAX_MESSAGE = 1000


@bp.route("/inviter", methods=["GET", "POST"])
def invite_page(bce: str) -> Any:
    caller = manager(bce, INVITE_MEMBER, back=".invite_page")
    if request.method == "GET":
        return _page(caller, _blank(caller), notice=_notice(caller))
    check_form(caller.session)
    form = form_values(FIELDS)
    try:
        limits.hit(limits.INVITATION, caller.person.id)
    except limits.TooMany as exc:
        return _page(caller, form, error=too_many(exc)), 429
    errors = grant_errors(form, caller.offered()) | length_error(form, "message", MAX_MESSAGE)
    try:
        parse_email(form["email"])
    except InvalidInput:
        errors["email"] = _("Indiquez une adresse e-mail valide, par exemple nom@exemple.be.")
    bound = None
    if form["nrn"]:
        try:
            bound = normalize_nrn(form["nrn"])
        except InvalidInput:
            errors["nrn"] = nrn_error()
    if errors:
        error = _("L'invitation n'a pas été envoyée : corrigez les champs signalés.")
        return _page(caller, form, errors=errors, error=error), 400
    try:
        invitation, _token = invite(
            caller.caller(),
            caller.bce,
            form["email"],
            form["role"],
            valid_until=form["valid_until"] or None,
            scope=form["scope"],
            nrn=bound,
            message=form["message"],
        )
    except AuthzError as exc:
        message, status = refusal(exc)
        return _page(caller, form, error=message), status
    return redirect(url_for(".invite_page", bce=caller.bce, envoyee=invitation.id), 303)


def _blank(caller: Manager) -> dict[str, str]:
    form = dict.fromkeys(FIELDS, "")
    offered = caller.offered()
    form["role"] = "agent" if "agent" in offered else (offered or ("",))[-1]
    return form


def _page(caller: Manager, form, *, errors=None, error=None, notice=None) -> str:
    return page(
        "manage/invite.html",
        caller,
        form=form,
        offered=caller.offered(),
        labels=role_labels(),
        errors=errors or {},
        error=error,
        notice=notice,
    )


def _notice(caller: Manager) -> str | None:
    sent = query_id("envoyee")
    invitation = queries.row("invitation", sent) if sent else None
    if (
        invitation is None
        or invitation.enterprise_id != caller.enterprise.id
        or invitation.invited_by_id != caller.person.id  # one's own invitation only
    ):
        return None
    return _(
        "L'invitation a été envoyée par courriel à %(email)s, avec le rôle : %(role)s. Son "
        "lien ne peut servir qu'une fois, jusqu'au %(date)s.",
        email=invitation.email,
        role=short_role_labels()[invitation.role],
        date=format_date(invitation.expires_at.date()),
    )
