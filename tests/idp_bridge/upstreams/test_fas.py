"""FAS attributes and authentication contexts to the internal identity."""

from __future__ import annotations

import pytest

from idp_bridge.shared.identity import LOA_HIGH
from idp_bridge.upstreams import fas

GOOD = {
    "egovNRN": ["85020200387"],
    "givenName": ["Marc"],
    "surname": ["Dupont-Démo"],
    "prefLanguage": ["NL"],
    "mail": ["marc@example.test"],
}


def identity(attributes=GOOD, context=fas.CONTEXT_CITIZEN_EID):
    return fas.to_identity(attributes, context, session_ref="s-1", extra={"k": "v"})


def test_fas_attributes_map_to_the_identity():
    person = identity()
    assert (person.nrn, person.given_name, person.family_name) == (
        "85020200387",
        "Marc",
        "Dupont-Démo",
    )
    assert (person.language, person.email) == ("nl", "marc@example.test")
    assert (person.acr, person.amr, person.upstream) == (LOA_HIGH, ("hwk", "pin", "sc"), "eid")
    assert (person.session_ref, person.extra) == ("s-1", {"k": "v"})


@pytest.mark.parametrize(
    "context", [fas.CONTEXT_CITIZEN_EID, fas.CONTEXT_ENTERPRISE_EID, fas.CONTEXT_LEVEL_500]
)
def test_every_eid_context_is_the_high_level(context):
    assert identity(context=context).acr == LOA_HIGH


@pytest.mark.parametrize(
    "context",
    [None, "", "urn:be:fedict:iam:fas:citizen:token", "urn:be:fedict:iam:fas:Level450"],
)
def test_a_context_other_than_the_eid_is_refused(context):
    with pytest.raises(fas.FasAttributeError, match="context"):
        identity(context=context)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"egovNRN": ["85020200388"]}, "national register number"),
        ({"egovNRN": []}, "egovNRN is missing"),
        ({"egovNRN": ["85020200387", "60040400794"]}, "2 values"),
        ({"surname": ["  "]}, "surname is missing"),
        ({"givenName": ["Marc\x00"]}, "givenName is not a usable name"),
        ({"givenName": ["x" * 201]}, "givenName is not a usable name"),
    ],
)
def test_an_unusable_required_attribute_is_refused(change, words):
    with pytest.raises(fas.FasAttributeError, match=words):
        identity({**GOOD, **change})


def test_optional_attributes_that_are_unusable_are_dropped():
    person = identity({**GOOD, "prefLanguage": ["xx"], "mail": ["not an address"]})
    assert person.language is None and person.email is None
    assert identity({k: v for k, v in GOOD.items() if k in fas.REQUIRED_ATTRIBUTES}).email is None


@pytest.mark.parametrize("mail", ["a,b@example.be", "Marc <marc@example.be>", "m;x@example.be"])
def test_an_address_no_email_could_be_sent_to_is_dropped(mail):
    # Kept, it would later make every action that emails the person fail.
    assert identity({**GOOD, "mail": [mail]}).email is None


def test_the_simulator_sends_what_the_mapping_reads():
    attributes = fas.to_attributes("85020200387", "Marc", "Dupont-Démo", "fr", None)
    assert identity(attributes).nrn == "85020200387"
    assert "mail" not in attributes


MACE = "urn:mace:dir:attribute-def:"


@pytest.mark.parametrize(
    "names",
    [
        {"givenName": MACE + "givenName", "surname": MACE + "sn", "mail": MACE + "mail"},
        {"givenName": MACE + "givenName", "surname": MACE + "surname"},
        {
            "givenName": "urn:oid:2.5.4.42",
            "surname": "urn:oid:2.5.4.4",
            "prefLanguage": "urn:oid:2.16.840.1.113730.3.1.39",
            "mail": "urn:oid:0.9.2342.19200300.100.1.3",
        },
    ],
    ids=["mace-sn", "mace-surname", "oid"],
)
def test_the_standard_names_of_an_attribute_are_read_as_the_fas_names(names):
    renamed = {names.get(name, name): values for name, values in GOOD.items()}
    person = identity(renamed)
    assert (person.given_name, person.family_name) == ("Marc", "Dupont-Démo")
    assert person.email == "marc@example.test" and person.language == "nl"


def test_an_attribute_sent_under_two_of_its_names_counts_once_if_they_agree():
    assert identity({**GOOD, "urn:oid:2.5.4.42": ["Marc"]}).given_name == "Marc"
    with pytest.raises(fas.FasAttributeError, match="givenName has 2 values"):
        identity({**GOOD, "urn:oid:2.5.4.42": ["Marcel"]})


def test_the_national_register_number_has_no_other_name():
    without = {name: values for name, values in GOOD.items() if name != "egovNRN"}
    with pytest.raises(fas.FasAttributeError, match="egovNRN is missing"):
        identity({**without, "urn:oid:2.5.4.5": ["85020200387"]})
