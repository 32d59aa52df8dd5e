"""The query string of a long list: its search, its sort and its page, read from a plain GET
form and links, so that the pages need no JavaScript.

Whatever the query string holds, the page answers: a page number that is not one is the first
page, a page beyond the last is the last (:func:`authz.listings.paginate`), an unknown sort or
filter value is the default, and a search too long or a national register number that is not
one is a message on the form (status 400), with the list unfiltered below it.

- ``q``: words of a name (each in the given or the family name), or a national register
  number in any spelling (``85.07.30-033.61``, ``85073003361``...);
- ``role``, ``source``, ``fin`` (an end date within 30 or 90 days): from closed lists;
- ``tri`` (a sort key of the page) and ``ordre=desc``; ``page``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_babel import gettext as _

from admin_ui.pages import nrn_error
from authz.errors import InvalidInput
from authz.identifiers import normalize_nrn
from authz.listings import SOURCES, Search

MAX_SEARCH = 100
ENDING_WITHIN = (30, 90)
# Digits and the separators people type in a number: a search of these is a number.
NUMBER_RE = re.compile(r"^[\d\s./-]+$")
# Far enough past any real page to mean "the last page", short enough for any database.
LAST_PAGE = 10**9


@dataclass(frozen=True)
class Query:
    """A list page's query string, parsed: what to search, which page, the values to show
    back in the form (``form``), the ones its links carry along (``kept``) and a message
    for the form (``error``)."""

    search: Search
    page: int
    form: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def kept(self) -> dict[str, str]:
        """The filters and sort, for the page links (the page number set by each link)."""
        return {key: value for key, value in self.form.items() if value}

    def args(self, base: dict[str, Any], **more: Any) -> dict[str, Any]:
        """The arguments of a link to the list: ``base`` (the URL's own), the filters and
        sort kept, then ``more`` (a page number)."""
        return {**base, **self.kept, **more}

    def sort_args(self, key: str, base: dict[str, Any]) -> dict[str, Any]:
        """The arguments of a link sorting by ``key`` (from the first page): the other way
        round if the list is sorted by it already."""
        args = {**base, **{k: v for k, v in self.kept.items() if k not in ("tri", "ordre")}}
        args["tri"] = key
        if self.search.sort == key and not self.search.descending:
            args["ordre"] = "desc"
        return args


def page_number(value: str | None) -> int:
    """A page number from the query string: not a number is the first page, a number too big
    for any page the last."""
    value = (value or "").strip()
    if not value.lstrip("-").isdigit():
        return 1
    if len(value) > 9:
        return 1 if value.startswith("-") else LAST_PAGE
    return int(value)


def parse(
    sorts: tuple[str, ...],
    roles: tuple[str, ...] = (),
    *,
    sources: bool = False,
    ending: bool = False,
    people: bool = True,
) -> Query:
    """The query string of a list with these sort keys (the first is the default) and
    filters: a role among ``roles``, a grant's source, an end date soon. The search names
    ``people`` (by name or NRN); otherwise it is the page's to read (``form["q"]``)."""
    args = request.args
    form = {"q": args.get("q", "").strip()}
    error = None
    words: tuple[str, ...] = ()
    nrn = None
    if len(form["q"]) > MAX_SEARCH:
        error = _("Ce texte est trop long (%(limit)d caractères au plus).", limit=MAX_SEARCH)
        form["q"] = ""
    elif form["q"] and people and NUMBER_RE.match(form["q"]):
        try:
            nrn = normalize_nrn(form["q"])
        except InvalidInput:
            error = nrn_error()
            form["q"] = ""  # links and the export carry no search that is not one
    elif form["q"] and people:
        words = tuple(form["q"].split())
    role = args.get("role", "")
    form["role"] = role if role in roles else ""
    if sources:
        source = args.get("source", "")
        form["source"] = source if source in SOURCES else ""
    within = None
    if ending:
        fin = args.get("fin", "")
        within = int(fin) if fin in {str(n) for n in ENDING_WITHIN} else None
        form["fin"] = str(within) if within else ""
    sort = args.get("tri", "")
    form["tri"] = sort if sort in sorts and sort != sorts[0] else ""
    descending = args.get("ordre") == "desc"
    form["ordre"] = "desc" if descending else ""
    search = Search(
        words=words,
        nrn=nrn,
        role=form["role"] or None,
        source=form.get("source") or None,
        ending_within=within,
        sort=form["tri"] or sorts[0],
        descending=descending,
    )
    return Query(search, page_number(args.get("page")), form, error)


@dataclass(frozen=True)
class PageLinks:
    """The links of a second list on a page (``manage/_listing.html``'s ``pager``): they keep
    ``kept`` (the page's other arguments) and set the page number as ``param``, jumping to
    the list's heading (``anchor``)."""

    kept: dict[str, Any]
    param: str
    anchor: str = ""

    def args(self, base: dict[str, Any], page: int) -> dict[str, Any]:
        args = {**base, **self.kept, self.param: page}
        if self.anchor:
            args["_anchor"] = self.anchor
        return args
