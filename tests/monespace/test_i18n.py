"""monespace/i18n.py and monespace/translations: every message translated, catalogs compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from monespace import i18n
from monespace.app import create_app
from monespace.i18n import LANGUAGES

REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "monespace" / "translations"
METHODS = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]


def messages_in_the_code() -> set[str]:
    found = set()
    for package in ("authz", "idp_bridge", "monespace", "admin_ui"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            REPO / package,
            METHODS,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def catalog(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "fr"])
def test_every_message_of_the_code_is_translated(language):
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog(language) if m.id
    }

    def done(message: str) -> bool:
        found = translated.get(message)
        # A plural message needs every form of the language.
        return bool(found) and (isinstance(found, str) or all(found))

    missing = sorted(m for m in messages_in_the_code() if not done(m))
    assert not missing, f"untranslated in {language} (update the .po files): {missing}"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "fr"])
def test_compiled_catalogs_match_their_sources(language):
    def hashable(value):  # a plural message's id and strings are lists
        return value if isinstance(value, str) else tuple(value)

    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = {hashable(m.id): hashable(m.string) for m in read_mo(handle) if m.id}
    source = {hashable(m.id): hashable(m.string) for m in catalog(language) if m.id and not m.fuzzy}
    assert compiled == source, "run: pybabel compile -d monespace/translations"


@pytest.fixture
def app(database_url, tmp_path):
    return create_app({"database_url": database_url, "mode": "demo", "data_dir": str(tmp_path)})


@pytest.mark.parametrize(
    ("query", "headers", "lang", "heading"),
    [
        ("", {}, "fr", "Se connecter à Mon Espace"),
        ("?lang=nl", {}, "nl", "Aanmelden bij Mon Espace"),
        ("", {"Accept-Language": "de-BE,de;q=0.9,fr;q=0.5"}, "de", "Bei Mon Espace anmelden"),
        ("?lang=en", {"Accept-Language": "nl"}, "en", "Log in to Mon Espace"),
        ("?lang=xx", {"Accept-Language": "es"}, "fr", "Se connecter à Mon Espace"),
    ],
)
def test_pages_speak_the_asked_language_french_first(app, query, headers, lang, heading):
    page = app.test_client().get("/login" + query, headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert heading in page


def test_the_language_chosen_is_remembered(app):
    client = app.test_client()
    client.get("/login?lang=nl")
    page = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="nl">' in page


def test_catalogs_outside_a_request_are_one_per_known_language():
    """Any language string may reach ``translations`` (a stored preference, an event): the
    unknown ones get French and the cache keeps at most one catalog per known language."""
    for junk in ("xx", "fr-BE", "", None, *(f"l{n}" for n in range(50))):
        assert i18n.translations(junk).gettext("Bonjour,") == "Bonjour,"
    assert i18n.translations("nl").gettext("Bonjour,") != "Bonjour,"
    assert i18n._catalog.cache_info().currsize <= len(i18n.LANGUAGES)
