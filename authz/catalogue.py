"""The catalogue of the services connected to Mon Espace, as the portal shows them.

Each registered relying party may have one :class:`CatalogueEntry`, set by an operator
(``authz.clients.set_catalogue``: audited ``client.update``): a display name and a description
per language (French required; Dutch, German and English optional, falling back to French), the
URL where a person starts using the service, and the espaces it serves (``citoyen``,
``professionnel``). Building an entry checks every field, so an entry that exists is valid.

The portal reads the catalogue through ``authz.clients.catalogued_clients`` and the helpers
here (:func:`display_name`, :func:`search`); nothing here reads a table.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authz.client_metadata import URI_CHARACTERS
from authz.errors import InvalidInput
from authz.languages import DEFAULT, LANGUAGES

if TYPE_CHECKING:
    from authz.client_metadata import RegisteredClient

ESPACE_CITOYEN = "citoyen"
ESPACE_PROFESSIONNEL = "professionnel"
ESPACES = (ESPACE_CITOYEN, ESPACE_PROFESSIONNEL)
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_START_URL = 500
MAX_QUERY = 100  # a longer search is cut: no service name or description is that specific


@dataclass(frozen=True)
class CatalogueEntry:
    """How one service appears in the portal, checked when built (:class:`InvalidInput` names
    the first bad field). ``names`` and ``descriptions`` map a language (``fr``, ``nl``,
    ``de``, ``en``) to a text; blank texts are dropped. ``allow_http`` admits an ``http://``
    start URL (the demo's relying party on localhost); it is not stored."""

    names: Mapping[str, str]
    descriptions: Mapping[str, str]
    start_url: str
    espaces: Iterable[str]
    _: KW_ONLY
    allow_http: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        names = _texts(self.names, "display name", MAX_NAME)
        if DEFAULT not in names:
            raise InvalidInput("the French display name is required")
        descriptions = _texts(self.descriptions, "description", MAX_DESCRIPTION)
        if DEFAULT not in descriptions:
            raise InvalidInput("the French description is required")
        espaces = _espaces(self.espaces)
        start_url = _start_url(self.start_url, bool(self.allow_http))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "descriptions", descriptions)
        object.__setattr__(self, "espaces", espaces)
        object.__setattr__(self, "start_url", start_url)

    def name(self, language: str | None) -> str:
        """The display name in ``language``, else in French."""
        return self.names.get(language or DEFAULT) or self.names[DEFAULT]

    def description(self, language: str | None) -> str:
        """The description in ``language``, else in French."""
        return self.descriptions.get(language or DEFAULT) or self.descriptions[DEFAULT]

    def serves(self, espace: str) -> bool:
        return espace in self.espaces

    def as_dict(self) -> dict[str, Any]:
        return {
            "names": dict(self.names),
            "descriptions": dict(self.descriptions),
            "start_url": self.start_url,
            "espaces": list(self.espaces),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> CatalogueEntry | None:
        """The stored entry (checked when it was set: http stays as it was admitted)."""
        if not text:
            return None
        data = json.loads(text)
        return cls(
            data["names"],
            data["descriptions"],
            data["start_url"],
            data["espaces"],
            allow_http=data["start_url"].startswith("http://"),
        )


def _texts(value: object, what: str, longest: int) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"the {what}s must be given per language")
    texts = {}
    for language, text in value.items():
        if language not in LANGUAGES:
            raise InvalidInput(f"unknown language {language!r} for the {what}")
        if text is None:
            continue
        if not isinstance(text, str):
            raise InvalidInput(f"the {what} ({language}) must be text")
        text = " ".join(text.split()) if what == "display name" else text.strip()
        if not text:
            continue
        if len(text) > longest:
            raise InvalidInput(f"the {what} ({language}) is longer than {longest} characters")
        if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in text):
            raise InvalidInput(f"the {what} ({language}) contains a control character")
        texts[language] = text
    return {language: texts[language] for language in LANGUAGES if language in texts}


def _espaces(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, Iterable):
        raise InvalidInput("the espaces must be a list")
    chosen = set()
    for espace in value:
        if espace not in ESPACES:
            raise InvalidInput(f"unknown espace {espace!r}: expected {' or '.join(ESPACES)}")
        chosen.add(espace)
    if not chosen:
        raise InvalidInput(f"a service serves at least one espace ({', '.join(ESPACES)})")
    return tuple(espace for espace in ESPACES if espace in chosen)


def _start_url(value: object, allow_http: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("the start URL is required")
    url = value.strip()
    if len(url) > MAX_START_URL:
        raise InvalidInput(f"the start URL is longer than {MAX_START_URL} characters")
    if not URI_CHARACTERS.fullmatch(url):
        raise InvalidInput("the start URL has characters a URL cannot hold (encode them)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidInput("the start URL is not a valid URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        needed = "https (or http in demo mode)" if allow_http else "https"
        raise InvalidInput(f"the start URL must be an absolute {needed} URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("the start URL must not hold a user name or password")
    return url


# -- reading the catalogue ----------------------------------------------------------------------


def display_name(client: RegisteredClient, language: str | None) -> str:
    """The name a person sees for a service: the catalogue's in their language (else French),
    else the client's registered name, else its client_id."""
    if client.catalogue is not None:
        return client.catalogue.name(language)
    return client.name or client.client_id


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as single spaces, for searching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def matches(entry: CatalogueEntry, query: str | None) -> bool:
    """True when every word of ``query`` is in the entry's name or description, in any
    language (ignoring case, accents and punctuation); a blank query matches everything."""
    words = fold((query or "")[:MAX_QUERY]).split()
    if not words:
        return True
    haystack = fold(" ".join([*entry.names.values(), *entry.descriptions.values()]))
    return all(word in haystack for word in words)


def search(
    clients: Iterable[RegisteredClient], *, espace: str | None = None, query: str | None = None
) -> list[RegisteredClient]:
    """The catalogued clients serving ``espace`` (any when None) that match ``query``."""
    return [
        client
        for client in clients
        if client.catalogue is not None
        and (espace is None or client.catalogue.serves(espace))
        and matches(client.catalogue, query)
    ]
