"""idp_bridge/upstreams/itsme_claims.py: itsme's claims as our one internal identity."""

from __future__ import annotations

import pytest

from idp_bridge.shared.identity import LOA_HIGH, LOA_SUBSTANTIAL
from idp_bridge.upstreams.base import UpstreamError
from idp_bridge.upstreams.itsme_claims import ACR_ADVANCED, ACR_BASIC, CLAIM_NRN, to_identity

CLAIMS = {
    "sub": "pairwise-user-code",
    CLAIM_NRN: "85020200387",
    "given_name": "Marc",
    "family_name": "Dupont-Démo",
}


def identity(requested: str = "advanced", **claims):
    merged = {k: v for k, v in {**CLAIMS, **claims}.items() if v is not None}
    return to_identity(merged, requested_level=requested, session_ref="s", extra={"k": "v"})


def test_the_claims_become_a_verified_identity():
    person = identity(locale="NL", acr=ACR_ADVANCED)
    assert (person.nrn, person.given_name, person.family_name) == (
        "85020200387",
        "Marc",
        "Dupont-Démo",
    )
    assert (person.acr, person.amr, person.upstream) == (LOA_HIGH, ("mfa",), "itsme")
    assert person.language == "nl"
    assert person.extra == {"k": "v", "itsme_sub": "pairwise-user-code", "itsme_acr": ACR_ADVANCED}


def test_the_level_follows_acr_read_without_case_or_the_request_when_absent():
    assert identity("basic", acr=ACR_BASIC).acr == LOA_SUBSTANTIAL
    assert identity("basic", acr=ACR_ADVANCED.replace("/v2/", "/V2/")).acr == LOA_HIGH
    assert identity("advanced").acr == LOA_HIGH
    assert identity("basic").acr == LOA_SUBSTANTIAL
    with pytest.raises(UpstreamError, match="asked for advanced"):
        identity("advanced", acr=ACR_BASIC)


def test_amr_sent_by_itsme_is_kept_and_nonsense_is_not():
    assert identity(amr=["pin", "mfa"]).amr == ("pin", "mfa")
    assert identity(amr="pin").amr == ("mfa",)
    assert identity(amr=[1, 2]).amr == ("mfa",)


def test_a_formatted_nrn_is_compacted_and_a_wrong_one_refused():
    assert identity(**{CLAIM_NRN: "85.02.02-003.87"}).nrn == "85020200387"
    for wrong in ("85020200388", "8502020038", "abc", 85020200387):
        with pytest.raises(UpstreamError, match="national register number") as caught:
            identity(**{CLAIM_NRN: wrong})
        assert caught.value.reason == "invalid"


def test_a_missing_given_name_is_allowed_a_missing_family_name_is_not():
    assert identity(given_name=None).given_name == ""
    with pytest.raises(UpstreamError, match="names"):
        identity(family_name=None)
    assert identity(locale="xx").language is None
