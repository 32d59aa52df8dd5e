"""Fixtures of the browser tests (described in ``playwright_pages``'s docstring).

The browser tests run on one database, PostgreSQL (SQLite when only SQLite is configured,
``MONESPACE_TEST_DATABASES=sqlite``): they test what a person sees and does in the pages,
which do not depend on the database; the rest of the suite runs every query on both.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from tests.browser.playwright_pages import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HERE,
    SCREENSHOTS,
    TIMEOUT_MS,
    WITHOUT_JAVASCRIPT,
    Mailbox,
    PageLog,
    Site,
    artifact_name,
    assert_accessible,
    login,
)
from tests.conftest import BACKENDS

BACKEND = "postgresql" if "postgresql" in BACKENDS else BACKENDS[0]


@pytest.fixture(params=[BACKEND])
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'monespace.sqlite3'}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed  # read by new_page: screenshots of a failure
    return report


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, once for the package's tests."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium, "
            "as .ci/run does) or set MONESPACE_TEST_CHROMIUM; never `playwright install`",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


# -- the site -----------------------------------------------------------------------------------


class _Deferred:
    """A WSGI app set after the server is bound: the app's base_url needs the server's port."""

    app: Flask | None = None

    def __call__(self, environ, start_response):
        assert self.app is not None, "the server was called before the app was built"
        return self.app(environ, start_response)


@pytest.fixture
def site(make_app, smtp_server) -> Iterator[Site]:
    collector, mail_settings = smtp_server
    deferred = _Deferred()
    server = make_server("127.0.0.1", 0, deferred, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="site", daemon=True
    )
    try:
        deferred.app = make_app(
            base_url=url,
            smtp_host=mail_settings.smtp_host,
            smtp_port=mail_settings.smtp_port,
            smtp_starttls=False,
            mail_from=mail_settings.mail_from,
        )
        thread.start()
        yield Site(deferred.app, url, Mailbox(deferred.app, collector))
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join(timeout=10)
        server.server_close()


# -- pages --------------------------------------------------------------------------------------


@pytest.fixture(scope="package", autouse=True)
def fresh_screenshots() -> None:
    """The screenshots of this run only."""
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()


@pytest.fixture
def screenshot(request) -> Callable[[Page, str], None]:
    callspec = getattr(request.node, "callspec", None)
    # The database is the same for every browser test: not in the names.
    params = [
        str(value)
        for key, value in (callspec.params.items() if callspec else ())
        if key != "database_url"
    ]

    def save(page: Page, name: str) -> None:
        path = SCREENSHOTS / f"{artifact_name(request.node.originalname, params, name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)

    return save


@pytest.fixture
def check_page(screenshot) -> Callable[[Page, str], None]:
    def check(page: Page, name: str) -> None:
        screenshot(page, name)
        assert_accessible(page)

    return check


@pytest.fixture
def new_page(chromium, site, request, screenshot) -> Iterator[Callable[..., Page]]:
    opened: list[tuple[BrowserContext, PageLog]] = []

    def open_page(
        person: str | None = None,
        *,
        method: str = "eid",
        javascript: bool = True,
        next_path: str = "/me",
        other_origins: tuple[str, ...] = (),
    ) -> Page:
        context = chromium.new_context(
            base_url=site.url, locale="fr-BE", java_script_enabled=javascript
        )
        context.set_default_timeout(TIMEOUT_MS)
        if not javascript:
            WITHOUT_JAVASCRIPT.add(context)
        log = PageLog(site.url, other_origins)
        context.on("request", log.on_request)
        context.on("console", log.on_console)
        opened.append((context, log))
        page = context.new_page()
        if person is not None:
            login(page, person, method, next_path)
        return page

    yield open_page

    failed = getattr(request.node, "browser_test_failed", False)
    problems = []
    for number, (context, log) in enumerate(opened, start=1):
        if failed:
            for index, page in enumerate(context.pages, start=1):
                with contextlib.suppress(PlaywrightError):  # a crashed page: no picture
                    screenshot(page, f"failed-{number}-{index}")
        context.close()
        problems += [f"a request left the site: {url}" for url in log.foreign]
        problems += [f"the Content-Security-Policy refused: {text}" for text in log.csp]
    assert not problems, "\n".join(problems)
