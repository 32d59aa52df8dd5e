"""A person's enterprises: "Mes entreprises", "Mes demandes" and "Ajouter une entreprise".

``GET /entreprises``: the enterprises a logged-in person holds a mandate on, with its role,
its source (a legal representation from the BCE, a GAP designation, a role grant and who gave
it) and its end date; below, the person's role requests with their status. A pending request
can be withdrawn (``POST /entreprises/demandes/<id>/retirer``, through
``authz.services.withdraw_request``); someone else's request is answered 404, as if it did not
exist.

``GET|POST /entreprises/ajouter``: a logged-in person asks an enterprise's principal access
manager (GAP) for a role. The BCE number is accepted in any common spelling (dots, spaces, a
``BE`` prefix); the request goes through the mandate service (``authz.services.request_role``:
policy-checked, audited, one transaction). When the enterprise has no GAP yet, the page says
that a legal representative must designate one, and how. ``next`` (a path on this site) is
where the person goes back to, e.g. the espace chooser of a login under way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui import limits
from admin_ui.listing import NUMBER_RE, PageLinks, Query, page_number, parse
from admin_ui.pages import check_form, logged_in, person_name, too_many
from authz import facts as F
from authz import listings
from authz.engine import get_engine
from authz.errors import (
    AlreadyGap,
    AuthzError,
    Conflict,
    EnterpriseStopped,
    Expired,
    Forbidden,
    InvalidInput,
    NoGap,
    NotFound,
    RequestPending,
    RoleAlreadyHeld,
)
from authz.identifiers import format_bce, normalize_bce
from authz.listings import Page
from authz.mandates import (
    BASIS_DESIGNATION,
    BASIS_GRANT,
    Mandate,
    facts_by_enterprise,
    mandates_of,
)
from authz.permissions import ACT_FOR, DESIGNATE_GAP, VIEW_MEMBERS
from authz.queries import MyRequest
from authz.services import Caller, request_role, withdraw_request
from authz.tables import today
from idp_bridge.browser_session import csrf_token, safe_next

if TYPE_CHECKING:
    pass

bp = Blueprint("enterprises", __name__, url_prefix="/entreprises", template_folder="templates")

ROLE_CHOICES = ("agent", "reader", "owner", "access_manager")
MAX_MESSAGE = 1000


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def role_labels() -> dict[str, str]:
    return {
        "agent": _("Collaborateur : agir et déposer des dossiers pour l'entreprise"),
        "client_agent": _(
            "Collaborateur clients : agir pour l'entreprise et pour ses clients (mandats reçus)"
        ),
        "reader": _("Lecteur : consulter les dossiers de l'entreprise"),
        "owner": _("Propriétaire : tous les droits sur les dossiers de l'entreprise"),
        "access_manager": _("Gestionnaire d'accès : gérer les accès des autres personnes"),
    }


def short_role_labels() -> dict[str, str]:
    return {
        "agent": _("Collaborateur"),
        "client_agent": _("Collaborateur clients"),
        "reader": _("Lecteur"),
        "owner": _("Propriétaire"),
        "access_manager": _("Gestionnaire d'accès"),
        "gap": _("Gestionnaire d'accès principal (GAP)"),
        "representative": _("Représentant légal"),
    }


def status_labels() -> dict[str, str]:
    return {
        "pending": _("En attente"),
        "accepted": _("Acceptée"),
        "refused": _("Refusée"),
        "withdrawn": _("Retirée"),
        "expired": _("Expirée"),
    }


@bp.route("")
def index() -> Any:
    session = logged_in()
    withdrawn = request.args.get("retiree", type=int)
    page = _overview(session, withdrawn=withdrawn)
    return page, (400 if _asked().error else 200)


@bp.route("/demandes/<int:request_id>/retirer", methods=["POST"])
def withdraw(request_id: int) -> Any:
    session = logged_in(back=url_for(".index"))
    check_form(session)
    try:
        withdraw_request(Caller.for_person(session.person, ip=request.remote_addr), request_id)
    except (NotFound, Forbidden, InvalidInput):
        abort(404)  # someone else's request is none of this person's business
    except Expired:
        return _overview(
            session, error=_("Cette demande a expiré : elle ne peut plus être retirée.")
        ), 409
    except Conflict:
        return _overview(
            session,
            error=_(
                "Cette demande a déjà été traitée (acceptée, refusée ou retirée) : elle ne "
                "peut plus être retirée."
            ),
        ), 409
    return redirect(url_for(".index", retiree=request_id), 303)


def _overview(session, *, error: str | None = None, withdrawn: int | None = None) -> str:
    person = session.person
    asked = _asked()
    mine = listings.requests_of(person, page_number(request.args.get(REQUESTS_PAGE)))
    notice = None
    if withdrawn is not None:
        done = listings.own_request(person, withdrawn)
        if done is not None and done.status == "withdrawn":
            notice = _("Votre demande pour %(name)s a été retirée.", name=done.enterprise.name)
    found = _held_page(mandates_of(person.nrn), asked)
    shown = [m for group in found.rows for m in group]
    return render_template(
        "enterprises/index.html",
        mandates=[_mandate_row(m) for m in shown],
        powers=_powers(person.nrn, shown),
        found=found,
        asked=asked,
        grantable=MANDATE_ROLES,
        roles=short_role_labels(),
        form_error=asked.error,
        requests=[_request_row(r) for r in mine.rows],
        requests_found=mine,
        requests_links=_requests_links(asked, found.page),
        error=error,
        notice=notice,
        csrf=csrf_token(session),
    )


# "Mes demandes" has its own page number, so both lists page independently.
REQUESTS_PAGE = "demandes"


def _requests_links(asked: Query, page: int) -> PageLinks:
    """The page links of "Mes demandes": they keep the search and page of "Mes entreprises"."""
    kept = asked.args({}, **({"page": page} if page > 1 else {}))
    return PageLinks(kept, REQUESTS_PAGE, "mes-demandes")


# "Mes entreprises" a page at a time: one person's mandates are one statement
# (``mandates_of``), grouped by enterprise, searched and sorted here; only the page is
# formatted and put to the policy.
HELD_SORTS = ("name", "bce", "since")
MANDATE_ROLES = ("gap", "access_manager", "owner", "agent", "reader", "representative")
HELD_PAGE_SIZE = 25


def _asked() -> Query:
    """The query string of "Mes entreprises": a name or a BCE number in any spelling."""
    asked = parse(HELD_SORTS, MANDATE_ROLES, people=False)
    text = asked.form["q"]
    if text and NUMBER_RE.match(text.upper().removeprefix("BE").strip() or "x"):
        try:
            bce = normalize_bce(text)
        except InvalidInput:
            message = _(
                "Indiquez un numéro d'entreprise valide (10 chiffres, par exemple 0123.456.749)."
            )
            return replace(asked, form={**asked.form, "q": ""}, error=message)
        return replace(asked, search=replace(asked.search, words=(), nrn=bce))
    return replace(asked, search=replace(asked.search, words=tuple(text.casefold().split())))


def _held_page(mandates: list[Mandate], asked: Query) -> Page[list[Mandate]]:
    """The page of enterprises (each the list of its mandates) that match ``asked``."""
    groups: dict[str, list[Mandate]] = {}
    for mandate in mandates:
        groups.setdefault(mandate.enterprise.bce, []).append(mandate)
    search = asked.search
    kept = [
        group
        for bce, group in groups.items()
        if (search.nrn is None or bce == search.nrn)
        and all(word in group[0].enterprise.name.casefold() for word in search.words)
        and (search.role is None or any(m.role == search.role for m in group))
    ]
    keys = {
        "name": lambda g: (g[0].enterprise.name.casefold(), g[0].enterprise.bce),
        "bce": lambda g: g[0].enterprise.bce,
        "since": lambda g: (max(m.since for m in g), g[0].enterprise.bce),
    }
    kept.sort(key=keys[search.sort], reverse=search.descending)
    total = len(kept)
    pages = max(1, -(-total // HELD_PAGE_SIZE))
    page = min(max(1, asked.page), pages)
    start = (page - 1) * HELD_PAGE_SIZE
    return Page(kept[start : start + HELD_PAGE_SIZE], total, page, pages, HELD_PAGE_SIZE)


def _powers(nrn: str, mandates: list[Mandate]) -> dict[str, frozenset[str]]:
    """What the policy lets the person do for each enterprise listed (by BCE number): a
    mandate row is a fact; whether it lets the person act or manage is the policy's answer
    (a legal representative, say, may designate the GAP but not act). A mandate in force is
    standing, so every enterprise listed has its facts, all read in one statement, and all
    put to the policy in one question."""
    listed = {m.enterprise.bce for m in mandates}
    held = [h for h in facts_by_enterprise(nrn, today()) if h.enterprise.bce in listed]
    actions = (ACT_FOR, VIEW_MEMBERS, DESIGNATE_GAP)
    questions = [
        F.Question(n, h.person, action, h.enterprise)
        for n, (h, action) in enumerate((h, a) for h in held for a in actions)
    ]
    allowed = get_engine().allowed_each(questions)
    powers: dict[str, set[str]] = {h.enterprise.bce: set() for h in held}
    for question in questions:
        if question.n in allowed:
            powers[question.enterprise.bce].add(question.action)
    return {bce: frozenset(found) for bce, found in powers.items()}


def _mandate_row(mandate: Mandate) -> dict[str, Any]:
    enterprise = mandate.enterprise
    by = person_name(mandate.by)
    if mandate.basis == BASIS_GRANT:
        if mandate.detail == "request":
            source = (
                _("Rôle accordé par %(name)s à votre demande", name=by)
                if by
                else _("Rôle accordé à votre demande")
            )
        elif mandate.detail == "invitation":
            source = (
                _("Rôle accordé par %(name)s sur invitation", name=by)
                if by
                else _("Rôle accordé sur invitation")
            )
        else:
            source = _("Rôle accordé par %(name)s", name=by) if by else _("Rôle accordé")
    elif mandate.basis == BASIS_DESIGNATION:
        source = (
            _("Désignation comme GAP par %(name)s", name=by) if by else _("Désignation comme GAP")
        )
    else:
        source = _("Représentant légal inscrit à la Banque-Carrefour des Entreprises (BCE)")
        if mandate.detail:
            source = _(
                "%(source)s, en qualité de : %(capacity)s", source=source, capacity=mandate.detail
            )
    return {
        "name": enterprise.name,
        "bce": format_bce(enterprise.bce),
        "number": enterprise.bce,
        "active": enterprise.active,
        "role": short_role_labels().get(mandate.role, mandate.role),
        "scope": ", ".join(mandate.scope),
        "source": source,
        "since": format_date(mandate.since.date()) if mandate.since else "",
        "until": format_date(mandate.until) if mandate.until else "",
    }


def _request_row(mine: MyRequest) -> dict[str, Any]:
    made = mine.request
    return {
        "id": made.id,
        "name": made.enterprise.name,
        "bce": format_bce(made.enterprise.bce),
        "role": short_role_labels().get(made.role, made.role),
        "date": format_date(made.created_at.date()),
        "status": mine.status,
        "status_label": status_labels()[mine.status],
        "reason": made.reason if mine.status == "refused" else "",
        "pending": mine.pending,
    }


@bp.route("/ajouter", methods=["GET", "POST"])
def add() -> Any:
    back = safe_next(request.values.get("next"))
    session = logged_in(back=url_for(".add"))
    form = {"bce": "", "role": "agent", "message": ""}
    error = sent = None
    no_gap = False
    if request.method == "POST":
        check_form(session)
        form = {name: request.form.get(name, "").strip() for name in form}
        try:
            limits.hit(limits.ROLE_REQUEST, session.person.id)
        except limits.TooMany as exc:
            return _add_page(form, back, session, too_many(exc)), 429
        try:
            if form["role"] not in ROLE_CHOICES:
                raise InvalidInput("role")
            # The service's transaction writes the email to the GAP too (admin_ui.notifications).
            made = request_role(
                Caller.for_person(session.person, ip=request.remote_addr),
                form["bce"],
                form["role"],
                form["message"][:MAX_MESSAGE],
            )
            sent = made.enterprise
        except AuthzError as exc:
            error = _explain(exc)
            no_gap = isinstance(exc, NoGap)
    return _add_page(form, back, session, error, sent, no_gap), (400 if error else 200)


def _add_page(form, back, session, error=None, sent=None, no_gap=False) -> str:
    return render_template(
        "enterprises/add.html",
        form=form,
        roles={role: label for role, label in role_labels().items() if role in ROLE_CHOICES},
        error=error,
        sent=sent,
        formatted_bce=format_bce,
        next=back,
        csrf=csrf_token(session),
        # Where legal representatives designate a GAP (the help_* settings, admin_ui.portal).
        gap_designation_url=current_app.config["MONESPACE"].gap_designation_url if no_gap else None,
    )


def _explain(exc: AuthzError) -> str:
    """The refusal in words a person understands, in their language."""
    if isinstance(exc, NoGap):
        return _(
            "%(name)s n'a pas encore de gestionnaire d'accès principal (GAP) : personne ne "
            "peut accepter votre demande. Un représentant légal de l'entreprise (inscrit à la "
            "Banque-Carrefour des Entreprises) doit d'abord se connecter à Mon Espace et "
            "désigner un GAP. Vous pourrez ensuite refaire votre demande.",
            name=exc.enterprise_name,
        )
    if isinstance(exc, NotFound):
        return _("Aucune entreprise active ne porte ce numéro dans Mon Espace.")
    if isinstance(exc, InvalidInput):
        return _(
            "Vérifiez le numéro d'entreprise (10 chiffres, par exemple 0123.456.749) et le rôle."
        )
    if isinstance(exc, EnterpriseStopped):
        return _(
            "Cette entreprise a cessé ses activités selon la Banque-Carrefour des Entreprises : "
            "on ne peut plus y demander de rôle."
        )
    if isinstance(exc, AlreadyGap):
        return _(
            "Vous êtes le gestionnaire d'accès principal (GAP) de cette entreprise : vous avez "
            "déjà tous les rôles."
        )
    if isinstance(exc, RoleAlreadyHeld):
        return _("Vous avez déjà ce rôle, ou un rôle plus fort, pour cette entreprise.")
    if isinstance(exc, RequestPending):
        return _("Vous avez déjà une demande en attente pour cette entreprise.")
    if isinstance(exc, Conflict):
        return _("Vous avez déjà ce rôle, ou une demande en attente, pour cette entreprise.")
    return _("Votre demande n'a pas pu être enregistrée.")
