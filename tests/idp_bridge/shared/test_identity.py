"""idp_bridge/shared/identity.py: the one gate for what upstream logins send.

Each attribute: a usable value is taken, an unusable one (control characters, far too long,
not a number) refuses the login as invalid, whichever upstream sent it; through the itsme and
eID upstreams, the refusal is logged by the upstream module like any other.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from idp_bridge.shared.identity import LOA_HIGH, UnusableIdentity, VerifiedIdentity
from idp_bridge.upstreams import fas
from idp_bridge.upstreams.base import UpstreamError

GOOD = VerifiedIdentity(
    nrn="60040400794",
    given_name="Anne-Marie",
    family_name="Dupont d'Ôrval",
    acr=LOA_HIGH,
    amr=("hwk", "pin"),
    upstream="eid",
    session_ref="_a1b2",
    email="anne@example.be",
    language="fr",
)


@pytest.mark.parametrize(
    "change",
    [
        {"given_name": ""},  # a person with one name
        {"given_name": "Zoë\tMaria"[:3]},
        {"family_name": "N" * 200},
        {"email": None},
        {"language": "pt-BR"},  # not ours: taken as unsaid later
        {"amr": ()},
    ],
)
def test_usable_attributes_make_an_identity(change):
    assert replace(GOOD, **change)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"nrn": "60040400795"}, "national register number"),
        ({"nrn": "6004040079\x00"}, "national register number"),
        ({"given_name": "An\x00ne"}, "given_name"),
        ({"given_name": "Anne\nMarie"}, "given_name"),
        ({"given_name": "Anne\u2028Marie"}, "given_name"),
        ({"family_name": "Dupont\x85"}, "family_name"),
        ({"family_name": "D" * 201}, "family_name"),
        ({"given_name": "", "family_name": "  "}, "no name"),
        ({"given_name": None}, "given_name"),
        ({"session_ref": "s" * 256}, "session_ref"),
        ({"acr": "high\x00"}, "acr"),
        ({"amr": ("pin",) * 11}, "amr"),
        ({"amr": ("p\x00n",)}, "amr"),
        ({"email": "anne\x00@example.be"}, "email"),
        ({"language": "fr\x00"}, "language"),
    ],
)
def test_an_unusable_attribute_refuses_the_login_naming_it_not_its_value(change, words):
    with pytest.raises(UnusableIdentity) as caught:
        replace(GOOD, **change)
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.reason == "invalid"
    assert words in caught.value.message
    assert "\x00" not in caught.value.message


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ({"given_name": "Al\x00ice"}, "given_name"),
        ({"family_name": "Fic\u2028tive"}, "family_name"),
    ],
)
def test_itsme_sending_an_unusable_name_is_a_refused_login_logged_with_the_reason(
    itsme, caplog, typed, words
):
    person = {"nrn": "99.09.09-009.20", "given_name": "Alice", "family_name": "Fictive"}
    with caplog.at_level(logging.WARNING), pytest.raises(UpstreamError) as caught:
        itsme.login("custom", **{**person, **typed})
    assert caught.value.reason == "invalid"
    assert f"itsme login not accepted (invalid): {words}" in caplog.text


def test_an_eid_session_index_too_long_to_keep_is_refused():
    attributes = fas.to_attributes("60040400794", "Anne", "Dupont", "fr", None)
    assert fas.to_identity(attributes, fas.CONTEXT_CITIZEN_EID, session_ref="_s" * 127)
    with pytest.raises(UpstreamError, match="session_ref"):
        fas.to_identity(attributes, fas.CONTEXT_CITIZEN_EID, session_ref="_s" * 128)
