"""Languages of the pages: French first, then Dutch, German and English (Flask-Babel).

The language of a page is, in order: the ``lang`` query parameter (a link in every page's
header; remembered in a cookie), that cookie, the browser's ``Accept-Language``, French.
Messages are written in French in the code and the templates; the catalogs in
``monespace/translations`` give the three other languages (docs/development.md, "Translations").
Outside a request (an email written by a command or a worker, in its recipient's language),
:func:`translations` gives the same catalogs.
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.support import NullTranslations, Translations
from flask import Flask, Response, request
from flask_babel import Babel, get_locale

from authz.languages import DEFAULT, LANGUAGES

__all__ = ["COOKIE", "DEFAULT", "LANGUAGES", "LANGUAGE_NAMES", "init_app", "select_language"]
COOKIE = "monespace_lang"
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "de": "Deutsch", "en": "English"}
# Where Flask-Babel finds them too: "translations" next to the app's module (monespace.app).
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def translations(language: str | None) -> NullTranslations:
    """The catalog of ``language`` (French, the language of the messages, if unknown), for
    text written outside a request: ``translations("nl").gettext("...")``."""
    return _catalog(language if language in LANGUAGES else DEFAULT)


@functools.cache  # keyed by a known language only: at most one catalog each
def _catalog(language: str) -> NullTranslations:
    if language == DEFAULT:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language])


def select_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in LANGUAGES:
        return remembered
    # In the browser's order of preference, a regional tag counting for its language
    # ("de-BE" is German): werkzeug's best_match would prefer any exact tag, whatever its weight.
    for tag, _quality in request.accept_languages:
        language = tag.split("-")[0].lower()
        if language in LANGUAGES:
            return language
    return DEFAULT


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_language, default_locale=DEFAULT)
    app.jinja_env.globals.update(
        languages=LANGUAGE_NAMES, current_language=lambda: str(get_locale() or DEFAULT)
    )

    @app.after_request
    def remember_language(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
            response.set_cookie(
                COOKIE,
                asked,
                max_age=365 * 86_400,
                samesite="Lax",
                httponly=True,
                secure=app.config["SESSION_COOKIE_SECURE"],
            )
        return response
