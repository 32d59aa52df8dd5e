"""GAP and access-manager pages of one enterprise (members, requests, invitations, roles, history)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("manage", __name__, url_prefix="/entreprises/<bce>/acces", template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
