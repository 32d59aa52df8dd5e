"""Complete logins without a browser: what a person's browser and the demo relying party send.

:class:`LoginClient` holds one session (one cookie jar: one person's browser) and runs the
whole authorization code flow of the demo client ``demo-rp`` against a demo app (``monespace
serve``, or granian in demo mode), the login simulators mounted in it:

1. the authorization request (``state``, ``nonce``, PKCE S256) to ``/authorize``, which sends
   the browser to the login page;
2. the login, following the pages' links and forms as a browser does:
   - *eID*: ``/login/eid`` redirects to the SAML IdP simulator with a signed AuthnRequest;
     the person's button posts the request back to the simulator, whose answer is a page
     with one form carrying the signed SAML Response to our ACS; that form is submitted;
   - *itsme*: ``/login/itsme`` redirects to the itsme simulator with a signed then encrypted
     request object; the person's button makes the simulator redirect to our callback with a
     code, which the app redeems at the simulator (back channel, inside the app);
3. the espace chooser (scope ``enterprise``): the person itself (``citoyen``) or an enterprise;
4. the code at the redirect URI (``state`` and ``iss`` checked), redeemed at ``/token`` with
   the client's secret and the PKCE verifier; the ID token's signature (the provider's JWK
   Set), ``iss``, ``aud``, ``nonce`` and ``sub`` are checked.

Every request is timed under a step name (``GET /login/eid``, ``POST /login/eid/acs``...), so
the same client says where a login's time goes. Given a locust ``HttpSession``, the requests
are reported to locust under those names.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
import select
import time
import urllib.request
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from html import unescape
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

REDIRECTS = (301, 302, 303, 307, 308)
MAX_STEPS = 12  # requests in one leg of a login: a loop fails instead of hanging
CALLBACK_PATH = "/demo-rp/callback"
METHODS = ("eid", "itsme")
CITIZEN = "citoyen"

_FORM = re.compile(r'<form method="post" action="([^"]*)">(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_ID_SEGMENT = re.compile(r"/[0-9a-f]{16,}|/\d+(?=/|$)")


class LoginFailed(AssertionError):
    """A step of a login did not answer what a browser expects; the text says which."""


@dataclass
class LoginResult:
    method: str
    person: str
    espace: str
    sub: str
    seconds: float
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    tokens: dict = field(default_factory=dict)  # the token endpoint's answer


def hidden_fields(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in _HIDDEN.findall(html)}


def form_with_button(html: str, name: str, value: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the form holding the button ``name=value``, as a click sends it."""
    for action, body in _FORM.findall(html):
        if f'name="{name}" value="{value}"' in body:
            return unescape(action), {**hidden_fields(body), name: value}
    raise LoginFailed(f"no form with the button {name}={value}")


def only_form(html: str) -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of a page's single POST form (the eID answer's auto-post)."""
    forms = _FORM.findall(html)
    if len(forms) != 1:
        raise LoginFailed(f"expected one form, found {len(forms)}")
    return unescape(forms[0][0]), hidden_fields(forms[0][1])


def step_name(method: str, url: str) -> str:
    """``GET /login/eid``: the path without its query, ids folded, to group timings."""
    return f"{method} {_ID_SEGMENT.sub('/<id>', urlsplit(url).path)}"


class PlainSession:
    """What :class:`LoginClient` asks of a ``requests.Session``, on the standard library's
    ``http.client`` and ``http.cookiejar``: a kept-alive connection per host, the cookies a
    browser keeps (paths, expiry, deletion). The load generator shares the cores with the
    server it loads: a request costs it a third of what it costs through ``requests`` (whose
    URL checks alone go character by character over the long URLs of a login)."""

    def __init__(self) -> None:
        self.cookies = CookieJar()
        self._connections: dict[str, http.client.HTTPConnection] = {}
        # Its connections closed with it, as a browser's are, whoever forgets to.
        self.close = weakref.finalize(self, _close_all, self._connections)

    def request(
        self,
        method: str,
        url: str,
        *,
        allow_redirects: bool = False,
        timeout: float = 30.0,
        data: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> PlainResponse:
        if allow_redirects:
            raise ValueError("redirects are followed by the caller")
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"plain HTTP only: {url}")
        # The cookie jar's view of the request (never opened: the scheme is checked above).
        asked = urllib.request.Request(url, method=method)  # noqa: S310
        self.cookies.add_cookie_header(asked)
        headers = dict(asked.header_items())
        body = None
        if data is not None:
            body = urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth is not None:
            pair = f"{auth[0]}:{auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        status, answer_headers, content = self._exchange(
            parts.netloc, timeout, method, target, body, headers, asked
        )
        return PlainResponse(method, url, status, answer_headers, content)

    def _exchange(self, host, timeout, method, target, body, headers, asked):
        """(status, headers, body) of one request on the host's kept-alive connection. A
        connection the server closed while it was idle is not used (nothing is sent twice); a
        failure closes the connection and is an ``OSError``, as ``requests`` makes it."""
        connection = self._connections.get(host)
        if connection is not None and connection.sock is not None and _closed_by_peer(connection):
            connection.close()
        if connection is None:
            connection = self._connections[host] = http.client.HTTPConnection(host)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            connection.request(method, target, body, headers)
            answer = connection.getresponse()
            content = answer.read()
        except BaseException as exc:
            connection.close()
            del self._connections[host]
            if isinstance(exc, http.client.HTTPException):
                raise ConnectionError(f"{method} {target[:80]}: {exc!r}") from exc
            raise
        self.cookies.extract_cookies(answer, asked)
        return answer.status, answer.headers, content


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection with something to read: the server closed it."""
    readable, _w, _x = select.select([connection.sock], [], [], 0)
    return bool(readable)


def _close_all(connections: dict[str, http.client.HTTPConnection]) -> None:
    for connection in connections.values():
        connection.close()
    connections.clear()


@dataclass
class PlainRequest:
    method: str


class PlainResponse:
    """The parts of a ``requests.Response`` a login reads."""

    def __init__(self, method: str, url: str, status: int, headers, content: bytes):
        self.request = PlainRequest(method)
        self.url, self.status_code, self.headers, self.content = url, status, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


# What a request answers: through requests (a locust session) or plainly.
Answer = requests.Response | PlainResponse


class LoginClient:
    """One browser (one cookie jar) logging in through the demo relying party; see above.
    Each login starts with no cookie (the connection is kept): a whole login every time.

    ``session`` is a :class:`PlainSession` (the default), a ``requests.Session`` or a locust
    ``HttpSession`` (``named``: each request is given its step name, so locust groups them).
    ``keys`` is the provider's JWK Set, fetched at the first login when not given (clients may
    share one).
    """

    def __init__(
        self,
        base_url: str,
        session: requests.Session | PlainSession | None = None,
        *,
        named: bool = False,
        keys: KeySet | None = None,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else PlainSession()
        self.named, self.keys, self.timeout = named, keys, timeout
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri = self.base_url + CALLBACK_PATH
        self._steps: list[tuple[str, float]] = []

    # -- HTTP ---------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs) -> Answer:
        url = urljoin(self.base_url + "/", url)
        name = step_name(method, url)
        if self.named:
            kwargs["name"] = name
        started = time.perf_counter()
        response = self.session.request(
            method, url, allow_redirects=False, timeout=self.timeout, **kwargs
        )
        self._steps.append((name, time.perf_counter() - started))
        return response

    def _on_app(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.base_url

    def _walk(self, response: Answer) -> Answer | str:
        """Follow redirects: the first page, or the URL of the redirect to our redirect URI."""
        for _ in range(MAX_STEPS):
            if response.status_code not in REDIRECTS:
                if response.status_code != 200:
                    raise LoginFailed(
                        f"{step_name(response.request.method, response.url)} answered "
                        f"HTTP {response.status_code}: {response.text[:300]}"
                    )
                return response
            target = urljoin(response.url, response.headers["Location"])
            if target.split("?")[0] == self.redirect_uri or not self._on_app(target):
                return target
            response = self._send("GET", target)
        raise LoginFailed("too many redirects")

    def _submit(self, page: Answer, action: str, fields: dict[str, str]):
        target = urljoin(page.url, action)
        if not self._on_app(target):
            raise LoginFailed(f"a form posts outside the app: {target}")
        return self._walk(self._send("POST", target, data=fields))

    # -- the login ----------------------------------------------------------------------------

    def login(self, method: str, person: str, espace: str | None = None) -> LoginResult:
        """A complete login of the demo ``person`` (``luc``...) with ``method`` (eid | itsme).

        With ``espace`` (``citoyen`` or a BCE number) the scope asks for an enterprise and the
        chooser is answered with it; without, the scope is ``openid profile``.
        """
        if method not in METHODS:
            raise ValueError(f"unknown login method {method!r}")
        self._steps = []
        self.session.cookies.clear()  # a login from scratch: no session at the provider yet
        started = time.perf_counter()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile enterprise" if espace else "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        step = self._walk(self._send("GET", "/authorize?" + urlencode(query)))
        if not isinstance(step, str) and urlsplit(step.url).path == "/login":
            step = self._upstream(step, method, person)
        if espace is not None:
            if isinstance(step, str):
                raise LoginFailed(f"no espace chooser, went to {step}")
            step = self._choose(step, espace)
        if not isinstance(step, str):
            raise LoginFailed(f"stopped at {step.url}: HTTP {step.status_code}")
        code = self._code(step, state)
        tokens = self._redeem(code, verifier)
        sub = self.check_id_token(tokens, nonce)
        seconds = time.perf_counter() - started
        return LoginResult(method, person, espace or "", sub, seconds, self._steps, tokens)

    def _upstream(self, login_page: Answer, method: str, person: str):
        link = re.search(rf'<a class="method" href="([^"]*/login/{method}[^"]*)"', login_page.text)
        if link is None:
            raise LoginFailed(f"no {method} link on the login page")
        simulator = self._walk(self._send("GET", urljoin(login_page.url, unescape(link[1]))))
        if isinstance(simulator, str):
            raise LoginFailed(f"the {method} simulator's page was expected, got {simulator}")
        answer = self._submit(
            simulator, *form_with_button(simulator.text, "action", f"person:{person}")
        )
        if method == "eid":  # the page whose form carries the SAML Response to our ACS
            if isinstance(answer, str):
                raise LoginFailed(f"the eID answer's page was expected, got {answer}")
            answer = self._submit(answer, *only_form(answer.text))
        return answer

    def _choose(self, chooser: Answer, espace: str):
        if urlsplit(chooser.url).path != "/authorize/espace":
            raise LoginFailed(f"the espace chooser was expected, got {chooser.url}")
        if f'name="espace" value="{espace}"' not in chooser.text:
            raise LoginFailed(f"the chooser does not offer {espace}")
        action = re.search(r'<form method="post" action="([^"]*)">', chooser.text)
        fields = {**hidden_fields(chooser.text), "espace": espace}
        return self._submit(chooser, unescape(action[1]), fields)

    def _code(self, redirect_to: str, state: str) -> str:
        params = {k: v[0] for k, v in parse_qs(urlsplit(redirect_to).query).items()}
        if "error" in params:
            raise LoginFailed(f"the provider answered {params['error']}")
        if params.get("state") != state or params.get("iss") != self.base_url:
            raise LoginFailed("the answer's state or iss is not this login's")
        if not params.get("code"):
            raise LoginFailed("no code at the redirect URI")
        return params["code"]

    def _redeem(self, code: str, verifier: str) -> dict:
        response = self._send(
            "POST",
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        if response.status_code != 200:
            raise LoginFailed(f"token endpoint: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def check_id_token(self, tokens: dict, nonce: str | None) -> str:
        """Verify the ID token of a token response (signature, iss, aud, exp, and ``nonce``
        unless None: a refreshed ID token carries none); return its ``sub``."""
        if self.keys is None:
            self.keys = KeySet.import_key_set(self._send("GET", "/jwks").json())
        try:
            claims = jwt.decode(tokens["id_token"], self.keys).claims
        except (JoseError, ValueError, KeyError) as exc:
            raise LoginFailed(f"the ID token does not verify: {exc}") from exc
        audience = claims.get("aud")
        audience = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self.base_url or self.client_id not in audience:
            raise LoginFailed("the ID token's iss or aud is not what was expected")
        if (nonce is not None and claims.get("nonce") != nonce) or claims.get(
            "exp", 0
        ) < time.time():
            raise LoginFailed("the ID token's nonce or exp is not what was expected")
        if not claims.get("sub"):
            raise LoginFailed("the ID token has no sub")
        return claims["sub"]


class SubjectBook:
    """The ``sub`` each person got: the same person always the same, two persons never one."""

    def __init__(self):
        self._by_person: dict[str, str] = {}
        self._by_sub: dict[str, str] = {}

    def check(self, person: str, sub: str) -> None:
        known = self._by_person.setdefault(person, sub)
        owner = self._by_sub.setdefault(sub, person)
        if known != sub:
            raise LoginFailed(f"{person} got another sub than at an earlier login")
        if owner != person:
            raise LoginFailed(f"{person} got the sub of {owner}")


def step_totals(results: list[LoginResult]) -> dict[str, tuple[int, float]]:
    """Step name -> (requests, seconds) over ``results``."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for result in results:
        for name, seconds in result.steps:
            totals[name][0] += 1
            totals[name][1] += seconds
    return {name: (n, s) for name, (n, s) in totals.items()}
