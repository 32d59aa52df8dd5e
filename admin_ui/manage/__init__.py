"""The GAP and access-manager pages of one enterprise: members, requests, invitations, roles,
history.

Under ``/entreprises/<bce>/acces`` (the BCE number in any common spelling):

- ``GET ""`` (:mod:`.members`): the GAP (from the designation, not changed here), every role
  grant in force (role, scope, end date, source, who granted it) with links to change or
  revoke what the caller may, and the invitations not yet used, each with a cancel button
  (``POST /invitations/<id>/annuler``).
- ``GET /demandes`` (:mod:`.role_requests`): the role requests waiting for an answer, each
  with an accept form (the asked role or a lesser one, an end date, a scope) and a refuse
  form (a reason): ``POST /demandes/<id>/accepter``, ``POST /demandes/<id>/refuser``. The
  requester is emailed, in their language, in the decision's transaction.
- ``GET|POST /inviter`` (:mod:`.invitations`): invite an email address with a role (and
  optionally an end date, a scope, the national register number the invitation is bound to,
  a message); the single-use link goes by email, in the invitation's transaction. Rate
  limited per person.
- ``GET|POST /roles/<id>/modifier`` (:mod:`.roles`): change a grant's role, end date and
  scope. ``GET /roles/<id>/revoquer`` asks for confirmation, ``POST`` to the same URL
  revokes; the POST needs a form token bound to that grant, which only the confirmation page
  carries.
- ``GET /historique`` (:mod:`.history`): the enterprise's audit events, newest first,
  filtered by action and by person, 25 a page.

Every page asks the policy (:func:`.context.manager`); every change goes through the mandate
services, which ask it again, audit, and commit in one transaction.
"""

from __future__ import annotations

from flask import Flask

from admin_ui.manage import export, history, invitations, members, role_requests, roles
from admin_ui.manage.context import bp

__all__ = [
    "bp",
    "export",
    "history",
    "init_app",
    "invitations",
    "members",
    "role_requests",
    "roles",
]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
