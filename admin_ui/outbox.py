"""The demo's outbox: the emails the actions wrote, readable in the browser.

``GET /demo/outbox`` lists them, ``GET /demo/outbox/<id>`` shows one (invitation links
included, so the demo can be followed without a mail server). Mounted in demo mode only:
in production the emails go through SMTP (``monespace mail send``) and these pages do not exist.

An invitation link is good for whoever opens it first, so the outbox is not for anyone who can
reach the demo: only a browser on the machine that runs it (a loopback address, as
``monespace serve`` listens by default) or the logged-in operator reads it; anyone else gets a
403 page, and the log says who was refused.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Flask, abort, current_app, render_template, request
from flask_babel import gettext as _

from admin_ui.models import OutboxMessage
from admin_ui.operator import is_operator
from authz.tables import MAX_ROW_ID
from idp_bridge.browser_session import current_login

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


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


@bp.before_request
def this_machine_or_the_operator() -> None:
    if is_loopback(request.remote_addr):
        return
    session = current_login()
    if session is not None and is_operator(session.person):
        return
    current_app.logger.warning(
        "demo outbox: refused to %s (not this machine, not the operator)", request.remote_addr
    )
    abort(403)


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
