"""One app process for the multi-process tests: the real app, plus test-only routes.

Run as ``python tests/flows/app_process.py DATABASE_URL PORT``. It serves the app built by
``create_app`` (its own decision cache and epoch tracker, as any node) on 127.0.0.1:PORT (0: a
free one, printed on its ``ready PORT`` line), and adds routes that only this harness has:
``POST /_test/revoke/<grant_id>`` revokes a grant through the mandate services *in this
process*, ``GET /_test/cache/...`` says whether this process's cache holds an answer,
``POST /_test/tokens`` issues an access and a refresh token of the demo client to Luc acting
for Boulangerie Démo SA (as a login would), ``POST /_test/logout`` ends the login session an
access token came from (``logout.notify``, as a logout does), ``GET /_test/records`` counts
the answers this process gave from the token records it keeps, and ``GET /_test/ready``
answers once the epoch tracker is healthy.
"""

from __future__ import annotations

import secrets
import sys

from flask import jsonify
from werkzeug.serving import make_server


def main(database_url: str, port: int) -> None:
    from authz.models import Person, RoleGrant
    from authz.services import Caller, revoke_role
    from loadtests import oidc_tokens
    from monespace.app import create_app

    app = create_app({"database_url": database_url, "mode": "demo", "decision_log": "off"})
    point = app.extensions["monespace.decisions"]

    @app.post("/_test/revoke/<int:grant_id>")
    def revoke(grant_id: int):
        grant = RoleGrant.get_by_id(grant_id)
        gap = grant.enterprise.gap_designations.where(
            grant.enterprise.gap_designations.model.ended_at.is_null()
        ).get()
        revoke_role(Caller.for_person(Person.get_by_id(gap.person_id)), grant_id)
        return jsonify(revoked=grant_id)

    @app.get("/_test/cache/<nrn>/<action>/<bce>/<domain>")
    def cache_state(nrn: str, action: str, bce: str, domain: str):
        """Whether this process answers the question from its cache (hit) or not (miss)."""
        return jsonify(cache=point.evaluate(nrn, action, bce, domain).cache)

    @app.post("/_test/tokens")
    def tokens():
        issued = next(oidc_tokens.tokens(app, 1))
        return jsonify(access_token=issued.access_token, refresh_token=issued.refresh_token)

    @app.post("/_test/logout")
    def logout_of_token():
        """The login session an access token came from ends in this process (what the
        RP-initiated logout and the end of a session run: ``logout.notify``)."""
        from types import SimpleNamespace

        from flask import request

        from idp_bridge.oidc import logout
        from idp_bridge.oidc.edge import EXTENSION

        edge = app.extensions[EXTENSION]
        state = edge.provider.provider().authz_state
        record = state.access_tokens[request.form["access_token"]]
        session = SimpleNamespace(id_hash=secrets.token_hex(16))
        logout.remember_client(edge, session, record["client_id"], record["sub"], record["family"])
        logout.notify(edge, session)
        return jsonify(logged_out=True)

    @app.get("/_test/records")
    def records():
        """How often this process answered from the token records and persons it keeps."""
        from idp_bridge.oidc.edge import EXTENSION

        edge = app.extensions[EXTENSION]
        kept = edge.records
        return jsonify(hits=kept.hits, kept=len(kept), person_hits=edge.persons.hits)

    @app.get("/_test/ready")
    def ready():
        point.tracker.start()
        return jsonify(healthy=point.tracker.healthy), (200 if point.tracker.healthy else 503)

    # Port 0: the system picks a free one, said on the ready line (a port chosen by the
    # parent could be taken before this process binds it).
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
