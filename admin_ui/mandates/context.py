"""What the mandate pages share: the blueprint, who is asking for which enterprise and what
the policy lets them do with its mandates, a mandate as the pages show it, the refusals in
words.

:func:`caller_on` is where every page asks the policy: the login, the enterprise (404 for an
unknown or malformed number), then ``give_mandate`` and ``accept_mandate`` on it; a page
needing one the caller lacks is a 403 page. :func:`mandate_of` finds a mandate *of this
enterprise, on this side* (404 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from admin_ui.pages import OnEnterprise, enterprise_or_404, logged_in, person_name, refused
from authz import queries
from authz.engine import get_engine
from authz.errors import AlreadyDecided, AuthzError, EnterpriseStopped, Forbidden, NotFound
from authz.identifiers import format_bce
from authz.permissions import ACCEPT_MANDATE, GIVE_MANDATE
from authz.services.base import facts_for
from authz.services.intermediaries import MANDATEE, MANDATOR
from authz.tables import MAX_ROW_ID
from idp_bridge.browser_session import csrf_token

if TYPE_CHECKING:
    from authz.models import Enterprise, EnterpriseMandate, Person

bp = Blueprint(
    "mandates", __name__, url_prefix="/entreprises/<bce>/mandats", template_folder="../templates"
)


@dataclass(frozen=True)
class MandateCaller(OnEnterprise):
    """The logged-in person on one enterprise's mandate pages, and what the policy lets them
    do: give (and end) its mandates to firms, accept (refuse, end) those clients give it."""

    may_give: bool
    may_accept: bool


def mandate_powers(person: Person, enterprise: Enterprise) -> tuple[bool, bool]:
    """Whether the policy lets ``person`` give, and accept, ``enterprise``'s mandates."""
    person_facts, enterprise_facts = facts_for(person, enterprise)
    engine = get_engine()
    return (
        engine.allowed(person_facts, GIVE_MANDATE, enterprise_facts),
        engine.allowed(person_facts, ACCEPT_MANDATE, enterprise_facts),
    )


def caller_on(bce: str, needs: str | None = None) -> MandateCaller:
    """The caller on this enterprise's mandate pages; or the login page, a 404, or a 403
    page when the policy gives them ``needs`` (or, without it, neither permission)."""
    session = logged_in(back=url_for("mandates.index", bce=bce))
    enterprise = enterprise_or_404(bce)
    may_give, may_accept = mandate_powers(session.person, enterprise)
    allowed = {GIVE_MANDATE: may_give, ACCEPT_MANDATE: may_accept}
    if not (allowed[needs] if needs else may_give or may_accept):
        abort(forbidden(enterprise, needs))
    return MandateCaller(session, enterprise, may_give, may_accept)


def forbidden(enterprise: Enterprise, needs: str | None = None):
    """The 403 page: the caller may not do this with the enterprise's mandates."""
    named = {"name": enterprise.name, "bce": format_bce(enterprise.bce)}
    if not enterprise.is_active:
        reason = _(
            "%(name)s (%(bce)s) a cessé ses activités selon la Banque-Carrefour des "
            "Entreprises : ses mandats ne peuvent plus être gérés.",
            **named,
        )
    elif needs == ACCEPT_MANDATE:
        reason = _(
            "Seul le gestionnaire d'accès principal (GAP) de %(name)s (%(bce)s) accepte, refuse "
            "ou termine les mandats que ses clients lui donnent.",
            **named,
        )
    else:
        reason = _(
            "Seuls le gestionnaire d'accès principal (GAP) et les représentants légaux de "
            "%(name)s (%(bce)s) donnent ses mandats à des intermédiaires (comptable, "
            "secrétariat social) : les gestionnaires d'accès ne le peuvent pas.",
            **named,
        )
    return refused(403, _("Accès refusé"), reason)


def _find(mandate_id: int) -> EnterpriseMandate | None:
    if not 0 < mandate_id <= MAX_ROW_ID:  # nothing larger than a row id can be
        return None
    return queries.row("mandate", mandate_id)


def mandate_of(caller: MandateCaller, mandate_id: int, side: str) -> EnterpriseMandate:
    """The mandate with this id that this enterprise gave (``side`` mandator) or was given
    (mandatee), or 404: another enterprise's mandate is never reached through this URL."""
    found = _find(mandate_id)
    if found is None:
        abort(404)
    mine = found.mandator_id if side == MANDATOR else found.mandatee_id
    if mine != caller.enterprise.id:
        abort(404)
    return found


def side_of(caller: MandateCaller, mandate_id: int) -> tuple[EnterpriseMandate, str]:
    """The mandate and the side this enterprise is on (404 when on neither); a 403 page
    when the caller may not act for the enterprise on that side."""
    found = _find(mandate_id)
    if found is not None and found.mandator_id == caller.enterprise.id:
        if not caller.may_give:
            abort(forbidden(caller.enterprise, GIVE_MANDATE))
        return found, MANDATOR
    if found is not None and found.mandatee_id == caller.enterprise.id:
        if not caller.may_accept:
            abort(forbidden(caller.enterprise, ACCEPT_MANDATE))
        return found, MANDATEE
    abort(404)


def status_labels() -> dict[str, str]:
    return {
        "pending": _("En attente de l'intermédiaire"),
        "accepted": _("En vigueur"),
        "refused": _("Refusé"),
        "withdrawn": _("Retiré"),
        "ended": _("Terminé"),
    }


def mandate_row(mandate: EnterpriseMandate, other: Enterprise) -> dict[str, Any]:
    """A mandate as the pages show it, ``other`` the party on the other side."""
    return {
        "id": mandate.id,
        "other": other.name,
        "other_bce": format_bce(other.bce),
        "other_active": other.is_active,
        "domains": ", ".join(mandate.domain_list),
        "since": format_date(mandate.valid_from),
        "until": format_date(mandate.valid_until) if mandate.valid_until else "",
        "status": mandate.status,
        "status_label": status_labels().get(mandate.status, mandate.status),
        "message": mandate.message,
        "reason": mandate.reason,
        "by": person_name(mandate.proposed_by),
        "proposed": format_date(mandate.proposed_at.date()),
        "ended": format_date(mandate.ended_at.date()) if mandate.ended_at else "",
    }


def page(template: str, caller: MandateCaller, **values: Any) -> str:
    return render_template(
        template,
        enterprise=caller.enterprise,
        bce=caller.bce,
        formatted_bce=format_bce(caller.bce),
        may_give=caller.may_give,
        may_accept=caller.may_accept,
        csrf=csrf_token(caller.session),
        **values,
    )


def refusal(exc: AuthzError) -> tuple[str, int]:
    """A service's refusal of a step on an existing mandate, in words, with its status."""
    if isinstance(exc, AlreadyDecided):
        labels = status_labels()
        status = getattr(exc, "status", None)
        if status in labels:
            return _(
                "Ce mandat n'est plus en attente ni en vigueur (%(status)s) : rechargez la page.",
                status=labels[status].lower(),
            ), 409
        return _("Ce mandat a déjà été traité : rechargez la page."), 409
    if isinstance(exc, EnterpriseStopped):
        return _(
            "Une des deux entreprises a cessé ses activités selon la Banque-Carrefour des "
            "Entreprises : le mandat ne peut plus être accepté."
        ), 409
    if isinstance(exc, Forbidden):
        return _("Vous ne pouvez pas faire cela pour cette entreprise."), 403
    if isinstance(exc, NotFound):
        return _("Ce mandat n'existe plus. Rechargez la page."), 404
    return _("Vérifiez les champs du formulaire."), 400
