"""The enterprise's history: its audit events as a person reads them.

Newest first, 25 a page, filtered by kind of action (those present in the enterprise's
history) and by person (a national register number: the events they made and those naming
them). Who acted is a name when the actor is a known person; what was done is a sentence in
the reader's language; the details are labelled, people named, roles written out.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask import request
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.listing import page_number
from admin_ui.manage.context import bp, manager, page
from admin_ui.pages import nrn_error, person_name
from authz.errors import InvalidInput
from authz.identifiers import format_nrn, normalize_nrn
from authz.permissions import VIEW_HISTORY
from authz.queries import history, history_actions, names_by_nrn

if TYPE_CHECKING:
    from authz.models import AuditEvent

PERSON_PREFIX = "person:"
# Details naming a person by NRN, a role, a date.
PERSON_DETAILS = ("person", "gap", "previous_gap", "nrn")
# An NRN typed by a manager (an invitation's binding) is shown as typed, never with the name
# it belongs to: the history must not turn into a directory of names behind NRNs.
TYPED_NRN_DETAILS = ("bound_nrn",)
ROLE_DETAILS = ("role", "requested_role", "old_role")
DATE_DETAILS = ("valid_until", "ended_on")
HIDDEN_DETAILS = ("line", "file", "replaces", "grant", "view")  # bookkeeping, not for the reader


@bp.get("/historique")
def history_page(bce: str) -> Any:
    caller = manager(bce, VIEW_HISTORY, back=".history_page")
    actions = history_actions(caller.bce)
    action = request.args.get("action", "")
    action = action if action in actions else ""
    typed = request.args.get("personne", "").strip()[:40]
    nrn = error = None
    if typed:
        try:
            nrn = normalize_nrn(typed)
        except InvalidInput:
            error = nrn_error()
    found = history(
        caller.bce, action=action or None, nrn=nrn, page=page_number(request.args.get("page"))
    )
    # The filters the page links carry along (an invalid person is dropped).
    kept = {"action": action, "personne": typed if nrn else ""}
    return page(
        "manage/history.html",
        caller,
        events=rows(found.events),
        found=found,
        actions=[(a, action_label(a)) for a in actions],
        filters={"action": action, "personne": typed},
        kept={key: value for key, value in kept.items() if value},
        error=error,
    ), (400 if error else 200)


def action_labels() -> dict[str, str]:
    return {
        "request.create": _("Demande de rôle envoyée"),
        "request.accept": _("Demande de rôle acceptée"),
        "request.refuse": _("Demande de rôle refusée"),
        "request.withdraw": _("Demande de rôle retirée"),
        "request.expire": _("Demande de rôle expirée"),
        "role.grant": _("Rôle accordé"),
        "role.change": _("Rôle modifié"),
        "role.revoke": _("Rôle révoqué"),
        "invitation.create": _("Invitation envoyée"),
        "invitation.accept": _("Invitation acceptée"),
        "invitation.cancel": _("Invitation annulée"),
        "gap.designate": _("Gestionnaire d'accès principal (GAP) désigné"),
        "bce.enterprise_status": _("Statut de l'entreprise mis à jour (BCE)"),
        "bce.representation_add": _("Représentant légal inscrit (BCE)"),
        "bce.representation_end": _("Représentation légale terminée (BCE)"),
        "helpdesk.lookup": _("Le helpdesk a consulté le dossier"),
    }


def action_label(action: str) -> str:
    return action_labels().get(action, action)


def detail_labels() -> dict[str, str]:
    return {
        "person": _("Personne"),
        "gap": _("GAP"),
        "previous_gap": _("GAP précédent"),
        "nrn": _("Personne"),
        "bound_nrn": _("Réservée à"),
        "role": _("Rôle"),
        "requested_role": _("Rôle demandé"),
        "old_role": _("Ancien rôle"),
        "valid_until": _("Jusqu'au"),
        "ended_on": _("Fin le"),
        "scope": _("Domaines"),
        "reason": _("Motif"),
        "email": _("Adresse e-mail"),
        "capacity": _("Qualité"),
        "status": _("Statut"),
        "previous": _("Avant"),
        "permission": _("Action"),
        "service_domain": _("Domaine de service"),
    }


def rows(events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Events as the page shows them, with the people they name looked up at once."""
    parsed = [(event, _details(event)) for event in events]
    nrns = {e.actor.removeprefix(PERSON_PREFIX) for e in events if _by_person(e)}
    for _event, details in parsed:
        nrns.update(str(details[k]) for k in PERSON_DETAILS if details.get(k))
    people = names_by_nrn(nrns)
    return [
        {
            "when": format_datetime(datetime.fromisoformat(event.occurred_at), "short"),
            "who": _actor(event.actor, people),
            "what": action_label(event.action),
            "details": _detail_rows(details, people),
        }
        for event, details in parsed
    ]


def _by_person(event: AuditEvent) -> bool:
    return event.actor.startswith(PERSON_PREFIX)


def _details(event: AuditEvent) -> dict[str, Any]:
    try:
        details = json.loads(event.details or "{}")
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def _person(nrn: str, people: dict) -> str:
    person = people.get(nrn)
    name = person_name(person) if person is not None else ""
    formatted = format_nrn(nrn) if len(nrn) == 11 and nrn.isdigit() else nrn
    return f"{name} ({formatted})" if name else formatted


def _actor(actor: str, people: dict) -> str:
    if actor.startswith(PERSON_PREFIX):
        return _person(actor.removeprefix(PERSON_PREFIX), people)
    if actor == "system":
        return _("Mon Espace (automatiquement)")
    if actor.startswith("operator:"):
        return _("Opérateur de Mon Espace (%(name)s)", name=actor.removeprefix("operator:"))
    return actor


def _detail_rows(details: dict[str, Any], people: dict) -> list[tuple[str, str]]:
    labels, roles = detail_labels(), short_role_labels()
    order = {key: n for n, key in enumerate(labels)}  # people first, then roles, dates...
    shown = []
    for key, value in sorted(details.items(), key=lambda item: (order.get(item[0], 99), item[0])):
        if value in (None, "", []) or key in HIDDEN_DETAILS:
            continue
        if key in PERSON_DETAILS:
            text = _person(str(value), people)
        elif key in TYPED_NRN_DETAILS:
            text = _person(str(value), {})
        elif key in ROLE_DETAILS:
            text = roles.get(str(value), str(value))
        elif key in DATE_DETAILS:
            try:
                text = format_date(date.fromisoformat(str(value)))
            except ValueError:
                text = str(value)
        elif key == "scope":
            text = ", ".join(str(value).split())
        else:
            text = str(value)
        shown.append((labels.get(key, key), text))
    return shown
