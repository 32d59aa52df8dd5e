"""Tests in a real browser: Debian's Chromium driven by Playwright, on the app served over HTTP.

The browser is the system's ``/usr/bin/chromium`` (``MONESPACE_TEST_CHROMIUM`` to change it),
installed by ``.ci/run`` with apt; Playwright never downloads one. axe-core comes from npm:
``npm ci --prefix tests/browser`` (``.ci/run`` does it); without it the accessibility checks
fail and say so. The fixtures are in ``conftest.py``; every module of this package gets them.

Fixtures
--------
``site``
    The demo app (demo data seeded, both login simulators mounted) on the test's database,
    served by werkzeug in a thread at ``site.url`` (``http://127.0.0.1:PORT``, also its
    ``base_url``), with its email sent to a real SMTP server on localhost (aiosmtpd).
    ``site.mailbox.deliver()`` sends the outbox the way ``monespace mail send`` does and
    returns the messages the SMTP server received since the last call.
``new_page(person=None, *, method="eid", javascript=True, next_path="/me", other_origins=())``
    A new browser context (its own cookies: one per person) and its page, French, with
    ``site.url`` as base URL (``page.goto("/entreprises")``). With ``person`` (a demo key:
    ``"alice"``, ``"marc"``...), logged in through the simulator's pages first, the page left
    at ``next_path``. With ``javascript=False``, Playwright cannot evaluate anything in the
    page: take screenshots there, run axe-core and the keyboard helpers elsewhere. At the end
    of the test: a screenshot of each page if the test failed, and a failure if a page loaded
    anything from another origin than the site and ``other_origins`` (no CDN), or if the
    Content-Security-Policy refused something (an inline script or style).
``check_page(page, name)``
    ``screenshot(page, name)``, then :func:`assert_accessible`.
``screenshot(page, name)``
    The whole page saved as ``test-artifacts/screenshots/<test>-<name>.png`` (a test's
    parameters, but the database, go between the two). Each run empties the directory first.

Helpers
-------
:func:`login` (``/login?next=...``, the method's link, the person's button on the simulator,
eID's "Continuer"), :func:`login_from_here` (the same from a login page the app redirected
to), :func:`assert_accessible` (axe-core, WCAG 2.0/2.1/2.2 A and AA: no serious or critical
violation), :func:`tab_to`, :func:`assert_focus_visible` and :func:`focus_contrast` (keyboard
use), :func:`links_in` (the URLs of an email), :func:`only_message_to`.

A story::

    def test_alice_asks_marc_for_a_role(site, new_page, check_page):
        alice = new_page("alice", next_path="/entreprises/ajouter")
        alice.get_by_label("Numéro d'entreprise (BCE)").fill("0123.456.749")
        alice.get_by_role("button", name="Envoyer la demande").click()
        check_page(alice, "sent")
        email = only_message_to(site.mailbox.deliver(), "marc@demo.monespace.invalid")
        marc = new_page()
        marc.goto(links_in(email)[0])
        login_from_here(marc, "marc", "itsme")
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import weakref
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask
from playwright.sync_api import BrowserContext, Page

from admin_ui import mail
from authz import db
from monespace.demo import PERSONS
from tests.smtp_server import (
    Collector,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = os.environ.get("MONESPACE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # each wait of a test; a missing element fails in seconds, not 30

# axe-core tags: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = ("serious", "critical")

# Contexts opened with JavaScript off: Playwright's evaluation waits forever in their pages.
WITHOUT_JAVASCRIPT: weakref.WeakSet[BrowserContext] = weakref.WeakSet()

NAMES = {p.key: f"{p.given_name} {p.family_name}" for p in PERSONS}
METHOD_LINKS = {"eid": "Carte d'identité électronique", "itsme": "itsme"}


# -- the site and its mail -----------------------------------------------------------------------


class Mailbox:
    """The emails of the site, as an SMTP server on localhost receives them."""

    def __init__(self, app: Flask, collector: Collector):
        self.app, self.collector = app, collector
        self._seen = 0

    def deliver(self) -> list[EmailMessage]:
        """Send the outbox's due messages (``monespace mail send``); the messages received
        since the last call."""
        with db.connection():
            _sent, failed = mail.deliver_due(self.app.config["MONESPACE"])
        assert failed == 0, "the SMTP server on localhost refused a message"
        new = self.collector.messages[self._seen :]
        self._seen = len(self.collector.messages)
        return new


@dataclass
class Site:
    app: Flask
    url: str  # http://127.0.0.1:PORT, the app's base_url
    mailbox: Mailbox


def only_message_to(messages: list[EmailMessage], address: str) -> EmailMessage:
    found = [m for m in messages if m["To"] == address]
    assert len(found) == 1, f"expected one message to {address}, got: " + ", ".join(
        f"{m['To']}: {m['Subject']}" for m in messages
    )
    return found[0]


def links_in(message: EmailMessage) -> list[str]:
    """The http(s) URLs in an email's text, in order."""
    return re.findall(r"https?://\S+", message.get_content())


# -- logging in ---------------------------------------------------------------------------------


def login(page: Page, person: str, method: str = "eid", next_path: str = "/me") -> Page:
    """Log ``person`` (a demo key) in with ``method`` (eid, itsme) from the login page, as a
    person does; the page ends at ``next_path``."""
    page.goto("/login?" + urlencode({"next": next_path}))
    return login_from_here(page, person, method, next_path)


def login_from_here(
    page: Page, person: str, method: str = "eid", next_path: str | None = None
) -> Page:
    """Go on from the login page the browser is at; it ends at ``next_path`` (by default,
    the page's own ``next``)."""
    assert urlsplit(page.url).path == "/login", f"not on the login page: {page.url}"
    if next_path is None:
        next_path = dict(parse_qsl(urlsplit(page.url).query)).get("next", "/me")
    page.get_by_role("link", name=METHOD_LINKS[method]).click()
    page.get_by_role("button", name=NAMES[person], exact=True).click()
    if method == "eid":  # the simulator's page that posts the SAML answer back to us
        page.get_by_role("button", name="Continuer").click()
    target = urlsplit(next_path)
    page.wait_for_url(
        lambda url: (
            urlsplit(url).path == target.path
            and (not target.query or urlsplit(url).query == target.query)
        )
    )
    return page


# -- accessibility --------------------------------------------------------------------------------


@cache
def axe_source() -> str:
    """axe-core's script, installed from npm (the pinned lock file) on first use if missing."""
    if not AXE.is_file() and shutil.which("npm"):
        print(f"installing axe-core: npm ci --prefix {HERE} ...", file=sys.stderr)
        subprocess.run(
            ["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund", "--loglevel=error"],
            check=False,
            timeout=300,
        )
    if not AXE.is_file():
        raise AssertionError(
            f"axe-core is not installed ({AXE} is missing): run `npm ci --prefix tests/browser`"
        )
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page, tags: list[str] = WCAG_TAGS) -> list[dict]:
    """axe-core's violations on the page as it is now.

    The script is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern (a ``<script>`` tag would be refused)."""
    assert page.context not in WITHOUT_JAVASCRIPT, (
        "axe-core runs in the page: check this page in a context with JavaScript (a "
        "screenshot only here)"
    )
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """tags => axe.run(document, {
            runOnly: {type: "tag", values: tags},
            resultTypes: ["violations"],
        })""",
        tags,
    )
    return result["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}  [{v['helpUrl']}]")
        for node in v["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}: {node['html'][:200]}")
            summary = node.get("failureSummary") or ""
            lines.extend(f"      {line.strip()}" for line in summary.splitlines() if line.strip())
    return "\n".join(lines)


def assert_accessible(page: Page, impacts: tuple[str, ...] = FAILING_IMPACTS) -> None:
    """No axe-core violation of WCAG 2 A/AA with one of ``impacts`` on the page."""
    found = [v for v in axe_violations(page) if v["impact"] in impacts]
    assert not found, (
        f"{page.url} ({page.title()!r}): axe-core finds {len(found)} "
        f"{'/'.join(impacts)} violation(s):\n{describe(found)}"
    )


# -- the keyboard -------------------------------------------------------------------------------


def focused_description(page: Page) -> str:
    return page.evaluate(
        """() => { const e = document.activeElement;
            return e ? e.outerHTML.slice(0, 120) : "(nothing)"; }"""
    )


def tab_to(page: Page, locator, max_tabs: int = 40) -> None:
    """Press Tab until ``locator`` has the focus; its focus must be visible."""
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        if locator.evaluate("e => e === document.activeElement"):
            assert_focus_visible(page)
            return
    raise AssertionError(
        f"{max_tabs} presses of Tab never reached {locator}; the focus is on "
        f"{focused_description(page)}"
    )


def assert_focus_visible(page: Page) -> None:
    """The focused element draws a focus indicator: an outline or a box-shadow."""
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
            return {outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                    shadow: s.boxShadow, matches: document.activeElement.matches(":focus")}; }"""
    )
    visible = (style["outline"] != "none" and style["width"] > 0) or style["shadow"] != "none"
    assert visible, f"no visible focus on {focused_description(page)}: {json.dumps(style)}"


# The WCAG contrast ratio of the focused element's outline with the background around it
# (the nearest ancestor's opaque background; white without one). null for Chromium's own
# two-tone ring (outline-style auto), which is made to contrast with any background.
_FOCUS_CONTRAST = """() => {
    const e = document.activeElement, s = getComputedStyle(e);
    if (s.outlineStyle === "none" || s.outlineStyle === "auto") return null;
    const rgb = c => c.match(/[\\d.]+/g).map(Number);
    const luminance = ([r, g, b]) => [r, g, b].map(v => {
        v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    let around = [255, 255, 255];
    for (let p = e.parentElement; p; p = p.parentElement) {
        const c = rgb(getComputedStyle(p).backgroundColor);
        if (c.length === 3 || c[3] === 1) { around = c.slice(0, 3); break; }
    }
    const [a, b] = [luminance(rgb(s.outlineColor)), luminance(around)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def focus_contrast(page: Page) -> float | None:
    """WCAG 1.4.11 asks 3:1 of a focus indicator; see ``_FOCUS_CONTRAST``."""
    return page.evaluate(_FOCUS_CONTRAST)


# -- artifacts --------------------------------------------------------------------------------


def artifact_name(test: str, params: list[str], name: str) -> str:
    """``<test>[-<params>]-<name>``, safe as a file name; a last parameter equal to ``name``
    (a page's name) is not repeated."""
    if params and params[-1] == name:
        params = params[:-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join([test, *params, name])).strip("-")


@dataclass
class PageLog:
    """What a context's pages did that no test should see: requests to other origins and
    Content-Security-Policy refusals in the console."""

    site_url: str
    other_origins: tuple[str, ...] = ()
    foreign: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def on_request(self, request) -> None:
        url = request.url
        if url.startswith((self.site_url + "/", "data:", "about:", "chrome-error:")):
            return
        if url.startswith(tuple(origin + "/" for origin in self.other_origins)):
            return
        self.foreign.append(url)

    def on_console(self, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp.append(message.text)
