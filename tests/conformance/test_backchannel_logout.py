"""The OpenID Foundation's Back-Channel Logout OP plan
(``oidcc-backchannel-rp-initiated-logout-certification-test-plan``).

Its two modules: ``oidcc-backchannel-logout-discovery-endpoint-verification`` (the provider
says it sends logout tokens, with ``sid``, and has an ``end_session_endpoint``) and
``oidcc-backchannel-rp-initiated-logout``: the person logs in at a client that registered a
``backchannel_logout_uri``, the client sends them to the ``end_session_endpoint``, and the
provider must both POST a logout token to that URI and send the person to the
``post_logout_redirect_uri`` with the ``state``; a ``prompt=none`` login then fails.

The client's back-channel endpoint is a real HTTP server in the test (``http.server`` on
127.0.0.1, registered as ``http://``, which the demo mode allows). The logout token is checked
as the module does (Back-Channel Logout 1.0, sections 2.4 to 2.6): alone in a form body,
signed with the provider's key its ``kid`` names, typed ``logout+jwt``, ``iss``, ``aud``,
``iat``, ``exp``, ``jti``, the logout event as an empty object, the ``sid`` and ``sub`` of the
ID token the client got, and no ``nonce``.

Not run: the Front-Channel Logout and Session Management plans
(``oidcc-frontchannel-rp-initiated-logout-certification-test-plan``,
``oidcc-session-management-certification-test-plan``): the provider offers neither
front-channel logout nor a ``check_session_iframe``, and its discovery document says so by
leaving them out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conformance.relying_party import (
    AFTER_LOGOUT,
    NEEDS_INTERACTION,
    SKEW,
    b64url_json,
    query_of,
)

pytestmark = pytest.mark.slow

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Delivery:
    path: str
    content_type: str
    body: str


class Receiver:
    """The client's back-channel logout endpoint: records what it is sent, answers 200."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("ascii")
                content_type = self.headers.get("Content-Type", "")
                receiver.deliveries.append(Delivery(self.path, content_type, body))
                receiver.arrived.set()
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")  # section 2.8
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet: pytest shows what failed
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/backchannel_logout"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="backchannel-rp",
            daemon=True,
        )

    def only_delivery(self, timeout: float = 10) -> Delivery:
        assert self.arrived.wait(timeout), "no logout token was sent"
        assert len(self.deliveries) == 1, self.deliveries
        return self.deliveries[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.thread.join(timeout=10)
        receiver.server.server_close()


def test_oidcc_backchannel_logout_discovery_endpoint_verification(provider):
    metadata = provider.metadata
    assert metadata["backchannel_logout_supported"] is True
    # Certification asks for sid in ID and logout tokens.
    assert metadata["backchannel_logout_session_supported"] is True
    assert "sid" in metadata["claims_supported"]
    assert metadata["end_session_endpoint"].startswith(metadata["issuer"] + "/")


def test_oidcc_backchannel_rp_initiated_logout(register, person, provider, receiver):
    rp = register(backchannel_logout_uri=receiver.uri, allow_http=True)
    tokens = rp.sign_in(person, rp.request(state=generate_token(128)))
    assert tokens.claims["sid"]

    state = generate_token(128)
    back = person.open(
        rp.logout_url(
            id_token_hint=tokens.id_token, post_logout_redirect_uri=AFTER_LOGOUT, state=state
        )
    )
    assert isinstance(back, str) and back.split("?")[0] == AFTER_LOGOUT, back
    assert query_of(back) == {"state": state}

    # The logout token: a form with that one parameter (section 2.5).
    delivery = receiver.only_delivery()
    assert delivery.path == "/backchannel_logout"
    assert delivery.content_type.startswith("application/x-www-form-urlencoded")
    form = parse_qs(delivery.body, strict_parsing=True)
    assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1
    token = form["logout_token"][0]

    # Its signature (section 2.6, step 3), with the key its kid names.
    header = b64url_json(token.split(".")[0])
    assert header["alg"] in provider.metadata["id_token_signing_alg_values_supported"]
    assert header["typ"] == "logout+jwt"  # explicit typing (section 2.4)
    keys = KeySet.import_key_set(provider.jwks())
    claims = jwt.decode(token, keys.get_by_kid(header["kid"]), algorithms=[header["alg"]]).claims

    # Its claims (section 2.4; the module's ValidateLogoutTokenClaims and what follows).
    now = time.time()
    assert claims["iss"] == provider.metadata["issuer"]
    assert claims["aud"] in (rp.client_id, [rp.client_id])
    assert isinstance(claims["iat"], int) and claims["iat"] <= now + SKEW
    assert isinstance(claims["exp"], int) and claims["exp"] > now
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert claims["sid"] == tokens.claims["sid"]
    assert claims["sub"] == tokens.claims["sub"]
    assert "nonce" not in claims  # so that it can never pass for an ID token

    # The session is over at the provider.
    request = rp.request(prompt="none")
    visit = person.authorize(rp.url(request))
    assert rp.error(visit.callback, request) in NEEDS_INTERACTION
    assert len(receiver.deliveries) == 1  # one logout, one token
