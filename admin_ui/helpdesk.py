"""The helpdesk console: a person's or an enterprise's record, read only, every lookup audited.

Open to the people whose national register number is in the ``helpdesk`` setting
(``MONESPACE_HELPDESK``), nobody else: a person not logged in goes to the login page and comes
back, a logged-in person who is not helpdesk staff gets a 403 page, on every page. Being
helpdesk staff opens nothing else (the operator pages keep their own list).

- ``GET /helpdesk``: the three search forms.
- ``GET /helpdesk/personne?nrn=N``: a person's mandates (in force or ended, and where each
  comes from), pending requests and invitations, recent audit events.
- ``GET /helpdesk/entreprise?bce=B``: an enterprise's status, GAP, legal representatives,
  members, pending requests and invitations, recent audit events.
- ``GET /helpdesk/pourquoi?nrn=N&bce=B&action=A&domaine=D``: the policy's explanation of a
  decision (:meth:`authz.engine.PolicyEngine.explain`).

Numbers are accepted in any spelling; a bad one is a message on the form (400), an unknown
one too (404). Nothing is changed from here: every page is a GET, and the only write is the
``helpdesk.lookup`` audit event of each lookup of a valid number, made before anything is
shown (:func:`authz.helpdesk.record_lookup`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    make_response,
    render_template,
    request,
)
from flask_babel import format_date, format_datetime, ngettext
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.listing import PageLinks, Query, page_number, parse
from admin_ui.manage.history import rows as event_rows
from admin_ui.pages import logged_in, person_name
from authz import helpdesk as record
from authz import listings
from authz.engine import get_engine
from authz.errors import InvalidInput
from authz.identifiers import MAX_SPELLING, format_bce, format_nrn, normalize_bce, normalize_nrn
from authz.permissions import ALL_PERMISSIONS

if TYPE_CHECKING:
    from flask import Response

    from authz.models import Person

bp = Blueprint("helpdesk", __name__, url_prefix="/helpdesk", template_folder="templates")

SERVICE_DOMAIN = re.compile(r"[a-z][a-z0-9_-]{1,39}")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def is_helpdesk(person: Person) -> bool:
    return person.nrn in current_app.config["MONESPACE"].helpdesk


@bp.before_request
def helpdesk_only() -> None:
    """Every page of the blueprint: logged in, and helpdesk staff."""
    session = logged_in()
    if not is_helpdesk(session.person):
        current_app.logger.warning(
            "helpdesk console: person #%s is not helpdesk staff (%s %s)",
            session.person.id,
            request.method,
            request.path,
        )
        abort(make_response(render_template("helpdesk/forbidden.html"), 403))
    g.helpdesk = session


@bp.after_request
def not_kept(response: Response) -> Response:
    # Personal data: never kept by a shared cache or the browser's history cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _typed(name: str) -> str:
    """A query argument as typed, bounded (a number is far shorter)."""
    return request.args.get(name, "").strip()[: MAX_SPELLING + 1]


def _form(status: int, **fields: Any) -> tuple[str, int]:
    return render_template("helpdesk/index.html", actions=ALL_PERMISSIONS, **fields), status


def _audit(view: str, **target: Any) -> None:
    staff = g.helpdesk.person.nrn
    record.record_lookup(
        staff, view, policy_version=get_engine().version, ip=request.remote_addr, **target
    )


def nrn_error() -> str:
    return _(
        "Ce numéro de registre national n'est pas valide : 11 chiffres, par exemple "
        "85.07.30-033.61."
    )


def bce_error() -> str:
    return _("Ce numéro d'entreprise n'est pas valide : 10 chiffres, par exemple 0403.170.701.")


@bp.get("")
def index() -> tuple[str, int]:
    return _form(200)


@bp.get("/personne")
def person_page() -> Any:
    typed = _typed("nrn")
    try:
        nrn = normalize_nrn(typed)
    except InvalidInput:
        return _form(400, nrn=typed, person_error=nrn_error())
    _audit(record.VIEW_PERSON, nrn=nrn)
    person = record.find_person(nrn)
    if person is None:
        return _form(
            404,
            nrn=typed,
            person_error=_(
                "Personne n'est connu sous le numéro %(nrn)s : cette personne ne s'est jamais "
                "connectée à Mon Espace et ne figure dans aucun mandat.",
                nrn=format_nrn(nrn),
            ),
        )
    found = record.person_record(person)
    events = record.person_events(nrn, page_number(request.args.get("page")))
    return render_template(
        "helpdesk/person.html",
        person=person,
        name=person_name(person),
        nrn=format_nrn(nrn),
        mandates=[_mandate(m) for m in found.mandates],
        requests=[_request(r, enterprise=True) for r in found.requests],
        invitations=[_invitation(i, enterprise=True) for i in found.invitations],
        events=event_rows(events.rows),
        events_found=events,
        events_links=PageLinks({"nrn": nrn}, "page", "events"),
        actions=ALL_PERMISSIONS,
    )


@bp.get("/entreprise")
def enterprise_page() -> Any:
    typed = _typed("bce")
    try:
        bce = normalize_bce(typed)
    except InvalidInput:
        return _form(400, bce_typed=typed, enterprise_error=bce_error())
    _audit(record.VIEW_ENTERPRISE, bce=bce)
    enterprise = record.find_enterprise(bce)
    if enterprise is None:
        return _form(
            404,
            bce_typed=typed,
            enterprise_error=_(
                "Aucune entreprise n'est inscrite sous le numéro %(bce)s : elle n'est pas (ou "
                "pas encore) dans l'import de la BCE.",
                bce=format_bce(bce),
            ),
        )
    found = record.enterprise_record(enterprise)
    asked, search_error = _member_search()
    members = listings.members(enterprise, asked.search, asked.page)
    events = record.enterprise_events(bce, page_number(request.args.get(EVENTS_PAGE)))
    kept = {"bce": bce, **asked.kept}
    roles = short_role_labels()
    return render_template(
        "helpdesk/enterprise.html",
        enterprise=enterprise,
        bce=format_bce(bce),
        gap=found.gap,
        representatives=[
            {"nrn": r.person.nrn, "name": person_name(r.person), "capacity": r.capacity}
            for r in found.representatives
        ],
        members=[
            {
                "nrn": m.person.nrn,
                "name": person_name(m.person),
                "role": roles.get(m.role, m.role),
                "scope": m.scope.split(),
                "until": format_date(m.valid_until) if m.valid_until else "",
                "source": source_labels().get(m.source, m.source),
                "by": person_name(m.granted_by) if m.granted_by_id else "",
                "since": format_datetime(m.granted_at, "short"),
            }
            for m in members.rows
        ],
        members_found=members,
        members_links=PageLinks(
            {**kept, **({EVENTS_PAGE: events.page} if events.page > 1 else {})},
            "page",
            "members",
        ),
        asked=asked,
        search_error=search_error,
        requests=[_request(r, enterprise=False) for r in found.requests],
        invitations=[_invitation(i, enterprise=False) for i in found.invitations],
        events=event_rows(events.rows),
        events_found=events,
        events_links=PageLinks(
            {**kept, **({"page": members.page} if members.page > 1 else {})},
            EVENTS_PAGE,
            "events",
        ),
        person_name=person_name,
        format_nrn=format_nrn,
        actions=ALL_PERMISSIONS,
    ), (400 if search_error else 200)


# The members' search: a name of at least this many characters, or an NRN in any spelling.
MIN_NAME_SEARCH = 2
EVENTS_PAGE = "evenements"


def _member_search() -> tuple[Query, str | None]:
    """The enterprise page's search of its members (``q``, ``page``), by name: a search too
    short to narrow anything, too long or a number that is no NRN is a message on the form,
    with the members unfiltered."""
    asked = parse(("name",))
    error = asked.error
    if not error and asked.search.words and len(asked.form["q"]) < MIN_NAME_SEARCH:
        error = ngettext(
            "Indiquez au moins %(num)d caractère du nom, ou un numéro de registre national.",
            "Indiquez au moins %(num)d caractères du nom, ou un numéro de registre national.",
            MIN_NAME_SEARCH,
        )
    if error:
        asked = replace(
            asked,
            search=replace(asked.search, words=(), nrn=None),
            form={**asked.form, "q": ""},
            error=error,
        )
    return asked, error


@bp.get("/pourquoi")
def explain_page() -> Any:
    fields = {
        "why_nrn": _typed("nrn"),
        "why_bce": _typed("bce"),
        "why_action": request.args.get("action", "")[:40],
        "why_domain": _typed("domaine"),
    }
    errors = []
    try:
        nrn = normalize_nrn(fields["why_nrn"])
    except InvalidInput:
        errors.append(nrn_error())
    try:
        bce = normalize_bce(fields["why_bce"])
    except InvalidInput:
        errors.append(bce_error())
    action = fields["why_action"]
    if action not in ALL_PERMISSIONS:
        errors.append(_("Choisissez une action dans la liste."))
    domain = fields["why_domain"].lower() or None
    if domain is not None and not SERVICE_DOMAIN.fullmatch(domain):
        errors.append(
            _(
                "Ce domaine de service n'est pas valide : des lettres minuscules, des chiffres, "
                "« _ » ou « - », par exemple fiscalite."
            )
        )
    if errors:
        return _form(400, why_errors=errors, **fields)
    details = {"permission": action}
    if domain:
        details["service_domain"] = domain
    _audit(record.VIEW_EXPLANATION, nrn=nrn, bce=bce, details=details)
    unknown = []
    person = record.find_person(nrn)
    if person is None:
        unknown.append(_("Personne n'est connu sous le numéro %(nrn)s.", nrn=format_nrn(nrn)))
    enterprise = record.find_enterprise(bce)
    if enterprise is None:
        unknown.append(
            _("Aucune entreprise n'est inscrite sous le numéro %(bce)s.", bce=format_bce(bce))
        )
    if unknown:
        return _form(404, why_errors=unknown, **fields)
    explanation = get_engine().explain(nrn, action, bce, domain)
    return render_template(
        "helpdesk/explain.html",
        explanation=explanation,
        person=person,
        name=person_name(person),
        nrn=format_nrn(nrn),
        enterprise=enterprise,
        bce=format_bce(bce),
        actions=ALL_PERMISSIONS,
        **fields,
    )


# -- rows as the pages show them ---------------------------------------------------------------


def source_labels() -> dict[str, str]:
    return {
        "direct": _("donné directement"),
        "request": _("à la suite d'une demande"),
        "invitation": _("à la suite d'une invitation"),
    }


def end_labels() -> dict[str, str]:
    return {
        "revoked": _("révoqué"),
        "replaced": _("remplacé"),
        "expired": _("expiré"),
    }


def _mandate(m: record.RecordedMandate) -> dict[str, Any]:
    roles = short_role_labels()
    if m.basis == record.BASIS_REPRESENTATION:
        origin = _("inscrit par la BCE (%(capacity)s)", capacity=m.detail or _("qualité inconnue"))
    elif m.basis == record.BASIS_DESIGNATION:
        origin = _("désigné par %(name)s", name=_who(m.by))
    else:
        origin = _(
            "%(how)s, par %(name)s", how=source_labels().get(m.detail, m.detail), name=_who(m.by)
        )
        if m.origin is not None and m.origin.kind == "request":
            origin += " " + _("(demande du %(day)s)", day=format_datetime(m.origin.at, "short"))
        elif m.origin is not None:
            origin += " " + _(
                "(invitation envoyée par %(name)s le %(day)s)",
                name=_who(m.origin.by),
                day=format_datetime(m.origin.at, "short"),
            )
    ended = ""
    if not m.in_force:
        if m.ended_at is not None and m.basis != record.BASIS_REPRESENTATION:
            ended = _(
                "terminé le %(day)s (%(why)s)",
                day=format_datetime(m.ended_at, "short"),
                why=end_labels().get(m.end_reason, m.end_reason or "?"),
            )
            if m.ended_by is not None:
                ended += " " + _("par %(name)s", name=_who(m.ended_by))
        elif m.until is not None:
            ended = _("terminé le %(day)s", day=format_date(m.until))
    return {
        "enterprise": m.enterprise,
        "bce": format_bce(m.enterprise.bce),
        "active": m.enterprise.status == "active",
        "role": roles.get(m.role, m.role),
        "scope": list(m.scope),
        "origin": origin,
        "since": format_datetime(m.since, "short"),
        "until": format_date(m.until) if m.until and m.in_force else "",
        "in_force": m.in_force,
        "ended": ended,
    }


def _who(person: Person | None) -> str:
    if person is None:
        return _("Mon Espace (import ou opérateur)")
    return f"{person_name(person)} ({format_nrn(person.nrn)})"


def _request(r: Any, *, enterprise: bool) -> dict[str, Any]:
    return {
        "enterprise": r.enterprise if enterprise else None,
        "bce": format_bce(r.enterprise.bce) if enterprise else "",
        "person": None if enterprise else r.person,
        "role": short_role_labels().get(r.role, r.role),
        "sent": format_datetime(r.created_at, "short"),
        "expires": format_datetime(r.expires_at, "short"),
    }


def _invitation(i: Any, *, enterprise: bool) -> dict[str, Any]:
    return {
        "enterprise": i.enterprise if enterprise else None,
        "bce": format_bce(i.enterprise.bce),
        "email": i.email,
        "bound": format_nrn(i.nrn) if i.nrn else "",
        "role": short_role_labels().get(i.role, i.role),
        "by": _who(i.invited_by),
        "sent": format_datetime(i.created_at, "short"),
        "expires": format_datetime(i.expires_at, "short"),
    }
