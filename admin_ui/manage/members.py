"""The members of an enterprise, as its GAP or an access manager sees them, and cancelling an
invitation not yet used.

The members are listed a page at a time, searched and sorted by the database
(:mod:`admin_ui.manage.listing`); what the caller may do on each row is known from the roles
the policy lets them change, asked once for the page (:func:`.context.manager`), never a row
at a time. The members page shows the latest invitations; ``GET /invitations`` lists them
all, a page at a time. The GAP exports the members (``GET /membres.csv``, :mod:`.export`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import redirect, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui import listing
from admin_ui.enterprises import short_role_labels
from admin_ui.manage.context import Manager, bp, manager, page, query_id, refusal, row
from admin_ui.pages import check_form, person_name
from authz import listings, queries
from authz.errors import AuthzError
from authz.identifiers import format_nrn
from authz.permissions import INVITE_MEMBER, VIEW_MEMBERS
from authz.queries import gap_of
from authz.roles import GRANTABLE_ROLES
from authz.services import GAP_ROLE, cancel_invitation

if TYPE_CHECKING:
    from authz.models import Invitation, RoleGrant

# The members page shows the latest invitations; their own page lists them all.
LATEST_INVITATIONS = 10


def member_query() -> listing.Query:
    return listing.parse(listings.MEMBER_SORTS, GRANTABLE_ROLES, sources=True, ending=True)


@bp.get("")
def members(bce: str) -> Any:
    caller = manager(bce, VIEW_MEMBERS)
    asked = member_query()
    return members_page(caller, asked, notice=_notice(caller)), (400 if asked.error else 200)


def members_page(
    caller: Manager,
    asked: listing.Query | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> str:
    enterprise = caller.enterprise
    asked = asked or member_query()
    designation = gap_of(enterprise)
    gap = None
    if designation is not None:
        gap = {
            "name": person_name(designation.person),
            "nrn": format_nrn(designation.person.nrn),
            "by": person_name(designation.designated_by),
            "since": format_date(designation.started_at.date()),
        }
    found = listings.members(enterprise, asked.search, asked.page)
    grants = [
        {
            **grant_row(g),
            "origin": _origin(g),
            "may_change": caller.may_change(g.role),
            "may_revoke": caller.may_revoke(g.role),
        }
        for g in found.rows
    ]
    latest = listings.open_invitations(
        enterprise, "", listings.Search(), 1, size=LATEST_INVITATIONS
    )
    return page(
        "manage/members.html",
        caller,
        gap=gap,
        grants=grants,
        found=found,
        asked=asked,
        sorts=listings.MEMBER_SORTS,
        sources=listings.SOURCES,
        source_labels=source_labels(),
        ending=listing.ENDING_WITHIN,
        grantable=GRANTABLE_ROLES,
        may_export=caller.is_gap,
        invitations=[invitation_row(i) for i in latest.rows],
        invitations_total=latest.total,
        may_cancel=INVITE_MEMBER in caller.permissions,
        error=error,
        form_error=asked.error,
        notice=notice,
    )


@bp.get("/invitations")
def invitations(bce: str) -> Any:
    """Every open invitation, a page at a time, searched by address and role."""
    caller = manager(bce, VIEW_MEMBERS)
    asked = listing.parse(listings.INVITATION_SORTS, GRANTABLE_ROLES, people=False)
    email = asked.form["q"]
    found = listings.open_invitations(caller.enterprise, email, asked.search, asked.page)
    return page(
        "manage/invitations.html",
        caller,
        found=found,
        asked=asked,
        sorts=listings.INVITATION_SORTS,
        grantable=GRANTABLE_ROLES,
        invitations=[invitation_row(i) for i in found.rows],
        may_cancel=INVITE_MEMBER in caller.permissions,
        form_error=asked.error,
    ), (400 if asked.error else 200)


def source_labels() -> dict[str, str]:
    """Where a grant came from, as the search form and the export name it."""
    return {
        "direct": _("Accordé directement"),
        "request": _("À sa demande"),
        "invitation": _("Sur invitation"),
    }


def invitation_row(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "scope": ", ".join(invitation.scope.split()),
        "until": format_date(invitation.valid_until) if invitation.valid_until else "",
        "expires": format_date(invitation.expires_at.date()),
        "by": person_name(invitation.invited_by),
        "bound": bool(invitation.nrn),
    }


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
