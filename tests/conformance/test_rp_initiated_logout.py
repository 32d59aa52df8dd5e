"""The OpenID Foundation's RP-Initiated Logout OP plan
(``oidcc-rp-initiated-logout-certification-test-plan``).

Each module logs the person in (a code flow, its answers checked), then sends the browser to
the ``end_session_endpoint`` (RP-Initiated Logout 1.0, section 2) with ``id_token_hint``,
``post_logout_redirect_uri`` and a 128-character ``state``, less or more as the module says.
Where the provider must log the person out, the test then asks for a login with
``prompt=none``, which must fail with an error that needs the person (Core 3.1.2.6). Where the
request cannot be trusted, the provider must not send the person back to the client: it shows
an error page or asks the person to confirm (it shows the error page: a wrong
``post_logout_redirect_uri`` or hint is refused outright; a request without a hint is
confirmed by the person).

The plan's modules: the discovery check, ``oidcc-rp-initiated-logout``, ``-bad-id-token-hint``,
``-modified-id-token-hint``, ``-bad-post-logout-redirect-uri``,
``-query-added-to-post-logout-redirect-uri``, ``-no-id-token-hint``, ``-no-params``,
``-no-post-logout-redirect-uri``, ``-no-state`` and ``-only-state``.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conformance.relying_party import (
    AFTER_LOGOUT,
    NEEDS_INTERACTION,
    b64url,
    error_page,
    query_of,
)
from tests.flows.person_browser import (
    only_form,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def logged_in(register, person):
    """A client (with ``AFTER_LOGOUT`` registered) and Claire's tokens from it."""
    rp = register()
    return rp, rp.sign_in(person, rp.request())


def end_session_state() -> str:
    return generate_token(128)  # the plan's long state: the provider must not cut it


def assert_logged_out(rp, person) -> None:
    """A login with prompt=none now needs the person (Core 3.1.2.6)."""
    request = rp.request(prompt="none")
    visit = person.authorize(rp.url(request))
    assert not visit.logged_in
    assert rp.error(visit.callback, request) in NEEDS_INTERACTION


def assert_still_logged_in(rp, person) -> None:
    request = rp.request(prompt="none")
    rp.code(person.authorize(rp.url(request)).callback, request)


def assert_logged_out_page(page) -> None:
    """The provider's own page saying the person is logged out."""
    assert isinstance(page, requests.Response), f"redirected to {page}"
    assert page.status_code == 200 and urlsplit(page.url).path == "/login", page.url
    assert "logged_out" in query_of(page.url)


def confirm(person, page) -> requests.Response | str:
    """Press the confirmation page's button (a form bound to the login session)."""
    assert isinstance(page, requests.Response), f"redirected to {page}"
    assert page.status_code == 200 and urlsplit(page.url).path == "/logout/rp", page.url
    action, fields = only_form(page.text)
    assert "confirm" in fields
    return person.submit(page, action, fields)


def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(provider):
    endpoint = provider.metadata["end_session_endpoint"]
    assert endpoint.startswith(provider.metadata["issuer"] + "/")


def test_oidcc_rp_initiated_logout(logged_in, person):
    rp, tokens = logged_in
    state = end_session_state()
    back = person.open(
        rp.logout_url(
            id_token_hint=tokens.id_token, post_logout_redirect_uri=AFTER_LOGOUT, state=state
        )
    )
    assert isinstance(back, str) and back.split("?")[0] == AFTER_LOGOUT, back
    assert query_of(back) == {"state": state}  # the state, nothing else (section 3)
    assert_logged_out(rp, person)


def test_oidcc_rp_initiated_logout_no_state(logged_in, person):
    rp, tokens = logged_in
    back = person.open(
        rp.logout_url(id_token_hint=tokens.id_token, post_logout_redirect_uri=AFTER_LOGOUT)
    )
    assert back == AFTER_LOGOUT  # no state, no other parameter
    assert_logged_out(rp, person)


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(logged_in, person):
    rp, tokens = logged_in
    page = person.open(rp.logout_url(id_token_hint=tokens.id_token, state=end_session_state()))
    assert_logged_out_page(page)
    assert_logged_out(rp, person)


def test_oidcc_rp_initiated_logout_no_params(logged_in, person):
    """Nothing says who asks: the person confirms, then is logged out."""
    rp, _tokens = logged_in
    page = person.open(rp.logout_url())
    assert_logged_out_page(confirm(person, page))
    assert_logged_out(rp, person)


def test_oidcc_rp_initiated_logout_only_state(logged_in, person):
    rp, _tokens = logged_in
    page = person.open(rp.logout_url(state=end_session_state()))
    assert_logged_out_page(confirm(person, page))
    assert_logged_out(rp, person)


def test_oidcc_rp_initiated_logout_no_id_token_hint(logged_in, person):
    """A post_logout_redirect_uri with no hint to say which client asks: never a redirect."""
    rp, _tokens = logged_in
    page = person.open(
        rp.logout_url(post_logout_redirect_uri=AFTER_LOGOUT, state=end_session_state())
    )
    error_page(page)
    assert_still_logged_in(rp, person)


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(logged_in, person):
    rp, tokens = logged_in
    page = person.open(
        rp.logout_url(
            id_token_hint=tokens.id_token,
            post_logout_redirect_uri="https://rp.example.test/conformance/elsewhere",
            state=end_session_state(),
        )
    )
    error_page(page)
    assert_still_logged_in(rp, person)


def test_oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri(logged_in, person):
    rp, tokens = logged_in
    page = person.open(
        rp.logout_url(
            id_token_hint=tokens.id_token,
            post_logout_redirect_uri=AFTER_LOGOUT + "?foo=bar",
            state=end_session_state(),
        )
    )
    error_page(page)
    assert_still_logged_in(rp, person)


def test_oidcc_rp_initiated_logout_modified_id_token_hint(logged_in, person):
    """The ID token turned into ``alg: none`` (its signature dropped)."""
    rp, tokens = logged_in
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{tokens.id_token.split('.')[1]}."
    page = person.open(
        rp.logout_url(
            id_token_hint=unsigned,
            post_logout_redirect_uri=AFTER_LOGOUT,
            state=end_session_state(),
        )
    )
    error_page(page)
    assert_still_logged_in(rp, person)


def test_oidcc_rp_initiated_logout_bad_id_token_hint(logged_in, person, provider):
    """An ID token with the right claims and kid, signed by a key that is not the
    provider's."""
    rp, tokens = logged_in
    now = int(time.time())
    claims = {**tokens.claims, "iat": now, "exp": now + 300}
    stranger = RSAKey.generate_key(2048, parameters={"kid": tokens.header["kid"]})
    forged = jwt.encode({"alg": "RS256", "kid": tokens.header["kid"]}, claims, stranger)
    page = person.open(
        rp.logout_url(
            id_token_hint=forged, post_logout_redirect_uri=AFTER_LOGOUT, state=end_session_state()
        )
    )
    error_page(page)
    assert_still_logged_in(rp, person)
