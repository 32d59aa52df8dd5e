"""The checks the plans make on every error response of the authorization endpoint
(``performGenericAuthorizationEndpointErrorResponseValidation`` in the OpenID Foundation's
suite), on malformed requests that no module of the plans sends.

Each request below is refused at the client's redirect URI (Core 3.1.2.6) with the ``state``
sent, the issuer (RFC 9207), no parameter but those of an error response, and an ``error`` and
``error_description`` of the characters RFC 6749 4.1.2.1 allows, whatever the request held
(:meth:`RelyingParty.error`). A description never echoes what the client sent, so a name or
value with a quote, a backslash or an accented letter cannot break that rule.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.slow

ODD = 'é"\\x'  # an accented letter, a double quote, a backslash: none allowed in a description

MALFORMED = {
    "repeated parameter": [("scope", "openid")],
    "repeated parameter with an odd name": [(ODD, "1"), (ODD, "2")],
    "odd prompt": [("prompt", ODD)],
    "odd max_age": [("max_age", ODD)],
    "odd response_mode": [("response_mode", ODD)],
    "odd display": [("display", ODD)],
    "odd code_challenge_method": [("code_challenge", "x" * 43), ("code_challenge_method", ODD)],
    "odd id_token_hint": [("id_token_hint", ODD)],
    "odd response_type": [],
}


@pytest.mark.parametrize("case", MALFORMED)
def test_an_error_response_keeps_to_the_rfc(register, person, case):
    rp = register()
    request = rp.request(response_type=ODD) if case == "odd response_type" else rp.request()
    url = rp.url(request) + "&" + urlencode(MALFORMED[case])
    visit = person.authorize(url)
    assert not visit.logged_in
    assert rp.error(visit.callback, request) in ("invalid_request", "unsupported_response_type")
