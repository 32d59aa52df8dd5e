"""The members of an enterprise, as its GAP or an access manager sees them, and cancelling an
invitation not yet used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import redirect, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.manage.context import Manager, bp, manager, page, query_id, refusal, row
from admin_ui.pages import check_form, person_name
from authz import queries
from authz.errors import AuthzError
from authz.identifiers import format_nrn
from authz.permissions import INVITE_MEMBER, VIEW_MEMBERS
from authz.queries import gap_of, grants_in_force, open_invitations
from authz.services import GAP_ROLE, cancel_invitation

if TYPE_CHECKING:
    from authz.models import RoleGrant


@bp.get("")
def members(bce: str) -> Any:
    caller = manager(bce, VIEW_MEMBERS)
    return members_page(caller, notice=_notice(caller))


def members_page(caller: Manager, error: str | None = None, notice: str | None = None) -> str:
    enterprise = caller.enterprise
    designation = gap_of(enterprise)
    gap = None
    if designation is not None:
        gap = {
            "name": person_name(designation.person),
            "nrn": format_nrn(designation.person.nrn),
            "by": person_name(designation.designated_by),
            "since": format_date(designation.started_at.date()),
        }
    grants = [
        {
            **grant_row(g),
            "origin": _origin(g),
            "may_change": caller.may_change(g.role),
            "may_revoke": caller.may_revoke(g.role),
        }
        for g in grants_in_force(enterprise)
    ]
    invitations = [
        {
            "id": i.id,
            "email": i.email,
            "role": i.role,
            "scope": ", ".join(i.scope.split()),
            "until": format_date(i.valid_until) if i.valid_until else "",
            "expires": format_date(i.expires_at.date()),
            "by": person_name(i.invited_by),
            "bound": bool(i.nrn),
        }
        for i in open_invitations(enterprise)
    ]
    return page(
        "manage/members.html",
        caller,
        gap=gap,
        grants=grants,
        invitations=invitations,
        may_cancel=INVITE_MEMBER in caller.permissions,
        error=error,
        notice=notice,
    )


def grant_row(grant: RoleGrant) -> dict[str, Any]:
    """A grant as the pages show it."""
    return {
        "id": grant.id,
        "name": person_name(grant.person),
        "nrn": format_nrn(grant.person.nrn),
        "role": grant.role,
        "scope": ", ".join(grant.scopes),
        "until": format_date(grant.valid_until) if grant.valid_until else "",
        "by": person_name(grant.granted_by),
        "since": format_date(grant.granted_at.date()),
    }


def _origin(grant: RoleGrant) -> str:
    """Where a grant came from, in one sentence."""
    by, on = person_name(grant.granted_by), format_date(grant.granted_at.date())
    if grant.source == "request":
        if by:
            return _("À sa demande, accordé par %(name)s le %(date)s", name=by, date=on)
        return _("À sa demande, accordé le %(date)s", date=on)
    if grant.source == "invitation":
        if by:
            return _("Sur invitation de %(name)s, acceptée le %(date)s", name=by, date=on)
        return _("Sur invitation, acceptée le %(date)s", date=on)
    if by:
        return _("Accordé par %(name)s le %(date)s", name=by, date=on)
    return _("Accordé le %(date)s", date=on)


def _notice(caller: Manager) -> str | None:
    """What the last action did (its id in the query, checked to be this enterprise's)."""
    revoked = query_id("revoque")
    changed = query_id("modifie")
    cancelled = query_id("annulee")
    if revoked:
        grant = queries.row("grant", revoked)
        if grant and grant.enterprise_id == caller.enterprise.id and grant.ended_at:
            return _("Le rôle de %(name)s a été révoqué.", name=person_name(grant.person))
    if changed:
        grant = queries.row("grant", changed)
        if grant and grant.enterprise_id == caller.enterprise.id:
            return _(
                "Le rôle de %(name)s a été modifié : %(role)s.",
                name=person_name(grant.person),
                role=short_role_labels()[grant.role],
            )
    if cancelled:
        invitation = queries.row("invitation", cancelled)
        if (
            invitation
            and invitation.enterprise_id == caller.enterprise.id
            and invitation.role != GAP_ROLE  # the legal representatives' business
            and invitation.cancelled_at is not None
        ):
            return _("L'invitation envoyée à %(email)s a été annulée.", email=invitation.email)
    return None


@bp.post("/invitations/<int:invitation_id>/annuler")
def cancel(bce: str, invitation_id: int) -> Any:
    caller = manager(bce, INVITE_MEMBER)
    invitation = row("invitation", invitation_id, caller)
    check_form(caller.session)
    try:
        cancel_invitation(caller.caller(), invitation.id)
    except AuthzError as exc:
        message, status = refusal(
            exc,
            _("Cette invitation a déjà été acceptée ou annulée : elle ne peut plus être annulée."),
        )
        return members_page(caller, error=message), status
    return redirect(url_for(".members", bce=caller.bce, annulee=invitation.id), 303)
