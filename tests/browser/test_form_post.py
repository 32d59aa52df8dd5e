"""``response_mode=form_post`` in a real browser: the answer page's form reaches the relying
party on another origin, posted by its script under the page's CSP (a refusal fails the
test), or by the person's click when scripts are off."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest
from playwright.sync_api import Route

from authz.clients import ClientMetadata, add_client
from tests.browser.playwright_pages import METHOD_LINKS, NAMES

RP = "https://rp.example.test"
CALLBACK = RP + "/cb"


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_the_answer_is_posted_to_the_relying_party(site, new_page, javascript):
    add_client(
        ClientMetadata("Service externe", "fiscalite", [CALLBACK], client_id="external"),
        actor="test",
    )
    page = new_page(javascript=javascript, other_origins=(RP,))
    posted: list[dict[str, list[str]]] = []

    def relying_party(route: Route) -> None:
        if route.request.method == "POST":
            posted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(content_type="text/html", body="<!doctype html><title>RP</title><p>OK</p>")

    page.route(f"{RP}/**", relying_party)
    query = {
        "response_type": "code",
        "client_id": "external",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "response_mode": "form_post",
    }
    page.goto("/authorize?" + urlencode(query))
    page.get_by_role("link", name=METHOD_LINKS["eid"]).click()
    page.get_by_role("button", name=NAMES["marc"], exact=True).click()
    page.get_by_role("button", name="Continuer").click()  # the simulator's SAML answer
    if not javascript:
        page.get_by_role("button", name="Continuer").click()  # our answer's form
    page.wait_for_url(CALLBACK)
    (fields,) = posted
    assert fields["state"] == ["st-1"] and fields["iss"] == [site.url] and fields["code"]
