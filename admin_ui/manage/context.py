"""What the access pages share: the blueprint, who is asking for which enterprise, the form
fields of a grant, and the services' refusals in words.

:func:`manager` is where every page asks the policy: the login first, then the enterprise
(404 for an unknown or malformed BCE number), then the permission the page needs (a 403 page
otherwise). It also works out which roles the caller may grant and revoke
(``allow_role_change``), so that the pages offer nothing the policy would refuse. :func:`row`
finds a grant, request or invitation *of this enterprise* (404 for another's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    abort,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from admin_ui.enterprises import short_role_labels
from admin_ui.pages import OnEnterprise, enterprise_or_404, logged_in, refused
from authz import facts as F
from authz import queries
from authz.engine import get_engine
from authz.errors import (
    AlreadyDecided,
    AuthzError,
    BeyondOwnGrant,
    Conflict,
    Expired,
    Forbidden,
    InvalidInput,
    NotFound,
    OwnAccess,
)
from authz.identifiers import format_bce
from authz.permissions import (
    ACCEPT_MANDATE,
    DECIDE_REQUEST,
    GIVE_MANDATE,
    GRANT_ROLE,
    INVITE_MEMBER,
    REVOKE_ROLE,
    VIEW_HISTORY,
    VIEW_MEMBERS,
)
from authz.queries import pending_count
from authz.roles import GRANTABLE_ROLES, ROLE_RANK
from authz.services.base import facts_for, parse_end_date, parse_id, parse_scope
from authz.tables import MAX_ROW_ID, today
from idp_bridge.browser_session import csrf_token

if TYPE_CHECKING:
    from authz.models import Enterprise, RoleRequest

# The templates live with the other admin pages, in admin_ui/templates/manage/.
bp = Blueprint(
    "manage", __name__, url_prefix="/entreprises/<bce>/acces", template_folder="../templates"
)

MANAGING = (VIEW_MEMBERS, DECIDE_REQUEST, INVITE_MEMBER, GRANT_ROLE, REVOKE_ROLE, VIEW_HISTORY)
GRANT_FIELDS = ("role", "valid_until", "scope")


@dataclass(frozen=True)
class Manager(OnEnterprise):
    """The logged-in person on one enterprise's pages, and what the policy lets them do."""

    permissions: frozenset[str]
    grantable: tuple[str, ...]  # roles they may grant, strongest first
    revocable: frozenset[str]  # roles they may revoke (and so change)
    facts: tuple[F.PersonFacts, F.EnterpriseFacts]  # as the policy saw them

    def offered(self, at_most: str | None = None) -> tuple[str, ...]:
        """Roles the caller may grant, none stronger than ``at_most``, strongest first."""
        limit = ROLE_RANK[at_most] if at_most else max(ROLE_RANK.values())
        return tuple(r for r in self.grantable if ROLE_RANK[r] <= limit)

    def may_change(self, role: str) -> bool:
        """Changing a grant revokes its role and grants another."""
        return GRANT_ROLE in self.permissions and role in self.revocable and bool(self.grantable)

    def may_revoke(self, role: str) -> bool:
        return REVOKE_ROLE in self.permissions and role in self.revocable

    def decidable(self, requests: list[RoleRequest]) -> set[int]:
        """The ids of the requests the policy lets the caller decide (never their own),
        asked once for them all."""
        offers = [F.Offer("request", r.id, r.person.nrn) for r in requests]
        return get_engine().decidable(self.facts[0], offers)

    @property
    def is_gap(self) -> bool:
        """Whether the policy gives the caller the GAP role on the enterprise."""
        return "gap" in get_engine().roles(*self.facts)


def manager(bce: str, permission: str, back: str = ".members") -> Manager:
    """The caller on this enterprise; or the login page, a 404, or a 403 page."""
    session = logged_in(back=url_for(back, bce=bce))
    enterprise = enterprise_or_404(bce)
    person_facts, enterprise_facts = facts_for(session.person, enterprise)
    engine = get_engine()
    permissions = frozenset(
        p for p in MANAGING if engine.allowed(person_facts, p, enterprise_facts)
    )
    if permission not in permissions:
        abort(forbidden(enterprise))

    def may(action: str, role: str) -> bool:
        return engine.allow_role_change(person_facts, action, role, enterprise_facts)

    return Manager(
        session,
        enterprise,
        permissions,
        grantable=tuple(r for r in GRANTABLE_ROLES if may(GRANT_ROLE, r)),
        revocable=frozenset(r for r in GRANTABLE_ROLES if may(REVOKE_ROLE, r)),
        facts=(person_facts, enterprise_facts),
    )


def forbidden(enterprise: Enterprise, reason: str | None = None):
    """The 403 page: the caller does not manage this enterprise's access (or not this role)."""
    if reason is None and not enterprise.is_active:
        reason = _(
            "%(name)s (%(bce)s) a cessé ses activités selon la Banque-Carrefour des "
            "Entreprises : ses accès ne peuvent plus être gérés.",
            name=enterprise.name,
            bce=format_bce(enterprise.bce),
        )
    elif reason is None:
        reason = _(
            "Vous ne gérez pas les accès de %(name)s (%(bce)s) : seuls son gestionnaire "
            "d'accès principal (GAP) et ses gestionnaires d'accès peuvent voir ces pages.",
            name=enterprise.name,
            bce=format_bce(enterprise.bce),
        )
    return refused(403, _("Accès refusé"), reason)


def row(kind: str, row_id: int, manager: Manager):
    """The grant, request or invitation (``kind``) with this id *of this enterprise*, or 404:
    another enterprise's row is never reached through this one's URL."""
    try:
        found = queries.row(kind, parse_id(row_id, kind))
    except AuthzError:  # an id beyond any row
        found = None
    if found is None or found.enterprise_id != manager.enterprise.id:
        abort(404)
    return found


def query_id(name: str) -> int | None:
    """A row id from the query string (after a redirect), or None: nothing larger than a
    row id can be, which PostgreSQL would refuse to compare."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ROW_ID else None


def page(template: str, manager: Manager, **values: Any) -> str:
    """Render an access page with what every one of them shows (title, navigation)."""
    engine = get_engine()
    # The mandate pages are linked for whoever the policy lets use them (the GAP; access
    # managers give and accept no mandate).
    person_facts, enterprise_facts = manager.facts
    mandates = any(
        engine.allowed(person_facts, p, enterprise_facts) for p in (GIVE_MANDATE, ACCEPT_MANDATE)
    )
    return render_template(
        template,
        enterprise=manager.enterprise,
        bce=manager.bce,
        formatted_bce=format_bce(manager.bce),
        may=manager.permissions,
        may_mandates=mandates,
        pending_count=pending_count(manager.enterprise),
        csrf=csrf_token(manager.session),
        roles=short_role_labels(),
        today=today().isoformat(),
        **values,
    )


# -- form fields -----------------------------------------------------------------------------


def form_values(names) -> dict[str, str]:
    """The posted values of these fields, stripped."""
    return {name: request.form.get(name, "").strip() for name in names}


def grant_errors(form: dict[str, str], offered: tuple[str, ...]) -> dict[str, str]:
    """Messages for a grant's role, end date and scope fields, by field name."""
    errors = {}
    if form["role"] not in offered:
        errors["role"] = _("Choisissez un des rôles proposés.")
    try:
        parse_end_date(form["valid_until"])
    except InvalidInput:
        errors["valid_until"] = _(
            "Indiquez une date de fin au format AAAA-MM-JJ, aujourd'hui ou plus tard, "
            "ou laissez le champ vide."
        )
    try:
        parse_scope(form["scope"], form["role"])
    except InvalidInput:
        if form["role"] == "access_manager" and form["scope"]:
            errors["scope"] = _(
                "Le rôle de gestionnaire d'accès ne peut pas être limité à des domaines : "
                "il concerne toute l'entreprise."
            )
        else:
            errors["scope"] = _(
                "Indiquez des domaines de service en lettres minuscules (chiffres, - et _ "
                "permis), séparés par des espaces, par exemple : fiscalite environnement."
            )
    return errors


def length_error(form: dict[str, str], name: str, limit: int) -> dict[str, str]:
    if len(form[name]) > limit:
        return {name: _("Ce texte est trop long (%(limit)d caractères au plus).", limit=limit)}
    return {}


def refusal(exc: AuthzError, conflict: str | None = None) -> tuple[str, int]:
    """A service's refusal in words, and the status of the page that shows it."""
    if isinstance(exc, OwnAccess):
        return _(
            "Vous ne pouvez pas faire cela : personne ne décide de ses propres accès. Une autre "
            "personne qui gère les accès doit le faire."
        ), 403
    if isinstance(exc, BeyondOwnGrant):
        return _(
            "Vous ne pouvez pas faire cela : personne ne donne plus que son propre rôle, ni "
            "au-delà de sa date de fin."
        ), 403
    if isinstance(exc, Forbidden):
        return _(
            "Vous ne pouvez pas faire cela : personne ne peut accorder, modifier ou retirer "
            "un rôle plus fort que le sien, ni le rôle de gestionnaire d'accès principal (GAP)."
        ), 403
    if isinstance(exc, Expired):
        return _("Cette demande a expiré : la personne doit refaire sa demande."), 409
    if isinstance(exc, AlreadyDecided):
        return _("Cette demande a déjà été traitée : rechargez la page."), 409
    if isinstance(exc, Conflict):
        return conflict or _("Quelqu'un a modifié ces accès entre-temps. Rechargez la page."), 409
    if isinstance(exc, NotFound):
        return _("Cet élément n'existe plus. Rechargez la page."), 404
    return _("Vérifiez les champs du formulaire."), 400
