"""A person's enterprises: "Ajouter une entreprise", the role request form.

``GET|POST /entreprises/ajouter``: a logged-in person asks an enterprise's principal access
manager (GAP) for a role. The BCE number is accepted in any common spelling (dots, spaces, a
``BE`` prefix); the request goes through the mandate service (``authz.services.request_role``:
policy-checked, audited, one transaction). When the enterprise has no GAP yet, the page says
that a legal representative must designate one, and how. ``next`` (a path on this site) is
where the person goes back to, e.g. the espace chooser of a login under way.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from authz.errors import AuthzError, Conflict, InvalidInput, NoGap, NotFound
from authz.identifiers import format_bce, normalize_bce
from authz.models import Enterprise
from authz.services import Caller, request_role
from idp_bridge.web import csrf_token, current_login, safe_next

bp = Blueprint("enterprises", __name__, url_prefix="/entreprises", template_folder="templates")

ROLE_CHOICES = ("agent", "reader", "owner", "access_manager")
MAX_MESSAGE = 1000


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def role_labels() -> dict[str, str]:
    return {
        "agent": _("Collaborateur : agir et déposer des dossiers pour l'entreprise"),
        "reader": _("Lecteur : consulter les dossiers de l'entreprise"),
        "owner": _("Propriétaire : tous les droits sur les dossiers de l'entreprise"),
        "access_manager": _("Gestionnaire d'accès : gérer les accès des autres personnes"),
    }


@bp.route("/ajouter", methods=["GET", "POST"])
def add() -> Any:
    session = current_login()
    back = safe_next(request.values.get("next"))
    if session is None:
        return redirect(url_for("login.login_page", next=request.full_path), 303)
    form = {"bce": "", "role": "agent", "message": ""}
    error = sent = None
    if request.method == "POST":
        if not hmac.compare_digest(request.form.get("csrf_token", ""), csrf_token(session)):
            abort(400, _("Le formulaire a expiré. Rechargez la page et réessayez."))
        form = {name: request.form.get(name, "").strip() for name in form}
        try:
            if form["role"] not in ROLE_CHOICES:
                raise InvalidInput("role")
            made = request_role(
                Caller.for_person(session.person, ip=request.remote_addr),
                form["bce"],
                form["role"],
                form["message"][:MAX_MESSAGE],
            )
            sent = made.enterprise
        except AuthzError as exc:
            error = _explain(exc, form["bce"])
    page = render_template(
        "enterprises/add.html",
        form=form,
        roles=role_labels(),
        error=error,
        sent=sent,
        formatted_bce=format_bce,
        next=back,
        csrf=csrf_token(session),
    )
    return page, (400 if error else 200)


def _explain(exc: AuthzError, bce: str) -> str:
    """The refusal in words a person understands, in their language."""
    if isinstance(exc, NoGap):
        enterprise = _enterprise(bce)
        name = enterprise.name if enterprise else bce
        return _(
            "%(name)s n'a pas encore de gestionnaire d'accès principal (GAP) : personne ne "
            "peut accepter votre demande. Un représentant légal de l'entreprise (inscrit à la "
            "Banque-Carrefour des Entreprises) doit d'abord se connecter à Mon Espace et "
            "désigner un GAP. Vous pourrez ensuite refaire votre demande.",
            name=name,
        )
    if isinstance(exc, NotFound):
        return _("Aucune entreprise active ne porte ce numéro dans Mon Espace.")
    if isinstance(exc, InvalidInput):
        return _(
            "Vérifiez le numéro d'entreprise (10 chiffres, par exemple 0123.456.749) et le rôle."
        )
    if isinstance(exc, Conflict):
        return _("Vous avez déjà ce rôle, ou une demande en attente, pour cette entreprise.")
    return _("Votre demande n'a pas pu être enregistrée.")


def _enterprise(bce: str) -> Enterprise | None:
    try:
        return Enterprise.get_or_none(Enterprise.bce == normalize_bce(bce))
    except InvalidInput:
        return None
