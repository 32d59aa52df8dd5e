"""Opening and accepting an invitation link.

``GET /invitation/<token>``: the link of an invitation email. Without a login, the login page
first, coming back here. Logged in: what the invitation offers (a role on an enterprise, or
the post of GAP), who sent it and until when, and an "Accepter" button; or, when the link
cannot be used, why, as a page with its status: 404 (no such link), 409 (already used,
cancelled, or nothing left to give), 410 (expired), 403 (meant for someone else, or its sender
may no longer give what it offers). ``POST`` to the same URL accepts it
(``authz.services.accept_invitation``: checked again, audited, one transaction) and leads to
``GET /invitation/acceptee/<id>``, which says what the person now holds.

The token is in the URL: every response carries ``Referrer-Policy: no-referrer`` (the app's
default header), so the link never leaks to another site through a Referer header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from admin_ui.enterprises import role_labels, short_role_labels
from admin_ui.pages import check_form, logged_in, person_name
from authz import queries
from authz.errors import (
    AlreadyGap,
    AuthzError,
    EnterpriseStopped,
    Expired,
    Forbidden,
    InvitationCancelled,
    InvitationUsed,
    NotFound,
    NotTheInvitee,
    OwnAccess,
    RoleAlreadyHeld,
    SenderBeyondOwnGrant,
)
from authz.identifiers import format_bce
from authz.services import GAP_ROLE, Caller, accept_invitation, check_invitation, current_gap
from authz.services.base import parse_id
from authz.services.invitations import find_invitation, token_hash
from idp_bridge.browser_session import csrf_token

if TYPE_CHECKING:
    from authz.models import Invitation, Person

bp = Blueprint("invitations", __name__, url_prefix="/invitation", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _purpose(token: str) -> str:
    # The form's token is good for this link only.
    return f"accept-invitation:{token_hash(token)}"


@bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str) -> Any:
    session = logged_in(back=request.path)
    caller = Caller.for_person(session.person, ip=request.remote_addr)
    if request.method == "POST":
        check_form(session, _purpose(token))
        try:
            accept_invitation(caller, token)
        except AuthzError as exc:
            return _refused(exc, token, session.person)
        invitation = find_invitation(token)
        return redirect(url_for(".accepted", invitation_id=invitation.id), 303)
    try:
        invitation = check_invitation(caller, token)
    except AuthzError as exc:
        return _refused(exc, token, session.person)
    return render_template(
        "invitations/accept.html",
        offer=_offer(invitation),
        me=person_name(session.person),
        replaces_gap=invitation.role == GAP_ROLE and current_gap(invitation.enterprise) is not None,
        action=url_for(".accept", token=token),
        csrf=csrf_token(session, _purpose(token)),
    )


@bp.get("/acceptee/<invitation_id>")
def accepted(invitation_id: str) -> Any:
    session = logged_in()
    try:
        invitation = queries.row("invitation", parse_id(invitation_id, "invitation"))
    except AuthzError:
        invitation = None
    # Only the person who accepted it sees this page.
    if invitation is None or invitation.accepted_by_id != session.person.id:
        abort(404)
    return render_template("invitations/accepted.html", offer=_offer(invitation))


def _offer(invitation: Invitation) -> dict[str, Any]:
    """What an invitation offers, as the pages say it."""
    enterprise = invitation.enterprise
    gap = invitation.role == GAP_ROLE
    return {
        "gap": gap,
        "enterprise": enterprise.name,
        "bce": format_bce(enterprise.bce),
        # A role with what it gives ("Collaborateur : agir et déposer des dossiers...").
        "role": short_role_labels()[GAP_ROLE]
        if gap
        else role_labels().get(invitation.role, invitation.role),
        "short": short_role_labels().get(invitation.role, invitation.role),
        "scope": ", ".join(invitation.scope.split()),
        "until": format_date(invitation.valid_until) if invitation.valid_until else "",
        "by": person_name(invitation.invited_by),
        "expires": format_datetime(invitation.expires_at),
    }


def _refused(exc: AuthzError, token: str, person: Person) -> tuple[str, int]:
    """Why this link cannot be used, as a page with its status (nothing was written). The
    error names the reason; the invitation only gives the names to show."""
    title, status = _("Invitation impossible à utiliser"), 409
    if isinstance(exc, NotFound):
        title, status = _("Lien d'invitation inconnu"), 404
        reason = _(
            "Ce lien d'invitation n'est pas valable. Vérifiez que vous avez ouvert le lien "
            "complet reçu par courriel."
        )
        return _page(title, reason), status
    invitation = find_invitation(token)
    enterprise = invitation.enterprise
    names = {"name": enterprise.name, "bce": format_bce(enterprise.bce)}
    if isinstance(exc, Expired):
        title, status = _("Invitation expirée"), 410
        reason = _(
            "Cette invitation pour %(name)s (%(bce)s) a expiré. Demandez une nouvelle "
            "invitation à la personne qui vous l'a envoyée.",
            **names,
        )
    elif isinstance(exc, OwnAccess):
        status = 403
        reason = _(
            "Vous avez envoyé cette invitation vous-même : personne n'accepte sa propre "
            "invitation. Elle doit être acceptée par la personne invitée."
        )
    elif isinstance(exc, SenderBeyondOwnGrant):
        status = 403
        reason = _(
            "La personne qui vous a invité ne peut plus donner ce rôle pour %(name)s "
            "(%(bce)s) à ces conditions : son propre rôle prend fin plus tôt. Demandez une "
            "nouvelle invitation.",
            **names,
        )
    elif isinstance(exc, NotTheInvitee):
        status = 403
        reason = _(
            "Cette invitation est destinée à une autre personne que %(me)s. Vérifiez que "
            "vous vous êtes connecté avec votre propre carte d'identité ou votre propre "
            "compte itsme.",
            me=person_name(person),
        )
    elif isinstance(exc, Forbidden) and invitation.role == GAP_ROLE:
        status = 403
        reason = _(
            "La personne qui vous a invité n'est plus représentant légal de %(name)s "
            "(%(bce)s) : son invitation ne peut plus servir. Demandez une nouvelle "
            "invitation à un représentant légal de l'entreprise.",
            **names,
        )
    elif isinstance(exc, Forbidden):  # SenderNotEntitled, or a refusal of the policy
        status = 403
        reason = _(
            "La personne qui vous a invité ne gère plus ce rôle pour %(name)s (%(bce)s) : "
            "son invitation ne peut plus servir. Demandez une nouvelle invitation.",
            **names,
        )
    elif isinstance(exc, InvitationCancelled):
        reason = _(
            "Cette invitation pour %(name)s (%(bce)s) a été annulée. Demandez une nouvelle "
            "invitation si nécessaire.",
            **names,
        )
    elif isinstance(exc, InvitationUsed) and exc.by_caller:
        title = _("Invitation déjà acceptée")
        reason = _("Vous avez déjà accepté cette invitation pour %(name)s (%(bce)s).", **names)
    elif isinstance(exc, InvitationUsed):
        reason = _(
            "Cette invitation a déjà été utilisée : un lien d'invitation ne sert qu'une fois."
        )
    elif isinstance(exc, EnterpriseStopped):
        reason = _(
            "%(name)s (%(bce)s) a cessé ses activités selon la Banque-Carrefour des "
            "Entreprises : ses accès ne peuvent plus changer.",
            **names,
        )
    elif isinstance(exc, AlreadyGap):
        reason = _(
            "Vous êtes déjà le gestionnaire d'accès principal (GAP) de %(name)s (%(bce)s).",
            **names,
        )
    elif isinstance(exc, RoleAlreadyHeld):
        reason = _(
            "Vous avez déjà ce rôle, ou un rôle plus fort, pour %(name)s (%(bce)s). Le lien "
            "reste utilisable par une autre personne.",
            **names,
        )
    else:
        reason = _("Cette invitation ne peut pas être utilisée.")
    return _page(title, reason), status


def _page(title: str, reason: str) -> str:
    return render_template("refused.html", title=title, reason=reason)
