"""The demo's outbox: the emails the actions wrote, readable in the browser.

``GET /demo/outbox`` lists them, ``GET /demo/outbox/<id>`` shows one (invitation links
included, so the demo can be followed without a mail server). Mounted in demo mode only:
in production the emails go through SMTP (``monespace mail send``) and these pages do not exist.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template
from flask_babel import gettext as _

from admin_ui.models import OutboxMessage
from authz.models import MAX_ROW_ID

bp = Blueprint("outbox", __name__, url_prefix="/demo/outbox", template_folder="templates")
PAGE_SIZE = 100


def init_app(app: Flask) -> None:
    config = app.config["MONESPACE"]
    if not config.is_demo:
        if not config.smtp_host:
            app.logger.warning(
                "MONESPACE_SMTP_HOST is not set: emails stay in the outbox and are not sent"
            )
        return
    app.register_blueprint(bp)


def status_labels() -> dict[str, str]:
    return {
        "sent": _("Envoyé"),
        "pending": _("En attente"),
        "failed": _("Échec"),
    }


@bp.get("")
def index() -> str:
    messages = (
        OutboxMessage.select()
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(PAGE_SIZE)
    )
    return render_template("outbox/index.html", messages=list(messages), statuses=status_labels())


@bp.get("/<int:message_id>")
def show(message_id: int) -> str:
    message = (
        OutboxMessage.get_or_none(OutboxMessage.id == message_id)
        if message_id <= MAX_ROW_ID
        else None
    )
    if message is None:
        abort(404)
    return render_template("outbox/show.html", message=message, statuses=status_labels())
