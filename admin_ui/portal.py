"""The portal "Mon Espace": a person's two espaces, the catalogue of services, and « Aide ».

- ``GET /portail`` (logged in): « Espace Citoyen », the catalogue's services that serve
  citizens; « Espace Professionnel », the enterprises the person may act for (the policy's
  answer, ``authz.espaces``) and "Ajouter une entreprise". ``q`` searches the services by name
  and description, in any language.
- ``GET /portail/professionnel/<bce>`` (logged in): one enterprise of the person: what they may
  do there (the policy's roles and permissions) and the services serving professionals they
  can use for it (``act_for`` in each service's domain). An enterprise they may not act for is
  answered 404, as if it did not exist.
- ``GET /portail/services`` (anyone, no login): the catalogue itself, every enabled service
  with an entry, its description, its link and the espaces it serves, in the visitor's language.
- ``GET /portail/aide`` (anyone): the FAQ of the guides and the helpdesk's contact details
  (``help_*`` settings); the "no GAP" answer links to ``gap_designation_url``.

Every page extends the site's layout; :func:`account` gives it the person logged in, their
current espace, "log out" and « Aide » (the header of ``portal/_account.html``). Nothing here
needs JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.pages import logged_in, person_name
from authz import catalogue, espaces
from authz import clients as registry
from authz import permissions as P
from authz.catalogue import ESPACE_CITOYEN, ESPACE_PROFESSIONNEL
from authz.errors import InvalidInput
from authz.identifiers import format_bce, normalize_bce
from idp_bridge.browser_session import csrf_token, current_login

bp = Blueprint("portal", __name__, url_prefix="/portail", template_folder="templates")

MAX_ENTERPRISES = 200  # listed on the home page; the chooser's search finds the others


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(account)


def account() -> dict[str, Any]:
    """The header of every page: the person logged in (when the page read the login: no
    page pays for it otherwise, an error page included), log out, « Aide »."""
    session = g.get("login_session")
    header: dict[str, Any] = {"help_url": url_for("portal.help")}
    if session is not None:
        header.update(
            person=person_name(session.person),
            logout_token=csrf_token(session),
            portal_url=url_for("portal.home"),
        )
    return {"account": header}


def permission_labels() -> dict[str, str]:
    """What each permission lets a person do, in words, in the order shown."""
    return {
        P.ACT_FOR: _("Agir pour l'entreprise auprès des services en ligne"),
        P.READ_DOSSIER: _("Consulter les dossiers de l'entreprise"),
        P.EDIT_DOSSIER: _("Modifier les dossiers de l'entreprise"),
        P.SUBMIT_DOSSIER: _("Déposer des dossiers pour l'entreprise"),
        P.VIEW_MEMBERS: _("Voir qui a accès à l'entreprise"),
        P.INVITE_MEMBER: _("Inviter des personnes"),
        P.GRANT_ROLE: _("Donner des rôles"),
        P.REVOKE_ROLE: _("Retirer des rôles"),
        P.DECIDE_REQUEST: _("Répondre aux demandes d'accès"),
        P.VIEW_HISTORY: _("Consulter l'historique des accès"),
        P.DESIGNATE_GAP: _("Désigner le gestionnaire d'accès principal (GAP)"),
        P.ACT_FOR_CLIENTS: _(
            "Agir pour les clients de l'entreprise, dans les domaines des mandats qu'ils lui "
            "ont donnés"
        ),
        P.GIVE_MANDATE: _(
            "Donner un mandat à un intermédiaire (comptable, secrétariat social) pour l'entreprise"
        ),
        P.ACCEPT_MANDATE: _(
            "Accepter ou refuser les mandats que des clients donnent à l'entreprise"
        ),
    }


def _language() -> str:
    return str(get_locale() or "fr")


def _service_row(client: registry.RegisteredClient) -> dict[str, str]:
    entry = client.catalogue
    language = _language()
    return {
        "id": client.client_id,
        "name": entry.name(language),
        "description": entry.description(language),
        "url": entry.start_url,
    }


def _enterprises(nrn: str, services: list[registry.RegisteredClient]) -> list[Any]:
    """The enterprises ``nrn`` may act for, in any domain of a professional service or with
    no domain at all, by name."""
    domains = [None, *sorted({c.service_domain for c in services})]
    found: dict[str, espaces.EnterpriseChoice] = {}
    for domain in domains:
        for choice in espaces.espace_choices(nrn, domain, limit=MAX_ENTERPRISES):
            found.setdefault(choice.bce, choice)
    return sorted(found.values(), key=lambda c: (catalogue.fold(c.name), c.bce))


@bp.get("")
def home() -> Any:
    session = logged_in()
    query = request.args.get("q", "").strip()[: catalogue.MAX_QUERY]
    every = registry.catalogued_clients()
    citoyen = catalogue.search(every, espace=ESPACE_CITOYEN, query=query)
    professional = catalogue.search(every, espace=ESPACE_PROFESSIONNEL)
    return render_template(
        "portal/home.html",
        query=query,
        citoyen=[_service_row(c) for c in citoyen],
        enterprises=_enterprises(session.person.nrn, professional),
        current_espace=_("Espace Citoyen"),
    )


@bp.get("/professionnel/<bce>")
def professionnel(bce: str) -> Any:
    session = logged_in()
    try:
        number = normalize_bce(bce)
    except InvalidInput:
        abort(404)
    query = request.args.get("q", "").strip()[: catalogue.MAX_QUERY]
    every = catalogue.search(registry.catalogued_clients(), espace=ESPACE_PROFESSIONNEL)
    answers = [espaces.acting_for(session.person.nrn, number, None)]
    usable = []
    for client in every:
        acting = espaces.acting_for(session.person.nrn, number, client.service_domain)
        answers.append(acting)
        if acting is not None and catalogue.matches(client.catalogue, query):
            usable.append(_service_row(client))
    answers = [answer for answer in answers if answer is not None]
    if not answers:
        abort(404)  # not theirs: as if it did not exist
    roles = {role for answer in answers for role in answer.roles}
    permissions = {permission for answer in answers for permission in answer.permissions}
    name = answers[0].name
    labels = short_role_labels()
    return render_template(
        "portal/professionnel.html",
        query=query,
        enterprise={"bce": number, "name": name, "formatted_bce": format_bce(number)},
        roles=sorted(labels.get(role, role) for role in roles),
        permissions=[text for key, text in permission_labels().items() if key in permissions],
        services=usable,
        current_espace=_("Espace Professionnel : %(name)s", name=name),
    )


@bp.get("/services")
def services() -> str:
    """The catalogue, public: every enabled service with an entry, by name, in the visitor's
    language, each with the espaces it serves; ``q`` searches it like the portal's search."""
    current_login()  # the header names the person logged in, if any
    query = request.args.get("q", "").strip()[: catalogue.MAX_QUERY]
    found = catalogue.search(registry.catalogued_clients(), query=query)
    espace_names = {
        ESPACE_CITOYEN: _("Espace Citoyen"),
        ESPACE_PROFESSIONNEL: _("Espace Professionnel"),
    }
    rows = []
    for client in found:
        row = _service_row(client)
        row["espaces"] = [espace_names[e] for e in client.catalogue.espaces]
        rows.append(row)
    rows.sort(key=lambda row: (catalogue.fold(row["name"]), row["id"]))
    return render_template("portal/services.html", query=query, services=rows)


@bp.get("/aide")
def help() -> str:
    current_login()  # the header names the person logged in, if any
    config = current_app.config["MONESPACE"]
    return render_template(
        "portal/help.html",
        phone=config.help_phone,
        email=config.help_email,
        hours=config.help_hours,
        gap_designation_url=config.gap_designation_url,
    )
