"""idp_bridge/upstreams/base.py: what the contract itself refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp_bridge.upstreams.base import LoginStart, Site


@pytest.mark.parametrize("binding", ["", "a:b", "a;b", "a b", "é", "x" * 256])
def test_a_binding_that_is_no_cookie_token_is_refused(binding):
    with pytest.raises(ValueError, match="binding"):
        LoginStart("https://idp.example.test/sso", binding)


def test_a_binding_may_be_a_saml_id_or_an_oauth_state():
    assert LoginStart("https://idp.example.test/", "id-4f2a9c").binding == "id-4f2a9c"
    assert LoginStart("https://idp.example.test/", "aZ09_-.~").binding == "aZ09_-.~"


def test_a_login_url_is_under_login_and_the_upstreams_name():
    site = Site(base_url="https://monespace.example.be", keys_dir=Path("/k"), demo=False)

    assert site.login_url("eid", "/acs") == "https://monespace.example.be/login/eid/acs"
    assert site.login_url("itsme") == "https://monespace.example.be/login/itsme"
