"""A person's browser driven by requests, on the app served over real HTTP (the ``live_app``
fixture of tests/flows/conftest.py).

:class:`PersonBrowser` is a ``requests.Session`` (its own cookie jar) that does what a person
does in a browser: it follows redirects one by one, clicks the eID link on the login page,
presses the button of a demo person on the eID simulator's page, submits the page that posts
the SAML answer back, and picks an espace in the chooser. It stops at the first redirect that
leaves the app and hands that URL back: the relying party's redirect URI with the code.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import requests

REDIRECTS = (301, 302, 303, 307, 308)
MAX_STEPS = 12  # redirects and pages in one login; a loop fails instead of hanging


# -- reading pages ------------------------------------------------------------------------------


def hidden_fields(html: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in pairs}


def form_with_button(html: str, name: str, value: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the form holding the button ``name=value``, as a click sends it."""
    for form in re.finditer(r'<form method="post" action="([^"]*)">(.*?)</form>', html, re.S):
        if f'name="{name}" value="{value}"' in form[2]:
            return unescape(form[1]), {**hidden_fields(form[2]), name: value}
    raise AssertionError(f"no form with the button {name}={value} in:\n{html}")


def only_form(html: str) -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of a page's single POST form (the eID answer's auto-post)."""
    forms = re.findall(r'<form method="post" action="([^"]*)">(.*?)</form>', html, re.S)
    assert len(forms) == 1, html
    return unescape(forms[0][0]), hidden_fields(forms[0][1])


# -- the person's browser -----------------------------------------------------------------------


class PersonBrowser(requests.Session):
    """A person's browser on the app at ``base_url``; see the module's docstring."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def _on_app(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.base_url

    def walk(self, response: requests.Response) -> requests.Response | str:
        """Follow redirects within the app: the first page, or the URL of a redirect that
        leaves the app (the client's redirect URI)."""
        for _ in range(MAX_STEPS):
            if response.status_code not in REDIRECTS:
                return response
            target = urljoin(response.url, response.headers["Location"])
            if not self._on_app(target):
                return target
            response = self.get(target, allow_redirects=False, timeout=10)
        raise AssertionError("too many redirects")

    def open(self, url: str) -> requests.Response | str:
        return self.walk(self.get(url, allow_redirects=False, timeout=10))

    def submit(self, page: requests.Response, action: str, fields: dict[str, str]):
        target = urljoin(page.url, action)
        assert self._on_app(target), target
        return self.walk(self.post(target, data=fields, allow_redirects=False, timeout=10))

    def log_in_with_eid(self, login_page: requests.Response, person: str):
        """From the login page: the eID method, the demo ``person``'s button on the
        simulator, then the simulator's answer posted back to our ACS."""
        assert login_page.status_code == 200, login_page.text
        link = re.search(r'<a class="method" href="([^"]*/login/eid[^"]*)"', login_page.text)
        assert link is not None, login_page.text
        simulator = self.open(urljoin(login_page.url, unescape(link[1])))
        assert isinstance(simulator, requests.Response) and simulator.status_code == 200
        answer = self.submit(
            simulator, *form_with_button(simulator.text, "action", f"person:{person}")
        )
        assert isinstance(answer, requests.Response) and answer.status_code == 200, answer
        return self.submit(answer, *only_form(answer.text))

    def choose_espace(self, chooser: requests.Response, espace: str):
        """Pick ``espace`` (a BCE number or "citoyen") in the chooser, as offered there."""
        assert chooser.status_code == 200, chooser.text
        assert urlsplit(chooser.url).path == "/authorize/espace", chooser.url
        assert f'name="espace" value="{espace}"' in chooser.text, chooser.text
        action = re.search(r'<form method="post" action="([^"]*)">', chooser.text)[1]
        return self.submit(
            chooser, unescape(action), {**hidden_fields(chooser.text), "espace": espace}
        )

    def authorize(self, url: str, person: str, espace: str | None = None) -> str:
        """The whole front channel from the client's authorization URL to its redirect URI:
        log in as ``person`` when asked, choose ``espace`` when the chooser is shown."""
        step = self.open(url)
        if isinstance(step, requests.Response) and urlsplit(step.url).path == "/login":
            step = self.log_in_with_eid(step, person)
        if espace is not None:
            assert isinstance(step, requests.Response), f"no chooser, went to {step}"
            step = self.choose_espace(step, espace)
        assert isinstance(step, str), f"stopped at {step.url}: {step.status_code} {step.text}"
        return step
