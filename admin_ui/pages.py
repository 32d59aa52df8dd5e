"""What every logged-in admin page shares: the login, the form token, refusals in words.

``logged_in()`` is the page's login session, or the browser goes to the login page and comes
back (a GET to the same URL; a POST to ``back``). ``check_form(session)`` refuses a
state-changing form without the token bound to the login session (400). ``too_many`` words a
rate-limit refusal. The pages use them so that every form is guarded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from admin_ui import limits
from authz import constant_time
from authz.errors import InvalidInput, NotFound
from authz.services import Caller
from authz.services.base import find_enterprise
from idp_bridge.browser_session import csrf_token, current_login

if TYPE_CHECKING:
    from authz.models import Enterprise, Person


def logged_in(back: str | None = None):
    """The live login session; without one, a redirect to the login page (303)."""
    session = current_login()
    if session is None:
        next_path = request.full_path if request.method == "GET" else back or "/entreprises"
        abort(redirect(url_for("login.login_page", next=next_path), 303))
    return session


def check_form(session, purpose: str = "") -> None:
    """Refuse (400) a posted form whose token is not this login session's."""
    if not constant_time.equal(request.form.get("csrf_token", ""), csrf_token(session, purpose)):
        abort(400, _("Le formulaire a expiré. Rechargez la page et réessayez."))


def too_many(exc: limits.TooMany) -> str:
    """The rate-limit refusal of a form, in the person's language."""
    minutes = max(1, -(-exc.retry_after // 60))
    return ngettext(
        "Vous avez envoyé beaucoup de formulaires en peu de temps. Réessayez dans %(num)d minute.",
        "Vous avez envoyé beaucoup de formulaires en peu de temps. Réessayez dans %(num)d minutes.",
        minutes,
    )


def refused(status: int, title: str, reason: str, back: str | None = None, back_label=None):
    """A refusal as a page (403, 404, 409...): what was refused and why, and a way back
    (Mes entreprises unless ``back`` says otherwise)."""
    page = render_template(
        "refused.html", title=title, reason=reason, back=back, back_label=back_label
    )
    return make_response(page, status)


def enterprise_or_404(bce: str) -> Enterprise:
    """The enterprise a page's URL names (any spelling of its number), or 404."""
    try:
        return find_enterprise(bce)
    except (InvalidInput, NotFound):
        abort(404)


def link(path: str) -> str:
    """An absolute link to a page of this site, for an email."""
    return current_app.config["MONESPACE"].base_url + path


def person_name(person: Person | None) -> str:
    """A person's name as shown on the pages."""
    if person is None:
        return ""
    return f"{person.given_name} {person.family_name}".strip() or _("une personne sans nom connu")


def nrn_error() -> str:
    return _(
        "Indiquez un numéro de registre national valide (11 chiffres, par exemple "
        "85.07.30-033.61), ou laissez le champ vide."
    )


@dataclass(frozen=True)
class OnEnterprise:
    """The logged-in person (their login session) on one enterprise's pages; the pages of each
    kind add what the policy lets them do there."""

    session: Any
    enterprise: Enterprise

    @property
    def person(self) -> Person:
        return self.session.person

    @property
    def bce(self) -> str:
        return self.enterprise.bce

    def caller(self) -> Caller:
        """The person as the services' caller, from this request's address."""
        return Caller.for_person(self.person, ip=request.remote_addr)
