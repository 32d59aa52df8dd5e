"""The operator's pages: clients, BCE import status, the loaded policy."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("operator", __name__, url_prefix="/operateur", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
