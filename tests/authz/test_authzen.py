"""authz/authzen.py: reading AuthZEN messages, without HTTP (the API tests cover the rest)."""

from __future__ import annotations

import pytest

from authz import authzen
from authz.authzen import AuthzenError, PageTokens


def test_page_tokens_carry_their_cursor_for_the_same_query_only():
    tokens = PageTokens("k" * 40)
    query = ("subject", "demo-rp", "fiscalite", "0123456749", "act_for", 2)
    token = tokens.issue(query, 17)
    assert tokens.cursor(query, token) == 17
    assert tokens.issue(query, None) == ""
    assert tokens.cursor(query, "") == 0
    for other in [(*query[:-1], 3), ("resource", *query[1:])]:
        with pytest.raises(AuthzenError) as caught:
            tokens.cursor(other, token)
        assert (caught.value.status, caught.value.code) == (400, "invalid_page_token")
    with pytest.raises(AuthzenError):
        PageTokens("another key" * 4).cursor(query, token)


@pytest.mark.parametrize(
    ("semantic", "after_deny", "after_permit"),
    [
        ("execute_all", False, False),
        ("deny_on_first_deny", True, False),
        ("permit_on_first_permit", False, True),
    ],
)
def test_stops_after(semantic, after_deny, after_permit):
    assert authzen.stops_after(semantic, False) is after_deny
    assert authzen.stops_after(semantic, True) is after_permit


def test_batch_defaults_are_replaced_whole_by_an_items_keys():
    subject = {"type": "person", "id": "90010100123"}
    body = {
        "subject": subject,
        "action": {"name": "act_for", "properties": {"a": 1}},
        "context": {"explain": True},
        "evaluations": [
            {"resource": {"type": "enterprise", "id": "0123456749"}},
            {"resource": {"type": "enterprise", "id": "0888888895"}, "action": {"name": "x"}},
        ],
    }
    (first, second), semantic = authzen.evaluations(body)
    assert semantic == "execute_all"
    assert first.subject == second.subject == subject
    assert first.action == {"name": "act_for", "properties": {"a": 1}}
    assert second.action == {"name": "x"}
    assert first.context == second.context == {"explain": True}


def test_vocabulary_errors_become_per_item_results():
    with pytest.raises(AuthzenError) as caught:
        authzen.nrn_of({"type": "person", "id": "1"})
    assert authzen.error_result(caught.value) == {
        "decision": False,
        "context": {"error": {"status": 400, "message": caught.value.description}},
    }
    assert authzen.nrn_of({"type": "person", "id": "90.01.01-001.23"}) == "90010100123"
    assert authzen.bce_of({"type": "enterprise", "id": "BE 0123.456.749"}) == "0123456749"
