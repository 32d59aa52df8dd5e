"""Opening and accepting an invitation link."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("invitations", __name__, url_prefix="/invitation", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
