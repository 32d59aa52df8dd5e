"""A person's own history: when the helpdesk looked at their record.

``GET /mon-historique``: every ``helpdesk.lookup`` audit event whose target is the logged-in
person (:func:`authz.helpdesk.lookups_of`), newest first: when, and what was looked at (their
record, or the explanation of what they may do for an enterprise). Which member of the
helpdesk looked is kept in the audit log, not shown here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, render_template
from flask_babel import format_datetime
from flask_babel import gettext as _

from admin_ui.pages import logged_in
from authz.helpdesk import VIEW_EXPLANATION, lookups_of
from authz.identifiers import format_bce

bp = Blueprint("my_history", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/mon-historique")
def index() -> Any:
    session = logged_in()
    rows = []
    for event in lookups_of(session.person.nrn):
        details = json.loads(event.details or "{}")
        what = _("Le helpdesk a consulté votre dossier")
        if details.get("view") == VIEW_EXPLANATION and event.enterprise_bce:
            what = _(
                "Le helpdesk a consulté ce que vous pouvez faire pour l'entreprise %(bce)s",
                bce=format_bce(event.enterprise_bce),
            )
        rows.append(
            {
                "when": format_datetime(datetime.fromisoformat(event.occurred_at), "short"),
                "what": what,
            }
        )
    page = render_template("my_history/index.html", rows=rows)
    return page, 200, {"Cache-Control": "no-store"}
