"""A relying party on another origin sends a person to ``/authorize``; the person logs in with
a simulator; the browser lands on the relying party's redirect URI with the code.

After the simulator's last form the browser follows a chain of redirects (our ACS or itsme
callback, ``/authorize/resume``, the redirect URI). Chromium checks a page's CSP
``form-action`` against every redirect that follows a form submission: a page posting the
answer onward must not restrict it, or the chain stops before the relying party.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Route

from authz.clients import ClientMetadata, add_client
from tests.browser.playwright_pages import METHOD_LINKS, NAMES

RP = "https://rp.example.test"
CALLBACK = RP + "/cb"


def serve_relying_party(route: Route) -> None:
    route.fulfill(content_type="text/html", body="<!doctype html><title>RP</title><p>Retour</p>")


@pytest.mark.parametrize("method", ["eid", "itsme"])
def test_a_login_for_a_relying_party_on_another_origin_reaches_its_redirect_uri(
    site, new_page, method
):
    add_client(
        ClientMetadata("Service externe", "fiscalite", [CALLBACK], client_id="external"),
        actor="test",
    )
    page = new_page(other_origins=(RP,))
    page.route(f"{RP}/**", serve_relying_party)
    query = {
        "response_type": "code",
        "client_id": "external",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
    }
    page.goto("/authorize?" + urlencode(query))
    page.get_by_role("link", name=METHOD_LINKS[method]).click()
    page.get_by_role("button", name=NAMES["marc"], exact=True).click()
    if method == "eid":  # the simulator's page that posts the SAML answer to our ACS
        page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(f"{CALLBACK}?**")
    answer = parse_qs(urlsplit(page.url).query)
    assert answer["state"] == ["st-1"] and answer["iss"] == [site.url] and answer["code"]
