"""The legal representative's pages: the enterprises represented, designating the GAP.

``GET /representant``: the enterprises the logged-in person legally represents (a BCE legal
representation in force), each with its GAP (principal access manager: who, since when,
designated by whom) and its pending GAP invitation, which can be cancelled.

``GET /representant/<bce>``: one enterprise represented, with two ways to give it a GAP: by
national register number (``POST .../designer``, through ``authz.services.designate_gap``), or
by inviting an email address (``POST .../inviter``, through ``authz.services.invite_gap``):
whoever accepts the link becomes GAP. Replacing a GAP in force goes through a confirmation page
("X will no longer be GAP") whose form (``POST .../remplacer``) carries a token bound to that
enterprise, that person and the designation being replaced: a replacement confirmed for one
GAP never ends another's designation. Each action and its email (to the new GAP, or the
invitation with its single-use link) commit together.

Someone who does not represent the enterprise gets a 403 page; an unknown or malformed BCE
number, a 404. The services decide again on every write (policy permission ``designate_gap``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui import limits
from admin_ui.pages import (
    check_form,
    enterprise_or_404,
    logged_in,
    person_name,
    refused,
    too_many,
)
from authz import queries
from authz.errors import (
    AlreadyGap,
    AuthzError,
    Conflict,
    EnterpriseStopped,
    Forbidden,
    InvalidInput,
    NotFound,
)
from authz.identifiers import format_bce, format_nrn, normalize_nrn, parse_email
from authz.queries import representations_of
from authz.services import (
    GAP_ROLE,
    Caller,
    cancel_invitation,
    current_gap,
    designate_gap,
    invite_gap,
    pending_gap_invitations,
)
from authz.services.base import parse_id
from idp_bridge.browser_session import csrf_token

if TYPE_CHECKING:
    from authz.models import Enterprise, GapDesignation, Person

bp = Blueprint("representatives", __name__, url_prefix="/representant", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


# -- reading -----------------------------------------------------------------------------------


def gap_label(person: Person) -> str:
    """A GAP as the pages name them: their name, or their NRN while their name is unknown
    (someone designated by number who has not logged in yet)."""
    if person.given_name or person.family_name:
        return person_name(person)
    return format_nrn(person.nrn)


def _state(enterprise: Enterprise) -> dict[str, Any]:
    """The enterprise, its GAP and its pending GAP invitation, as the pages show them."""
    designation = current_gap(enterprise)
    pending = pending_gap_invitations(enterprise)
    invitation = pending[0] if pending else None
    return {
        "name": enterprise.name,
        "bce": enterprise.bce,
        "formatted_bce": format_bce(enterprise.bce),
        "active": enterprise.is_active,
        "gap": None
        if designation is None
        else {
            "id": designation.id,
            "name": gap_label(designation.person),
            "nrn": designation.person.nrn,
            "since": format_date(designation.started_at.date()),
            "by": person_name(designation.designated_by),
        },
        "invitation": None
        if invitation is None
        else {
            "id": invitation.id,
            "email": invitation.email,
            "expires": format_date(invitation.expires_at.date()),
            "by": person_name(invitation.invited_by),
        },
    }


def _represented(session, bce: str) -> Enterprise:
    """The enterprise of the URL, which the logged-in person must represent (else 404/403)."""
    enterprise = enterprise_or_404(bce)
    if not any(r.enterprise_id == enterprise.id for r in representations_of(session.person)):
        abort(_forbidden(enterprise))
    return enterprise


def _forbidden(enterprise: Enterprise):
    reason = _(
        "Vous n'êtes pas représentant légal de %(name)s (%(bce)s) selon la Banque-Carrefour des "
        "Entreprises : seuls ses représentants légaux désignent son gestionnaire d'accès "
        "principal (GAP).",
        name=enterprise.name,
        bce=format_bce(enterprise.bce),
    )
    back = url_for("representatives.index")
    return refused(403, _("Accès refusé"), reason, back, _("Les entreprises que vous représentez"))


# -- pages -------------------------------------------------------------------------------------


@bp.get("")
def index() -> Any:
    session = logged_in()
    enterprises = [
        {**_state(r.enterprise), "capacity": r.capacity} for r in representations_of(session.person)
    ]
    return render_template(
        "representatives/index.html", enterprises=enterprises, csrf=csrf_token(session)
    )


@bp.get("/<bce>")
def enterprise(bce: str) -> Any:
    session = logged_in()
    found = _represented(session, bce)
    return _page(session, found, notice=_notice(found, request.args.get("fait")))


def _page(
    session,
    enterprise: Enterprise,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    error_for: str | None = None,
    notice: str | None = None,
) -> str:
    """The enterprise's page; ``error_for`` names the form an error is about (``designate``,
    ``invite``), shown next to it and tied to it; else at the top of the page."""
    return render_template(
        "representatives/enterprise.html",
        e=_state(enterprise),
        me=session.person.nrn,
        form={"nrn": "", "email": "", "bound_nrn": "", **(form or {})},
        errors=errors or {},
        error=error,
        error_for=error_for,
        notice=notice,
        csrf=csrf_token(session),
    )


def _notice(enterprise: Enterprise, done: str | None) -> str | None:
    """What the last action did, read from the state it left (a redirect's ``fait``)."""
    if done == "designation":
        designation = current_gap(enterprise)
        if designation is not None:
            return _(
                "%(gap)s est désormais le gestionnaire d'accès principal (GAP) de %(name)s.",
                gap=gap_label(designation.person),
                name=enterprise.name,
            )
    if done == "invitation":
        pending = pending_gap_invitations(enterprise)
        if pending:
            return _(
                "L'invitation a été envoyée par courriel à %(email)s. Son lien ne peut servir "
                "qu'une fois, jusqu'au %(date)s.",
                email=pending[0].email,
                date=format_date(pending[0].expires_at.date()),
            )
    if done == "annulation":
        return _("L'invitation a été annulée : son lien ne peut plus servir.")
    return None


def _done(enterprise: Enterprise, what: str):
    return redirect(url_for(".enterprise", bce=enterprise.bce, fait=what), 303)


def _caller(session) -> Caller:
    return Caller.for_person(session.person, ip=request.remote_addr)


def _nrn_error() -> str:
    return _(
        "Indiquez un numéro de registre national valide : 11 chiffres, par exemple "
        "85.07.30-033.61 (il figure au dos de la carte d'identité)."
    )


def _already(designation: GapDesignation) -> str:
    return _(
        "%(gap)s est déjà le gestionnaire d'accès principal (GAP) de cette entreprise.",
        gap=gap_label(designation.person),
    )


def _refusal(exc: AuthzError, enterprise: Enterprise) -> tuple[str, int]:
    """A service's refusal in words, and the status of the page that shows it."""
    if isinstance(exc, Forbidden):
        return _(
            "Vous n'êtes plus représentant légal de cette entreprise selon la Banque-Carrefour "
            "des Entreprises : vous ne pouvez plus désigner son GAP."
        ), 403
    if isinstance(exc, EnterpriseStopped):
        return _(
            "Cette entreprise a cessé ses activités selon la Banque-Carrefour des "
            "Entreprises : son GAP ne peut plus être changé."
        ), 409
    if isinstance(exc, AlreadyGap):
        designation = current_gap(enterprise)  # for the name only
        if designation is not None:
            return _already(designation), 409
    if isinstance(exc, Conflict):
        return _(
            "Le GAP ou les invitations de cette entreprise ont changé entre-temps. Vérifiez la "
            "situation ci-dessous et recommencez."
        ), 409
    if isinstance(exc, NotFound):
        return _("Cette invitation n'existe pas ou ne concerne pas cette entreprise."), 404
    return _("Vérifiez les informations indiquées."), 400


# -- designating by national register number ---------------------------------------------------


@bp.post("/<bce>/designer")
def designate(bce: str) -> Any:
    session = logged_in(back=url_for(".enterprise", bce=bce))
    found = _represented(session, bce)
    check_form(session)
    typed = request.form.get("nrn", "").strip()
    try:
        nrn = normalize_nrn(typed)
    except InvalidInput:
        page = _page(session, found, form={"nrn": typed}, errors={"nrn": _nrn_error()})
        return page, 400
    designation = current_gap(found)
    if designation is not None and designation.person.nrn == nrn:
        page = _page(
            session, found, form={"nrn": typed}, error=_already(designation), error_for="designate"
        )
        return page, 409
    if designation is not None:
        return _confirmation(session, found, designation, nrn)
    return _designate(session, found, nrn, replacing=None)


def _replace_purpose(enterprise: Enterprise, nrn: str, replacing: object) -> str:
    return f"replace-gap:{enterprise.bce}:{nrn}:{replacing}"


def _confirmation(session, enterprise: Enterprise, designation: GapDesignation, nrn: str) -> str:
    return render_template(
        "representatives/confirm.html",
        e=_state(enterprise),
        old=gap_label(designation.person),
        nrn=nrn,
        formatted_nrn=format_nrn(nrn),
        yourself=nrn == session.person.nrn,
        replaces=designation.id,
        csrf=csrf_token(session, _replace_purpose(enterprise, nrn, designation.id)),
    )


@bp.post("/<bce>/remplacer")
def replace(bce: str) -> Any:
    session = logged_in(back=url_for(".enterprise", bce=bce))
    found = _represented(session, bce)
    nrn, replaces = request.form.get("nrn", ""), request.form.get("replaces", "")
    # The token names the person and the designation the confirmation page showed.
    check_form(session, _replace_purpose(found, nrn, replaces))
    try:
        replacing = parse_id(replaces, "GAP designation")
    except AuthzError:
        abort(400)
    return _designate(session, found, nrn, replacing=replacing)


def _designate(session, enterprise: Enterprise, nrn: str, *, replacing: int | None) -> Any:
    # A designation emails the new GAP: it counts with the invitations, so that designating
    # back and forth cannot flood anyone.
    try:
        limits.hit(limits.INVITATION, session.person.id)
    except limits.TooMany as exc:
        return _page(session, enterprise, error=too_many(exc), error_for="designate"), 429
    try:
        # The service's transaction writes the emails too (admin_ui.notifications).
        designate_gap(_caller(session), enterprise.bce, nrn, replacing=replacing)
    except AuthzError as exc:
        message, status = _refusal(exc, enterprise)
        return _page(session, enterprise, error=message, error_for="designate"), status
    return _done(enterprise, "designation")


# -- inviting by email -------------------------------------------------------------------------


@bp.post("/<bce>/inviter")
def invite(bce: str) -> Any:
    session = logged_in(back=url_for(".enterprise", bce=bce))
    found = _represented(session, bce)
    check_form(session)
    form = {name: request.form.get(name, "").strip() for name in ("email", "bound_nrn")}
    try:
        limits.hit(limits.INVITATION, session.person.id)
    except limits.TooMany as exc:
        return _page(session, found, form=form, error=too_many(exc), error_for="invite"), 429
    errors = {}
    try:
        parse_email(form["email"])
    except InvalidInput:
        errors["email"] = _("Indiquez une adresse e-mail valide, par exemple nom@exemple.be.")
    bound = None
    if form["bound_nrn"]:
        try:
            bound = normalize_nrn(form["bound_nrn"])
        except InvalidInput:
            errors["bound_nrn"] = _nrn_error()
    if errors:
        error = _("L'invitation n'a pas été envoyée : corrigez les champs signalés.")
        page = _page(session, found, form=form, errors=errors, error=error, error_for="invite")
        return page, 400
    try:
        invite_gap(_caller(session), found.bce, form["email"], nrn=bound)
    except AuthzError as exc:
        message, status = _refusal(exc, found)
        return _page(session, found, form=form, error=message, error_for="invite"), status
    return _done(found, "invitation")


@bp.post("/<bce>/invitations/<invitation_id>/annuler")
def cancel(bce: str, invitation_id: str) -> Any:
    session = logged_in(back=url_for(".enterprise", bce=bce))
    found = _represented(session, bce)
    check_form(session)
    try:
        invitation = queries.row("invitation", parse_id(invitation_id, "invitation"))
    except AuthzError:  # not a row id at all
        invitation = None
    # Only this enterprise's GAP invitations are reached through this URL.
    if invitation is None or invitation.enterprise_id != found.id or invitation.role != GAP_ROLE:
        abort(404)
    try:
        cancel_invitation(_caller(session), invitation.id)
    except AuthzError as exc:
        message, status = _refusal(exc, found)
        return _page(session, found, error=message), status
    return _done(found, "annulation")
