"""The legal representative's pages: enterprises represented, designating the GAP."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("representatives", __name__, url_prefix="/representant", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
