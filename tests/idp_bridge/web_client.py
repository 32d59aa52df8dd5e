"""Flask's test client as a person's browser on the demo app, and what tests read in its answers.

:class:`Browser` is Flask's test client with its cookie jar, following the absolute URLs the
app and the simulators send it to, and reading the simulators' pages the way a person would
(hidden fields, a button's ``action``). The app itself comes from the ``make_app`` and ``app``
fixtures (tests/conftest.py), built with :func:`tests.demo_app.app_settings`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask

from idp_bridge.browser_session import SESSION_COOKIE
from idp_bridge.models import LoginSession
from idp_bridge.web import BINDING_COOKIE, MESSAGES
from tests.demo_app import BASE_URL
from tests.idp_bridge.saml_messages import (
    hidden_fields,
)

METHODS = ("eid", "itsme")


# -- reading responses ----------------------------------------------------------------------


def set_cookies(response) -> dict[str, dict[str, str]]:
    """The cookies a response sets, by name: ``value`` and the attributes (lower-case names;
    flags such as ``httponly`` map to "")."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            cookie[key.lower()] = attribute_value
        cookies[name] = cookie
    return cookies


def page_text(response) -> str:
    """The page with its HTML entities decoded (``n&#39;a`` reads ``n'a``)."""
    return unescape(response.get_data(as_text=True))


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]*)"', response.get_data(as_text=True)).group(1)


def message(app: Flask, reason: str) -> str:
    """The sentence the refused page shows for ``reason``, in French (the default language)."""
    with app.test_request_context("/"):
        return MESSAGES[reason]()


def login_sessions() -> list[LoginSession]:
    return list(LoginSession.select().order_by(LoginSession.id))


# -- the browser ------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the upstream's page sends the browser back with: the eID simulator's auto-posted
    form (``form`` to POST at ``path``), or itsme's redirect (``query`` on ``path``)."""

    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


class Browser:
    """One browser (one cookie jar) on the app at ``base_url``."""

    def __init__(self, app: Flask, base_url: str = BASE_URL):
        self.app, self.base_url = app, base_url
        self.host = urlsplit(base_url).hostname
        self.client = app.test_client()

    def get(self, path: str, **kwargs):
        return self.client.get(path, base_url=self.base_url, **kwargs)

    def post(self, path: str, **kwargs):
        return self.client.post(path, base_url=self.base_url, **kwargs)

    def _local(self, url: str) -> tuple[str, str]:
        """(path, query) of an absolute URL, which must be on the app."""
        parts = urlsplit(url)
        if parts.scheme:
            assert f"{parts.scheme}://{parts.netloc}" == self.base_url, url
        return parts.path, parts.query

    def follow(self, url: str):
        path, query = self._local(url)
        return self.get(path, query_string=query)

    # -- cookies ----------------------------------------------------------------------------

    def cookie(self, name: str = SESSION_COOKIE, path: str = "/") -> str | None:
        found = self.client.get_cookie(name, domain=self.host, path=path)
        return found.value if found is not None else None

    def binding(self) -> str | None:
        return self.cookie(BINDING_COOKIE, path="/login/")

    def set_binding(self, value: str) -> None:
        self.client.set_cookie(BINDING_COOKIE, value, domain=self.host, path="/login/")

    def set_session(self, value: str) -> None:
        self.client.set_cookie(SESSION_COOKIE, value, domain=self.host, path="/")

    # -- logging in ---------------------------------------------------------------------------

    def start(self, method: str, next_path: str | None = "/me"):
        query = {"next": next_path} if next_path is not None else {}
        return self.get(f"/login/{method}", query_string=query)

    def upstream_page(self, method: str, next_path: str | None = "/me"):
        """Start a login; the simulator's page where the person chooses."""
        started = self.start(method, next_path)
        assert started.status_code == 303, started.get_data(as_text=True)
        page = self.follow(started.headers["Location"])
        assert page.status_code == 200, page.get_data(as_text=True)
        return page

    def choose(self, method: str, page, action: str, **typed: str) -> Answer:
        """Submit the simulator's page (``person:<key>``, ``custom`` or ``cancel``)."""
        form = {**hidden_fields(page.get_data(as_text=True)), **typed, "action": action}
        answered = self.post(urlsplit(page.request.url).path, data=form)
        if method == "eid":
            assert answered.status_code == 200, answered.get_data(as_text=True)
            text = answered.get_data(as_text=True)
            action_url = unescape(re.search(r'<form method="post" action="([^"]+)"', text)[1])
            return Answer(method, self._local(action_url)[0], form=hidden_fields(text))
        assert answered.status_code == 302, answered.get_data(as_text=True)
        path, query = self._local(answered.headers["Location"])
        return Answer(method, path, query=dict(parse_qsl(query)))

    def answer(
        self, method: str, action: str = "person:marc", next_path: str | None = "/me", **typed
    ) -> Answer:
        """Go through the simulator up to the answer the browser carries back to us."""
        return self.choose(method, self.upstream_page(method, next_path), action, **typed)

    def deliver(self, answer: Answer):
        """Carry an upstream's answer to our endpoint (POST for eID, GET for itsme)."""
        if answer.method == "eid":
            return self.post(answer.path, data=answer.form)
        return self.get(answer.path, query_string=urlencode(answer.query))

    def login(
        self, method: str, action: str = "person:marc", next_path: str | None = "/me", **typed
    ):
        """A whole login; the response of our endpoint (303 to ``next`` when it worked)."""
        return self.deliver(self.answer(method, action, next_path, **typed))


def assert_refused(response, browser: Browser, caplog, *, reason: str, logged: str, before: int):
    """A refused login: the page says why, no session, no cookie, a warning with the reason."""
    assert response.status_code == (403 if reason == "refused" else 400)
    assert response.mimetype == "text/html"
    assert message(browser.app, reason) in page_text(response)
    assert '<html lang="fr">' in response.get_data(as_text=True)
    assert SESSION_COOKIE not in set_cookies(response)
    assert len(login_sessions()) == before
    assert browser.binding() is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"({reason})" in w and logged in w for w in warnings), warnings
