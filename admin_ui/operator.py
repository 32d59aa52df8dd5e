"""The operator's pages: clients, BCE import status, the loaded policy.

Open to the people whose national register number is in the ``operators`` setting
(``MONESPACE_OPERATORS``), nobody else: a person not logged in goes to the login page and comes
back, a logged-in person who is not an operator gets a 403 page, on every page and every form.

- ``GET /operateur``: the overview.
- ``GET /operateur/clients``: every registered client (relying party, caller of the decision
  API). ``GET|POST /operateur/clients/ajouter`` registers one through
  ``authz.clients.add_client`` and shows its secret once; ``GET|POST
  /operateur/clients/<client_id>/desactiver`` confirms, then disables it through
  ``authz.clients.disable_client``; ``GET|POST /operateur/clients/<client_id>/catalogue``
  sets how the service appears in the portal's catalogue, through
  ``authz.clients.set_catalogue``. All are audited by those functions, with the operator as
  actor (``person:<nrn>``).
- ``GET /operateur/bce``: the last BCE imports (their ``bce.import`` audit events) and what the
  registry holds now.
- ``GET /operateur/politique``: the loaded policy version and its files, read only.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from admin_ui.pages import check_form, logged_in, person_name
from authz import catalogue, policyaudit, queries
from authz import clients as registry
from authz.engine import get_engine, policy_files, policy_version
from authz.errors import AuthzError, InvalidInput, NotFound
from authz.persons import find_person
from idp_bridge.browser_session import csrf_token
from idp_bridge.oidc.provider import SCOPES
from policies import POLICY_DIR

if TYPE_CHECKING:
    from authz.models import Person

bp = Blueprint("operator", __name__, url_prefix="/operateur", template_folder="templates")

ADD_PURPOSE = "operator:add-client"
LAST_IMPORTS = 10
# What one import changed besides its counts, told by the events its batches wrote.
IMPORT_CHANGES = ("bce.enterprise_status", "bce.representation_end")
TEXT_FIELDS = (
    "name",
    "client_id",
    "service_domain",
    "redirect_uris",
    "auth_method",
    "jwks",
    "jwks_uri",
    "subject_type",
    "sector_identifier",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def is_operator(person: Person) -> bool:
    return person.nrn in current_app.config["MONESPACE"].operators


@bp.before_request
def operators_only() -> None:
    """Every page and every form of the blueprint: logged in, and an operator."""
    session = logged_in(back=url_for(".index"))
    if not is_operator(session.person):
        current_app.logger.warning(
            "operator pages: person #%s is not an operator (%s %s)",
            session.person.id,
            request.method,
            request.path,
        )
        abort(make_response(render_template("operator/forbidden.html"), 403))
    g.operator = session


def _actor() -> str:
    return f"person:{g.operator.person.nrn}"


def auth_method_labels() -> dict[str, str]:
    return {
        "client_secret_basic": _("Secret partagé (client_secret_basic)"),
        "private_key_jwt": _("Clé privée du client, JWT signé (private_key_jwt)"),
        "none": _("Client public, sans secret ; PKCE obligatoire (none)"),
    }


def subject_type_labels() -> dict[str, str]:
    return {
        "pairwise": _("Identifiant propre à ce client (pairwise)"),
        "public": _("Même identifiant pour tous les clients (public)"),
    }


@bp.get("")
def index() -> str:
    return render_template("operator/index.html")


# -- clients --------------------------------------------------------------------------------


@bp.get("/clients")
def clients() -> str:
    notice = None
    disabled = request.args.get("desactive")
    if disabled:
        client = registry.find_client(disabled)
        if client is not None and not client.is_enabled:
            notice = _("Le client %(name)s (%(id)s) est désactivé.", name=client.name, id=disabled)
    return render_template(
        "operator/clients.html",
        clients=[_client_row(c) for c in registry.list_clients()],
        methods=auth_method_labels(),
        notice=notice,
    )


def _client_row(client: registry.RegisteredClient) -> dict[str, Any]:
    return {
        "id": client.client_id,
        "name": client.name,
        "domain": client.service_domain,
        "auth_method": client.auth_method,
        "scopes": list(client.scopes),
        "nrn": client.may_receive_nrn,
        "redirect_uris": list(client.redirect_uris),
        "logout_uris": list(client.post_logout_redirect_uris),
        "subject_type": client.subject_type,
        "sector": client.sector_identifier,
        "enabled": client.is_enabled,
        "created": _when(client.created_at),
        "disabled": _when(client.disabled_at) if client.disabled_at else "",
    }


@bp.route("/clients/ajouter", methods=["GET", "POST"])
def add_client() -> Any:
    form: dict[str, Any] = {name: "" for name in TEXT_FIELDS}
    form.update(auth_method="client_secret_basic", subject_type="pairwise", may_receive_nrn=False)
    form["scopes"] = list(registry.DEFAULT_SCOPES)
    if request.method == "GET":
        return _add_page(form)
    check_form(g.operator, ADD_PURPOSE)
    form = _read_form()
    try:
        client, secret = _register(form)
    except AuthzError as exc:
        error = _("Le client n'a pas été inscrit : %(reason)s", reason=exc.message)
        return _add_page(form, error), 400
    response = make_response(
        render_template(
            "operator/client_added.html",
            client=_client_row(client),
            secret=secret,
            methods=auth_method_labels(),
        )
    )
    # The secret is on this page only: no cache, no back button bringing it back.
    response.headers["Cache-Control"] = "no-store"
    return response


def _read_form() -> dict[str, Any]:
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in TEXT_FIELDS}
    form["scopes"] = request.form.getlist("scopes")
    form["may_receive_nrn"] = request.form.get("may_receive_nrn") == "yes"
    return form


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _register(form: dict[str, Any]) -> tuple[registry.RegisteredClient, str | None]:
    unknown = [scope for scope in form["scopes"] if scope not in SCOPES]
    if unknown:
        raise InvalidInput(_("portée non proposée : %(scope)s", scope=unknown[0]))
    keyed = form["auth_method"] == "private_key_jwt"
    if not keyed and (form["jwks"] or form["jwks_uri"]):
        # Keys given to a client that will not use them are a mistake; say so.
        raise InvalidInput(_("le JWKS et le jwks_uri ne servent qu'à private_key_jwt"))
    metadata = registry.ClientMetadata(
        form["name"],
        form["service_domain"],
        redirect_uris=_lines(form["redirect_uris"]),
        auth_method=form["auth_method"],
        scopes=form["scopes"],
        may_receive_nrn=form["may_receive_nrn"],
        subject_type=form["subject_type"],
        sector_identifier=form["sector_identifier"] or None,
        jwks=form["jwks"] or None,
        client_id=form["client_id"] or None,
        # http:// URIs (a relying party on localhost) are for the demo only.
        allow_http=current_app.config["MONESPACE"].is_demo,
        jwks_uri=form["jwks_uri"] or None,
        post_logout_redirect_uris=_lines(form["post_logout_redirect_uris"]),
        backchannel_logout_uri=form["backchannel_logout_uri"] or None,
    )
    return registry.add_client(metadata, actor=_actor(), ip=request.remote_addr)


def _add_page(form: dict[str, Any], error: str | None = None) -> str:
    return render_template(
        "operator/add_client.html",
        form=form,
        error=error,
        scopes=SCOPES,
        methods=auth_method_labels(),
        subject_types=subject_type_labels(),
        demo=current_app.config["MONESPACE"].is_demo,
        csrf=csrf_token(g.operator, ADD_PURPOSE),
    )


@bp.route("/clients/<client_id>/desactiver", methods=["GET", "POST"])
def disable_client(client_id: str) -> Any:
    try:
        client = registry.get_client(client_id)
    except NotFound:
        abort(404)
    purpose = f"operator:disable-client:{client.client_id}"
    if request.method == "POST":
        check_form(g.operator, purpose)
        registry.disable_client(client.client_id, actor=_actor(), ip=request.remote_addr)
        return redirect(url_for(".clients", desactive=client.client_id), 303)
    return render_template(
        "operator/disable_client.html",
        client=_client_row(client),
        methods=auth_method_labels(),
        csrf=csrf_token(g.operator, purpose),
    )


CATALOGUE_LANGUAGES = ("fr", "nl", "de", "en")


@bp.route("/clients/<client_id>/catalogue", methods=["GET", "POST"])
def client_catalogue(client_id: str) -> Any:
    try:
        client = registry.get_client(client_id)
    except NotFound:
        abort(404)
    purpose = f"operator:catalogue:{client.client_id}"
    entry = client.catalogue
    form: dict[str, Any] = {
        "names": {lang: entry.names.get(lang, "") if entry else "" for lang in CATALOGUE_LANGUAGES},
        "descriptions": {
            lang: entry.descriptions.get(lang, "") if entry else "" for lang in CATALOGUE_LANGUAGES
        },
        "start_url": entry.start_url if entry else "",
        "espaces": list(entry.espaces) if entry else [],
    }
    error, status, saved = None, 200, request.args.get("enregistre") == "1"
    if request.method == "POST":
        check_form(g.operator, purpose)
        form = {
            "names": {lang: request.form.get(f"name_{lang}", "") for lang in CATALOGUE_LANGUAGES},
            "descriptions": {
                lang: request.form.get(f"description_{lang}", "") for lang in CATALOGUE_LANGUAGES
            },
            "start_url": request.form.get("start_url", ""),
            "espaces": request.form.getlist("espaces"),
        }
        try:
            new = catalogue.CatalogueEntry(
                form["names"],
                form["descriptions"],
                form["start_url"],
                form["espaces"],
                allow_http=current_app.config["MONESPACE"].is_demo,
            )
            registry.set_catalogue(client.client_id, new, actor=_actor(), ip=request.remote_addr)
        except AuthzError as exc:
            error = _(
                "La fiche du catalogue n'a pas été enregistrée : %(reason)s", reason=exc.message
            )
            status = 400 if isinstance(exc, InvalidInput) else 409
        else:
            return redirect(
                url_for(".client_catalogue", client_id=client.client_id, enregistre=1), 303
            )
    page = render_template(
        "operator/catalogue.html",
        client=_client_row(client),
        form=form,
        error=error,
        saved=saved and error is None,
        catalogue_languages=CATALOGUE_LANGUAGES,
        espaces=catalogue.ESPACES,
        csrf=csrf_token(g.operator, purpose),
    )
    return page, status


# -- BCE imports ----------------------------------------------------------------------------


@bp.get("/bce")
def bce() -> str:
    counts = queries.registry_counts()
    return render_template(
        "operator/bce.html",
        imports=last_imports(),
        active=counts.active,
        stopped=counts.stopped,
        in_force=counts.representations,
    )


def last_imports(limit: int = LAST_IMPORTS) -> list[dict[str, Any]]:
    """The last imports, newest first, from their ``bce.import`` audit events.

    The counts are the event's. How many enterprises stopped and representations ended are
    counted from the events the import's batches wrote for that file, which come between the
    previous import's event and its own.
    """
    events = queries.events_of("bce.import", limit + 1)
    rows = []
    for index, event in enumerate(events[:limit]):
        details = json.loads(event.details)
        after = events[index + 1].seq if index + 1 < len(events) else 0
        rows.append(
            {
                "when": _when(datetime.fromisoformat(event.occurred_at)),
                "actor": _actor_label(event.actor),
                "file": details.get("file", event.target_id),
                "sha256": details.get("sha256", ""),
                "kind": details.get("kind", ""),
                "counts": {
                    key: details.get(key, 0)
                    for key in ("rows", "new", "updated", "unchanged", "bad")
                },
                "ended": _ended(after, event.seq, details.get("file", event.target_id)),
            }
        )
    return rows


def _ended(after: int, before: int, file: str) -> int:
    """Enterprises stopped and representations ended by one import."""
    ended = 0
    for action, details in queries.events_between(after, before, IMPORT_CHANGES):
        if details.get("file") != file:
            continue
        if action == "bce.enterprise_status":
            ended += details.get("status") == "stopped"
        else:
            ended += details.get("ended_on") is not None
    return ended


def _actor_label(actor: str) -> str:
    kind, _sep, nrn = actor.partition(":")
    if kind == "person":
        person = find_person(nrn)
        if person is not None:
            return f"{person_name(person)} ({actor})"
    return actor


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- policy ---------------------------------------------------------------------------------


@bp.get("/politique")
def policy() -> str:
    engine = get_engine()
    files = [_policy_file(path) for path in engine.files]
    truth_table = POLICY_DIR / "truth_table.toml"
    try:
        on_disk = policy_version(policy_files(engine.policy_dir))
    except (AuthzError, OSError):
        on_disk = None
    since = policyaudit.in_force_since(engine.version)
    return render_template(
        "operator/policy.html",
        version=engine.version,
        since=since[:16].replace("T", " ") + " UTC" if since else None,
        changed_on_disk=on_disk != engine.version,
        files=files,
        truth_table=_policy_file(truth_table) if truth_table.is_file() else None,
    )


def _policy_file(path) -> dict[str, Any]:
    try:
        content = path.read_bytes()
    except OSError:
        return {"name": path.name, "sha256": "", "text": None}
    return {
        "name": path.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "text": content.decode("utf-8", errors="replace"),
    }
