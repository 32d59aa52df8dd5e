"""The mandate pages of one enterprise: mandates it gives to firms, mandates firms receive.

Under ``/entreprises/<bce>/mandats`` (the BCE number in any common spelling):

- ``GET ""`` (:mod:`.given`, :mod:`.received`): for whoever the policy gives
  ``give_mandate`` (the GAP or a legal representative), the mandates the enterprise gave,
  pending, in force and ended, each with its domains and dates, a "withdraw" button for a
  pending one and an "end" link for an accepted one; for whoever it gives ``accept_mandate``
  (the GAP), the mandates clients propose to the enterprise, each with accept and refuse
  forms, and a link to its clients.
- ``GET|POST /donner`` (:mod:`.given`): give a mandate to a firm found by its BCE number.
- ``POST /<id>/retirer`` (:mod:`.given`): withdraw a pending mandate.
- ``GET|POST /<id>/terminer`` (:mod:`.given`): end an accepted mandate, for either side,
  after a confirmation page (the POST needs a form token bound to that mandate).
- ``POST /<id>/accepter``, ``POST /<id>/refuser`` (:mod:`.received`): the firm's GAP
  decides on a proposed mandate.
- ``GET /clients`` (:mod:`.received`): the firm's clients (mandates accepted), searched by
  name or BCE number, 50 a page.

Which of the firm's people act for its clients is chosen on the access pages
(:mod:`admin_ui.manage`), by granting the role ``client_agent``. Every page asks the policy
(:func:`.context.caller_on`); every change goes through :mod:`authz.services.intermediaries`,
which asks it again, audits, publishes the step (the GAPs of both sides are emailed) and
commits in one transaction.
"""

from __future__ import annotations

from flask import Flask

from admin_ui.mandates import given, received
from admin_ui.mandates.context import bp

__all__ = ["bp", "given", "init_app", "received"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
