"""The mandates an enterprise gives to firms.

``GET|POST /donner`` gives a
mandate: the firm found by its BCE number (checked with python-stdnum), one service domain at
least, a first day (today or later) and an optional last day. ``POST /<id>/retirer`` withdraws
a pending one. ``GET|POST /<id>/terminer`` ends an accepted one, for either side, after a
confirmation page whose form alone carries the token bound to that mandate.
"""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, request, url_for
from flask_babel import gettext as _

from admin_ui.mandates.context import (
    MandateCaller,
    bp,
    caller_on,
    mandate_of,
    mandate_row,
    page,
    refusal,
    side_of,
)
from admin_ui.mandates.overview import overview
from admin_ui.pages import check_form
from authz import clients, db
from authz.errors import (
    AuthzError,
    EnterpriseStopped,
    Forbidden,
    InvalidInput,
    MandateOpen,
    NotFound,
)
from authz.facts import SERVICE_DOMAIN_RE
from authz.identifiers import format_bce, normalize_bce
from authz.permissions import GIVE_MANDATE
from authz.services import end_mandate, propose_mandate
from authz.services.intermediaries import (
    MANDATOR,
    MAX_DOMAINS,
    MAX_MESSAGE,
    parse_day,
    parse_period,
)
from authz.tables import today
from idp_bridge.browser_session import csrf_token

FIELDS = ("firm", "other_domains", "valid_from", "valid_until", "message")


# -- giving a mandate --------------------------------------------------------------------------


def known_domains() -> list[str]:
    """The service domains of the registered services, offered as boxes to tick."""
    return sorted({c.service_domain for c in clients.list_clients() if c.service_domain})


@bp.route("/donner", methods=["GET", "POST"])
def give(bce: str) -> Any:
    caller = caller_on(bce, GIVE_MANDATE)
    if request.method == "GET":
        return _give_page(caller, {name: "" for name in FIELDS}, [])
    check_form(caller.session)
    form = {name: request.form.get(name, "").strip() for name in FIELDS}
    ticked = [d for d in request.form.getlist("domains") if d in known_domains()]
    errors, domains = _give_errors(caller, form, ticked)
    if errors:
        error = _("Le mandat n'a pas été donné : corrigez les champs signalés.")
        return _give_page(caller, form, ticked, errors=errors, error=error), 400
    try:
        with db.transaction():  # the mandate, its audit event and the emails commit together
            mandate = propose_mandate(
                caller.caller(),
                caller.bce,
                form["firm"],
                domains,
                valid_from=form["valid_from"] or None,
                valid_until=form["valid_until"] or None,
                message=form["message"],
            )
    except AuthzError as exc:
        field, message, status = _give_refusal(exc)
        errors = {field: message} if field else {}
        return _give_page(caller, form, ticked, errors=errors, error=message), status
    return redirect(url_for(".index", bce=caller.bce, donne=mandate.id), 303)


def _give_errors(caller: MandateCaller, form, ticked) -> tuple[dict[str, str], list[str]]:
    """Messages by field name, and the service domains chosen."""
    errors: dict[str, str] = {}
    try:
        firm = normalize_bce(form["firm"])
        if firm == caller.bce:
            errors["firm"] = _(
                "C'est le numéro de votre propre entreprise : un mandat se donne à une autre "
                "entreprise (votre comptable, votre secrétariat social...)."
            )
    except InvalidInput:
        errors["firm"] = _(
            "Indiquez le numéro d'entreprise de l'intermédiaire (10 chiffres, par exemple "
            "0403.170.701)."
        )
    others = form["other_domains"].replace(",", " ").split()
    domains = sorted(set(ticked) | set(others))
    if any(not SERVICE_DOMAIN_RE.match(d) for d in others):
        errors["other_domains"] = _(
            "Indiquez des domaines de service en lettres minuscules (chiffres, - et _ permis), "
            "séparés par des espaces, par exemple : fiscalite environnement."
        )
    elif not domains:
        errors["domains"] = _(
            "Choisissez au moins un domaine de service : le mandat ne vaut que pour eux."
        )
    elif len(domains) > MAX_DOMAINS:
        errors["other_domains"] = _(
            "Un mandat couvre au plus %(num)d domaines de service.", num=MAX_DOMAINS
        )
    dates_ok = True
    for name in ("valid_from", "valid_until"):
        try:
            parse_day(form[name], name)
        except InvalidInput:
            dates_ok = False
            errors[name] = _("Indiquez une date au format AAAA-MM-JJ.")
    if dates_ok:
        try:
            parse_period(form["valid_from"] or None, form["valid_until"] or None)
        except InvalidInput:
            if form["valid_from"] and form["valid_from"] < today().isoformat():
                errors["valid_from"] = _("Le premier jour ne peut pas être passé.")
            else:
                errors["valid_until"] = _(
                    "Le dernier jour ne peut pas précéder le premier jour du mandat."
                )
    if len(form["message"]) > MAX_MESSAGE:
        errors["message"] = _(
            "Ce texte est trop long (%(limit)d caractères au plus).", limit=MAX_MESSAGE
        )
    return errors, domains


def _give_refusal(exc: AuthzError) -> tuple[str | None, str, int]:
    """The service's refusal: the field it is about, the message, the status."""
    if isinstance(exc, NotFound):
        return "firm", _("Aucune entreprise ne porte ce numéro dans Mon Espace."), 404
    if isinstance(exc, EnterpriseStopped):
        return (
            "firm",
            _(
                "Cette entreprise a cessé ses activités selon la Banque-Carrefour des "
                "Entreprises : elle ne peut pas recevoir de mandat."
            ),
            409,
        )
    if isinstance(exc, MandateOpen):
        return (
            "firm",
            _(
                "Votre entreprise a déjà un mandat en attente ou en vigueur avec cet "
                "intermédiaire : terminez-le avant d'en donner un autre (d'autres domaines, "
                "d'autres dates)."
            ),
            409,
        )
    if isinstance(exc, Forbidden):
        return (
            None,
            _(
                "Vous ne pouvez pas donner de mandat pour cette entreprise : seuls son GAP et ses "
                "représentants légaux le peuvent."
            ),
            403,
        )
    return None, _("Vérifiez les champs du formulaire."), 400


def _give_page(caller, form, ticked, *, errors=None, error=None) -> str:
    return page(
        "mandates/give.html",
        caller,
        form=form,
        ticked=ticked,
        domains=known_domains(),
        errors=errors or {},
        error=error,
        today=today().isoformat(),
        max_message=MAX_MESSAGE,
    )


# -- withdrawing, ending -----------------------------------------------------------------------


@bp.post("/<int:mandate_id>/retirer")
def withdraw(bce: str, mandate_id: int) -> Any:
    caller = caller_on(bce, GIVE_MANDATE)
    mandate = mandate_of(caller, mandate_id, MANDATOR)
    check_form(caller.session)
    if mandate.status != "pending":
        message = _("Ce mandat n'est plus en attente : il ne peut plus être retiré.")
        return overview(caller, error=message), 409
    try:
        with db.transaction():
            end_mandate(caller.caller(), mandate.id)
    except AuthzError as exc:
        message, status = refusal(exc)
        return overview(caller, error=message), status
    return redirect(url_for(".index", bce=caller.bce, retire=mandate.id), 303)


@bp.route("/<int:mandate_id>/terminer", methods=["GET", "POST"])
def end(bce: str, mandate_id: int) -> Any:
    caller = caller_on(bce)
    mandate, side = side_of(caller, mandate_id)
    purpose = f"end-mandate:{mandate.id}"
    form = {"reason": ""}
    if mandate.status != "accepted":
        message = _("Ce mandat n'est pas en vigueur : il n'y a rien à terminer.")
        return make_response(overview(caller, error=message), 409)
    if request.method == "POST":
        # Only the confirmation page carries this mandate's token.
        check_form(caller.session, purpose)
        form = {"reason": request.form.get("reason", "").strip()}
        if len(form["reason"]) > MAX_MESSAGE:
            error = _("Ce texte est trop long (%(limit)d caractères au plus).", limit=MAX_MESSAGE)
            return _end_page(caller, mandate, side, form, purpose, error), 400
        try:
            with db.transaction():
                end_mandate(caller.caller(), mandate.id, form["reason"])
        except AuthzError as exc:
            message, status = refusal(exc)
            return _end_page(caller, mandate, side, form, purpose, message), status
        return redirect(url_for(".index", bce=caller.bce, termine=mandate.id), 303)
    return _end_page(caller, mandate, side, form, purpose)


def _end_page(caller, mandate, side, form, purpose, error=None) -> str:
    other = mandate.mandatee if side == MANDATOR else mandate.mandator
    return page(
        "mandates/end.html",
        caller,
        mandate=mandate_row(mandate, other),
        side=side,
        form=form,
        confirm_token=csrf_token(caller.session, purpose),
        error=error,
        max_message=MAX_MESSAGE,
        other_bce=format_bce(other.bce),
    )
