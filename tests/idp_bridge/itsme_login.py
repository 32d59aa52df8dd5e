"""Our itsme relying party and the itsme simulator wired together, through the real protocol.

:func:`make_itsme` wires a fresh :class:`World`: a Flask app serving the simulator, an
``ItsmeUpstream`` whose transport goes to that app's test client, one fake clock for both; the
``itsme_keys`` and ``itsme`` fixtures (tests/idp_bridge/conftest.py) give the keys, generated
once per run, and one such world with the defaults. The helpers log in through
the simulator's pages, and can replace the ID token of a real token response with one forged
from its claims, so each check of the relying party is tested with one thing wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from flask import Flask

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.nested_jwt import RSAKey
from idp_bridge.shared.stores import MemoryRequestStore
from idp_bridge.shared.transport import HttpResponse, Transport, wsgi_transport
from idp_bridge.simulators.itsme_op import (
    ItsmeSimulatorConfig,
    SimulatedClient,
    SimulatedPerson,
    make_blueprint,
)
from idp_bridge.upstreams.itsme import ItsmeConfig, ItsmeUpstream
from tests.idp_bridge.itsme_keys import (
    Clock,
    Keys,
)

ISSUER = "http://localhost/simulators/itsme"
CLIENT_ID = "monespace-test"
SERVICE_CODE = "MONESPACE_LOGIN"
REDIRECT_URI = "https://monespace.test/login/itsme/callback"
TOKEN_ENDPOINT = f"{ISSUER}/token"
JWKS_URI = f"{ISSUER}/jwks"

PERSONS = (
    SimulatedPerson("claire", "60040400794", "Claire", "Lambert-Démo"),
    SimulatedPerson("marc", "85020200387", "Marc", "Dupont-Démo", "NL"),
)


@dataclass
class World:
    keys: Keys
    clock: Clock
    client: object  # the simulator's Flask test client, for the browser's requests
    simulator: Transport  # the simulator, for our server's requests
    states: MemoryRequestStore
    rp: ItsmeUpstream
    calls: list[tuple[str, str]] = field(default_factory=list)
    token_forms: list[dict] = field(default_factory=list)
    # Hooks: replace the JWK Set the simulator serves, the ID token it answers, or fail a call.
    jwks: dict | None = None
    forge: Callable[[dict], str] | None = None
    fail: Callable[[str, str], None] | None = None

    def transport(self, method: str, url: str, form: dict | None) -> HttpResponse:
        """The simulator in process, with the hooks above applied."""
        self.calls.append((method, url))
        if self.fail is not None:
            self.fail(method, url)
        if url == JWKS_URI and self.jwks is not None:
            return HttpResponse(200, json.dumps(self.jwks).encode())
        if url == TOKEN_ENDPOINT:
            self.token_forms.append(dict(form or {}))
        result = self.simulator(method, url, form)
        if url == TOKEN_ENDPOINT and self.forge is not None and result.status == 200:
            body = json.loads(result.body)
            body["id_token"] = self.forge(self.real_claims(body["id_token"]))
            result = HttpResponse(200, json.dumps(body).encode(), result.headers)
        return result

    def real_claims(self, id_token: str) -> dict:
        """The claims of an ID token the simulator issued (decrypted, signature checked)."""
        return nested_jwt.decrypt_then_verify(
            id_token, self.keys.rp_enc, lambda kid: self.keys.op_sig
        )

    def fetches(self, url: str) -> int:
        return sum(1 for _, called in self.calls if called == url)

    # -- driving the browser ------------------------------------------------------------------

    def authorize(self, return_to: str = "/after-login") -> tuple[str, object]:
        """Start a login; return (state, the simulator's page response)."""
        start = self.rp.start(return_to)
        return start.binding, self.open(start.url)

    def open(self, url: str):
        parts = urlsplit(url)
        return self.client.get(parts.path, query_string=parts.query)

    def decide(self, page, action: str, **typed: str):
        """Submit the simulator's page: ``person:<key>``, ``custom`` or ``cancel``."""
        form = hidden_fields(page.get_data(as_text=True))
        form.update(typed, action=action)
        return self.client.post(urlsplit(ISSUER).path + "/authorization", data=form)

    def callback(self, action: str = "person:claire", **typed: str) -> dict:
        """Log in up to the redirect back to us; return the callback's query parameters."""
        _, page = self.authorize()
        assert page.status_code == 200, page.get_data(as_text=True)
        answer = self.decide(page, action, **typed)
        assert answer.status_code == 302
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?")
        return dict(parse_qsl(urlsplit(location).query))

    def login(self, action: str = "person:claire", **typed: str):
        return self.rp.complete(self.callback(action, **typed))


def hidden_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: unescape(value) for name, value in found}


def forged(claims: dict, sig_key: RSAKey, enc_key: RSAKey | None) -> str:
    """An ID token made of ``claims``: signed with ``sig_key``, encrypted to ``enc_key``."""
    inner = nested_jwt.sign(claims, sig_key)
    return nested_jwt.encrypt(inner, enc_key) if enc_key is not None else inner


def simulator_config(keys: Keys, **overrides) -> ItsmeSimulatorConfig:
    settings = {
        "issuer": ISSUER,
        "signing_key": keys.op_sig,
        "encryption_key": keys.op_enc,
        "clients": (SimulatedClient.for_relying_party(rp_config(keys)),),
        "persons": PERSONS,
    }
    return ItsmeSimulatorConfig(**{**settings, **overrides})


def rp_config(keys: Keys, **overrides) -> ItsmeConfig:
    settings = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "service_code": SERVICE_CODE,
        "redirect_uri": REDIRECT_URI,
        "signing_key": keys.rp_sig,
        "encryption_key": keys.rp_enc,
        "acr": "advanced",
    }
    return ItsmeConfig(**{**settings, **overrides})


def make_itsme(keys: Keys, simulator: dict | None = None, **rp_overrides) -> World:
    clock = Clock()
    app = Flask(__name__)
    app.register_blueprint(make_blueprint(simulator_config(keys, **(simulator or {})), clock=clock))
    states = MemoryRequestStore(clock=clock)
    simulator = wsgi_transport(app, ISSUER)
    world = World(keys, clock, app.test_client(), simulator, states, rp=None)  # type: ignore[arg-type]
    world.rp = ItsmeUpstream(rp_config(keys, **rp_overrides), states, world.transport, clock=clock)
    return world
