"""The OpenID Foundation's Form Post Basic OP plan
(``oidcc-formpost-basic-certification-test-plan``): the Basic plan's modules with
``response_mode=form_post`` (OAuth 2.0 Form Post Response Mode).

The plan runs every module of the Basic plan again in this mode; what the mode changes is how
the answer reaches the client, so the modules run here are those whose answer is a success,
an error, or follows a login already made: ``oidcc-server``, ``oidcc-prompt-none-not-logged-in``
and ``oidcc-prompt-none-logged-in``. The rest do the same as in ``test_basic_op``, where they
run with the default mode. The answer is read from the page the provider serves (a form the
browser posts to the redirect URI), and is nowhere in a URL (the plan's
``RejectAuthCodeInUrlQuery`` and ``RejectErrorInUrlQuery``).
"""

from __future__ import annotations

import pytest
from authlib.common.security import generate_token

from tests.conformance.relying_party import NEEDS_INTERACTION, FormPost

pytestmark = pytest.mark.slow

FORM_POST = {"response_mode": "form_post"}


def test_oidcc_server(register, person, provider):
    assert "form_post" in provider.metadata["response_modes_supported"]
    rp = register()
    request = rp.request(**FORM_POST)
    visit = person.authorize(rp.url(request))
    assert visit.logged_in and isinstance(visit.callback, FormPost)
    tokens = rp.tokens(rp.redeem(rp.code(visit.callback, request)), request["nonce"])
    assert rp.claims_of(tokens)["sub"] == tokens.claims["sub"]


def test_oidcc_prompt_none_not_logged_in(register, person):
    rp = register()
    request = rp.request(prompt="none", state=generate_token(128), **FORM_POST)
    visit = person.authorize(rp.url(request))
    assert not visit.logged_in
    assert rp.error(visit.callback, request) in NEEDS_INTERACTION


def test_oidcc_prompt_none_logged_in(register, person):
    rp = register()
    first = rp.sign_in(person, rp.request(**FORM_POST))
    request = rp.request(prompt="none", **FORM_POST)
    visit = person.authorize(rp.url(request))
    assert not visit.logged_in
    second = rp.tokens(rp.redeem(rp.code(visit.callback, request)), request["nonce"])
    assert second.claims["sub"] == first.claims["sub"]
    assert second.claims["auth_time"] == first.claims["auth_time"]
