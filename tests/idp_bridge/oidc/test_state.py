"""pyop's authorization state with its traps closed: single-use codes whose reuse revokes what
they gave, rotated refresh tokens whose replay revokes the family, subject identifiers found
without scans and never overwritten, protocol errors instead of KeyError, logout that revokes
refresh tokens too, and revocation and introspection helpers.

Each trap's test runs twice: on ``ProviderAuthorizationState``, and on pyop's own
``AuthorizationState`` over the same storage, where it must fail (strict xfail), which shows
the test catches the trap. Every step runs on a new instance (another "node"), on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from urllib.parse import urlencode

import pytest
from Cryptodome.PublicKey import RSA
from jwkest.jwk import RSAKey
from pyop.authz_state import AuthorizationState
from pyop.exceptions import (
    InvalidAccessToken,
    InvalidAuthorizationCode,
    InvalidRefreshToken,
    InvalidScope,
    InvalidSubjectIdentifier,
    OAuthError,
)
from pyop.message import AuthorizationRequest
from pyop.provider import Provider
from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
from pyop.userinfo import Userinfo

from idp_bridge.oidc import storage as storage_module
from idp_bridge.oidc.models import ProviderState
from idp_bridge.oidc.state import CODES, REFRESH_TOKENS, ProviderAuthorizationState
from idp_bridge.oidc.storage import DatabaseStorage
from idp_bridge.oidc.token_families import FAMILIES, TokenFamilies
from tests.idp_bridge.oidc.test_storage import Clock, run_together

SALT = "test-salt"
CLIENT, SECRET = "client-1", "s3cret"
REDIRECT_URI = "https://rp.example/callback"
LIFETIMES = {
    "authorization_code_lifetime": 600,
    "access_token_lifetime": 3600,
    "refresh_token_lifetime": 86400,
}


@pytest.fixture(autouse=True)
def no_background_purge(monkeypatch):
    schedule = storage_module.PurgeSchedule(clock=lambda: 0.0)
    assert schedule.due()
    monkeypatch.setattr(storage_module, "_schedule", schedule)


def our_node(clock=time.time) -> ProviderAuthorizationState:
    return ProviderAuthorizationState(
        HashBasedSubjectIdentifierFactory(SALT), clock=clock, **LIFETIMES
    )


def pyop_node(clock=time.time) -> AuthorizationState:
    """pyop's own state over the same storage, refresh rotation on: where the traps were."""
    return AuthorizationState(
        HashBasedSubjectIdentifierFactory(SALT),
        DatabaseStorage("authorization_codes", ttl=600, clock=clock),
        DatabaseStorage("access_tokens", ttl=3600, clock=clock),
        DatabaseStorage("refresh_tokens", ttl=86400, clock=clock),
        DatabaseStorage("subject_identifiers", clock=clock),
        refresh_token_threshold=86400 + 1,
        **LIFETIMES,
    )


def against_pyop(*raises):
    """Run the test with ``node`` = ours, and = pyop's own, which must fail it with one of
    ``raises`` (default: an assertion)."""
    fails = pytest.mark.xfail(
        strict=True, raises=raises or AssertionError, reason="the trap, in pyop's own state"
    )
    return pytest.mark.parametrize(
        "node",
        [pytest.param(our_node, id="ours"), pytest.param(pyop_node, id="pyop", marks=fails)],
    )


def authorization_request(client_id: str = CLIENT) -> AuthorizationRequest:
    return AuthorizationRequest(
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT_URI,
        scope="openid profile",
        state="st",
        nonce="nonce-1",
    )


def new_code(node, user: str = "user-1", client_id: str = CLIENT) -> str:
    sub = node().get_subject_identifier("pairwise", user, "rp.example")
    return node().create_authorization_code(authorization_request(client_id), sub)


def redeemed(node, user: str = "user-1") -> tuple[str, str, str]:
    """A code redeemed as pyop's Provider does it: the code, its access and refresh tokens."""
    code = new_code(node, user)
    state = node()
    access_token = state.exchange_code_for_token(code)
    return code, access_token.value, state.create_refresh_token(access_token.value)


def works(call) -> bool:
    """Whether ``call`` succeeds; pyop's protocol errors say no, anything else is raised."""
    try:
        call()
    except OAuthError:
        return False
    return True


def access_works(state, access_token: str) -> bool:
    """What pyop's Provider asks before answering a userinfo request."""
    try:
        return state.introspect_access_token(access_token)["active"]
    except InvalidAccessToken:
        return False


def both_read_first(monkeypatch, collection: str, readers: int = 2) -> None:
    """The first ``readers`` reads of ``collection`` wait for each other: every racer has read
    the record before any of them writes."""
    barrier, calls = threading.Barrier(readers), itertools.count()
    read = DatabaseStorage.__getitem__

    def getitem(self, key):
        try:
            return read(self, key)
        finally:
            if self.collection == collection and next(calls) < readers:
                barrier.wait(timeout=10)

    monkeypatch.setattr(DatabaseStorage, "__getitem__", getitem)


def forbid_listing(monkeypatch) -> None:
    def items(self):
        raise AssertionError(f"the whole {self.collection} collection was read")

    monkeypatch.setattr(DatabaseStorage, "items", items)


# 1. Authorization codes: single use; a reuse revokes what the code gave (RFC 6749 4.1.2)


@against_pyop()
def test_a_reused_code_is_refused_and_revokes_the_tokens_issued_from_it(database, node):
    code, access_token, refresh_token = redeemed(node)
    with pytest.raises(InvalidAuthorizationCode, match="already been used"):
        node().exchange_code_for_token(code)
    assert not access_works(node(), access_token)
    assert not works(lambda: node().use_refresh_token(refresh_token))


def test_a_reused_code_revokes_the_tokens_of_later_refreshes_too(database):
    code, access_token, refresh_token = redeemed(our_node)
    new_access, new_refresh = our_node().use_refresh_token(refresh_token)
    # pyop's Provider first reads the code's request: the replay is caught there.
    with pytest.raises(InvalidAuthorizationCode, match="already been used"):
        our_node().get_authorization_request_for_code(code)
    state = our_node()
    assert not state.is_access_token_active(access_token)
    assert not state.is_access_token_active(new_access.value)
    assert not state.is_refresh_token_active(new_refresh)
    with pytest.raises(InvalidRefreshToken):
        our_node().use_refresh_token(new_refresh)


@against_pyop()
def test_of_racing_redemptions_of_a_code_one_gets_tokens_and_the_replays_revoke_them(
    database, node
):
    code = new_code(node)
    barrier = threading.Barrier(8)

    def redeem():
        barrier.wait(timeout=10)
        state = node()
        access_token = state.exchange_code_for_token(code)
        return access_token.value, state.create_refresh_token(access_token.value)

    results, errors = run_together(*[redeem] * 8)
    won = [result for result in results if result is not None]
    assert len(won) == 1
    assert {type(error) for error in errors if error is not None} == {InvalidAuthorizationCode}
    access_token, refresh_token = won[0]
    assert not access_works(node(), access_token)
    assert not works(lambda: node().use_refresh_token(refresh_token))


@against_pyop()
def test_two_redemptions_that_both_read_the_code_unused_give_tokens_once(
    database, node, monkeypatch
):
    """Both nodes read the code before either marks it (forced): pyop's write-back then fails
    with StaleRecordError (a 500); here the loser gets invalid_grant."""
    code = new_code(node)
    both_read_first(monkeypatch, "authorization_codes")
    results, errors = run_together(*[lambda: node().exchange_code_for_token(code)] * 2)
    assert len([result for result in results if result is not None]) == 1
    assert [type(error) for error in errors if error is not None] == [InvalidAuthorizationCode]
    winner = next(result for result in results if result is not None)
    assert not access_works(node(), winner.value)  # the code was presented twice


def test_tokens_are_not_left_behind_when_the_grant_is_revoked_while_they_are_issued(
    database, monkeypatch
):
    """Another node revokes the family between this node reading it and listing the new
    tokens in it: the listing is refused, the tokens are not stored, the redemption refused."""
    code = new_code(our_node)
    family_id = our_node().authorization_codes[code]["family"]
    live = TokenFamilies.live

    def revoked_meanwhile(self, *args, **kwargs):
        record = live(self, *args, **kwargs)
        our_node().revoke_family(family_id)  # another node: another instance
        return record

    monkeypatch.setattr(TokenFamilies, "live", revoked_meanwhile)
    with pytest.raises(InvalidAuthorizationCode, match="revoked"):
        our_node().exchange_code_for_token(code)
    for collection in ("access_tokens", "refresh_tokens", "authorization_codes"):
        assert not ProviderState.select().where(ProviderState.collection == collection).exists()


@pytest.mark.parametrize("grant", ["code", "refresh"])
def test_a_failure_in_the_middle_of_a_grant_leaves_nothing_written(database, monkeypatch, grant):
    """The tokens are stored and listed in the family, then marking the code (or refresh
    token) used fails: nothing of the grant stays, and the code (or token) still works. (The
    general path: SQLite's, and PostgreSQL's after a lost swap; PostgreSQL's one statement,
    ``storage.swap_then_store``, has no middle.)"""
    if grant == "code":
        presented = new_code(our_node)
        collection = CODES
    else:
        _code, _access, presented = redeemed(our_node)
        collection = REFRESH_TOKENS
    family_id = DatabaseStorage(collection)[presented]["family"]
    before = dict(DatabaseStorage(FAMILIES)[family_id])
    rows_before = ProviderState.select().count()

    def broken(self, key, record):
        raise RuntimeError("the connection dropped")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(DatabaseStorage, "consume", broken)
        patched.setattr(
            ProviderAuthorizationState, "_issued_in_one_statement", lambda *_args: False
        )
        if grant == "code":
            our_node().exchange_code_for_token(presented)
        else:
            our_node().use_refresh_token(presented)
    assert ProviderState.select().count() == rows_before
    assert dict(DatabaseStorage(FAMILIES)[family_id]) == before
    assert DatabaseStorage(collection)[presented]["used"] is False
    if grant == "code":
        assert access_works(our_node(), our_node().exchange_code_for_token(presented).value)
    else:
        access_token, _refresh = our_node().use_refresh_token(presented)
        assert access_works(our_node(), access_token.value)


def test_the_refresh_token_of_a_redemption_may_be_asked_for_on_another_node(database):
    code = new_code(our_node)
    access_token = our_node().exchange_code_for_token(code)
    refresh_token = our_node().create_refresh_token(access_token.value)
    assert our_node().is_refresh_token_active(refresh_token)
    assert our_node().refresh_tokens[refresh_token]["access_token"] == access_token.value
    our_node().revoke_family(our_node().access_tokens[access_token.value]["family"])
    assert not our_node().is_refresh_token_active(refresh_token)


def test_without_a_refresh_token_lifetime_no_refresh_token_is_issued(database):
    def node():
        return ProviderAuthorizationState(HashBasedSubjectIdentifierFactory(SALT))

    code = new_code(node)
    state = node()
    access_token = state.exchange_code_for_token(code)
    assert state.create_refresh_token(access_token.value) is None
    assert node().create_refresh_token(access_token.value) is None
    assert not ProviderState.select().where(ProviderState.collection == "refresh_tokens").exists()


def test_an_access_token_from_the_authorization_endpoint_is_revocable_too(database):
    sub = our_node().get_subject_identifier("pairwise", "user-1", "rp.example")
    access_token = our_node().create_access_token(authorization_request(), sub, ["openid"])
    assert our_node().introspect_access_token(access_token.value)["scope"] == "openid"
    our_node().delete_state_for_subject_identifier(sub)
    assert not our_node().is_access_token_active(access_token.value)
    with pytest.raises(InvalidSubjectIdentifier):
        our_node().create_access_token(authorization_request(), "unknown")
    with pytest.raises(InvalidSubjectIdentifier):
        our_node().create_authorization_code(authorization_request(), "unknown")


# 2. Refresh tokens: rotated at each use; a replay revokes the family (RFC 9700 4.14.2)


@against_pyop()
def test_each_refresh_rotates_and_the_old_token_then_revokes_every_token_of_the_grant(
    database, node
):
    _, access_1, refresh_1 = redeemed(node)
    access_2, refresh_2 = node().use_refresh_token(refresh_1)
    assert refresh_2 not in (None, refresh_1)
    access_3, refresh_3 = node().use_refresh_token(refresh_2)  # the client goes on
    assert access_works(node(), access_3.value)

    assert not works(lambda: node().use_refresh_token(refresh_1))  # replayed: refused...
    for access_token in (access_1, access_2.value, access_3.value):  # ...and all revoked
        assert not access_works(node(), access_token)
    assert not works(lambda: node().use_refresh_token(refresh_3))


def test_without_rotation_threshold_every_refresh_still_rotates(database):
    _, _, refresh_token = redeemed(our_node)
    seen = {refresh_token}
    for _ in range(3):
        _, refresh_token = our_node().use_refresh_token(refresh_token)
        assert refresh_token not in seen
        seen.add(refresh_token)
    family_id = our_node().refresh_tokens[refresh_token]["family"]
    family = our_node().families.records[family_id]
    assert list(family["refresh_tokens"]) == [refresh_token]  # rotated-away ones are not listed


@against_pyop()
def test_of_two_refreshes_that_both_read_the_token_unused_one_gets_tokens(
    database, node, monkeypatch
):
    _, _, refresh_token = redeemed(node)
    both_read_first(monkeypatch, "refresh_tokens")
    results, errors = run_together(*[lambda: node().use_refresh_token(refresh_token)] * 2)
    won = [result for result in results if result is not None]
    assert len(won) == 1
    assert [type(error) for error in errors if error is not None] == [InvalidRefreshToken]
    access_token, new_refresh_token = won[0]
    assert not access_works(node(), access_token.value)  # the token was presented twice
    assert not works(lambda: node().use_refresh_token(new_refresh_token))


def test_of_racing_refreshes_with_one_token_exactly_one_gets_tokens(database):
    _, _, refresh_token = redeemed(our_node)
    barrier = threading.Barrier(8)

    def refresh():
        barrier.wait(timeout=10)
        return our_node().use_refresh_token(refresh_token)

    results, errors = run_together(*[refresh] * 8)
    assert len([result for result in results if result is not None]) == 1
    assert {type(error) for error in errors if error is not None} == {InvalidRefreshToken}


def test_a_refresh_may_narrow_the_scope_but_never_widen_it(database):
    _, _, refresh_token = redeemed(our_node)
    narrower, refresh_token = our_node().use_refresh_token(refresh_token, scope=["openid"])
    assert our_node().introspect_access_token(narrower.value)["scope"] == "openid"
    with pytest.raises(InvalidScope):
        our_node().use_refresh_token(refresh_token, scope=["openid", "nrn"])
    after_refusal, _ = our_node().use_refresh_token(refresh_token)  # the refusal spent nothing
    assert our_node().introspect_access_token(after_refusal.value)["scope"] == "openid profile"


# 3. No scans: subjects found through an index, logout through the families of a subject


@against_pyop()
def test_finding_the_user_of_a_subject_reads_no_whole_collection(database, node, monkeypatch):
    subs = [node().get_subject_identifier("pairwise", f"user-{n}", "rp.example") for n in range(3)]
    forbid_listing(monkeypatch)
    state = node()
    assert state.get_user_id_for_subject_identifier(subs[2]) == "user-2"
    code = state.create_authorization_code(authorization_request(), subs[2])
    # what pyop's Provider asks on a code exchange, then on a userinfo request
    assert node().get_subject_identifier_for_code(code) == subs[2]
    assert node().get_user_id_for_subject_identifier(subs[2]) == "user-2"
    access_token = node().exchange_code_for_token(code)
    introspection = node().introspect_access_token(access_token.value)
    assert node().get_user_id_for_subject_identifier(introspection["sub"]) == "user-2"
    with pytest.raises(InvalidSubjectIdentifier):
        node().get_user_id_for_subject_identifier("unknown")


@against_pyop()
def test_logout_reads_no_whole_collection(database, node, monkeypatch):
    redeemed(node)
    sub = node().get_subject_identifier("pairwise", "user-1", "rp.example")
    forbid_listing(monkeypatch)
    node().delete_state_for_subject_identifier(sub)


@against_pyop(AssertionError, KeyError)
def test_logout_revokes_the_subjects_codes_access_and_refresh_tokens(database, node):
    _, access_token, refresh_token = redeemed(node)
    _, other_access, other_refresh = redeemed(node, "user-2")
    pending_code = new_code(node)
    sub = node().get_subject_identifier("pairwise", "user-1", "rp.example")

    node().delete_state_for_subject_identifier(sub)

    assert not access_works(node(), access_token)
    assert not works(lambda: node().exchange_code_for_token(pending_code))
    assert not works(lambda: node().use_refresh_token(refresh_token))
    assert access_works(node(), other_access)  # another person's session is left alone
    assert works(lambda: node().use_refresh_token(other_refresh))
    with pytest.raises(InvalidSubjectIdentifier):
        node().delete_state_for_subject_identifier("unknown")


def test_logout_forgets_the_families_it_revoked_and_later_logins_are_new(database):
    redeemed(our_node)
    sub = our_node().get_subject_identifier("pairwise", "user-1", "rp.example")
    our_node().delete_state_for_subject_identifier(sub)
    assert our_node().families.of(sub) == []
    _, access_token, refresh_token = redeemed(our_node)
    assert our_node().is_access_token_active(access_token)
    assert our_node().is_refresh_token_active(refresh_token)


# 4. Subject identifiers: public and pairwise coexist; concurrent writers lose nothing


@against_pyop(AssertionError, InvalidSubjectIdentifier)
def test_public_and_pairwise_subjects_of_a_user_coexist(database, node):
    pairwise = node().get_subject_identifier("pairwise", "user-1", "rp-a.example")
    public = node().get_subject_identifier("public", "user-1")
    other = node().get_subject_identifier("pairwise", "user-1", "rp-b.example")
    assert node().get_subject_identifier("public", "user-1") == public
    state = node()
    for sub in (pairwise, public, other):
        assert state.get_user_id_for_subject_identifier(sub) == "user-1"
    assert node().subject_identifiers["user-1"] == {"public": public, "pairwise": [pairwise, other]}


@pytest.mark.parametrize("known_user", [True, False], ids=["known-user", "new-user"])
@against_pyop()
def test_concurrent_writers_of_a_users_subjects_lose_nothing(
    database, node, monkeypatch, known_user
):
    if known_user:
        public = node().get_subject_identifier("public", "user-1")
    both_read_first(monkeypatch, "subject_identifiers")
    results, errors = run_together(
        lambda: node().get_subject_identifier("pairwise", "user-1", "rp-a.example"),
        lambda: node().get_subject_identifier("pairwise", "user-1", "rp-b.example"),
    )
    assert errors == [None, None]
    record = node().subject_identifiers["user-1"]
    assert sorted(record["pairwise"]) == sorted(results)
    if known_user:
        assert record["public"] == public
    for sub in results:
        assert node().get_user_id_for_subject_identifier(sub) == "user-1"


def test_a_first_public_subject_is_kept_when_two_nodes_draw_different_ones(database, monkeypatch):
    class RandomSubjects:
        def create_public_identifier(self, user_id):
            return f"random-{next(draws)}"

    draws = itertools.count()
    both_read_first(monkeypatch, "subject_identifiers")

    def ask():
        state = ProviderAuthorizationState(RandomSubjects(), **LIFETIMES)
        return state.get_subject_identifier("public", "user-1")

    results, errors = run_together(ask, ask)
    assert errors == [None, None]
    assert results[0] == results[1]
    assert our_node().subject_identifiers["user-1"] == {"public": results[0]}


def test_a_sub_named_by_the_userinfo_joins_the_users_subjects(database):
    """pyop's Provider writes ``subject_identifiers[user] = {'public': sub}`` itself."""
    pairwise = our_node().get_subject_identifier("pairwise", "user-1", "rp.example")
    our_node().subject_identifiers["user-1"] = {"public": "chosen-sub"}
    assert our_node().subject_identifiers["user-1"] == {
        "public": "chosen-sub",
        "pairwise": [pairwise],
    }
    state = our_node()
    assert state.get_user_id_for_subject_identifier("chosen-sub") == "user-1"
    assert state.get_user_id_for_subject_identifier(pairwise) == "user-1"


# 5. A refresh needs only its grant, not the access token it came with


@against_pyop(KeyError)
def test_a_refresh_token_outlives_the_access_token_it_came_with(database, node):
    clock = Clock()

    def at_clock():
        return node(clock=clock)

    _, access_token, refresh_token = redeemed(at_clock)
    clock.now += 3600 + 60  # the access token's row has expired
    assert not access_works(at_clock(), access_token)
    new_access, _ = at_clock().use_refresh_token(refresh_token)
    assert access_works(at_clock(), new_access.value)


# 6. Missing or expired records: pyop's protocol errors, never KeyError


@against_pyop(KeyError)
def test_a_record_expiring_between_check_and_read_is_no_key_error(database, node, monkeypatch):
    _, access_token, refresh_token = redeemed(node)
    fresh_code = new_code(node)
    contains = DatabaseStorage.__contains__

    def expires_right_after(self, key):
        found = contains(self, key)
        if found and self.collection != "subject_identifiers":
            self.pop(key, None)
        return found

    monkeypatch.setattr(DatabaseStorage, "__contains__", expires_right_after)
    for call in (
        lambda: node().get_authorization_request_for_code(fresh_code),
        lambda: node().exchange_code_for_token(fresh_code),
        lambda: node().introspect_access_token(access_token),
        lambda: node().get_authorization_request_for_access_token(access_token),
        lambda: node().use_refresh_token(refresh_token),
    ):
        works(call)  # succeeds, or refuses with pyop's error: KeyError would escape


def test_unknown_records_are_pyop_errors(database):
    state = our_node()
    for call, error in (
        (state.get_authorization_request_for_code, InvalidAuthorizationCode),
        (state.get_subject_identifier_for_code, InvalidAuthorizationCode),
        (state.exchange_code_for_token, InvalidAuthorizationCode),
        (state.get_user_info_for_code, InvalidAuthorizationCode),
        (state.get_extra_id_token_claims_for_code, InvalidAuthorizationCode),
        (state.introspect_access_token, InvalidAccessToken),
        (state.get_authorization_request_for_access_token, InvalidAccessToken),
        (state.get_user_info_for_access_token, InvalidAccessToken),
        (state.create_refresh_token, InvalidAccessToken),
        (state.use_refresh_token, InvalidRefreshToken),
    ):
        with pytest.raises(error):
            call("unknown")


def test_expired_codes_and_tokens_are_pyop_errors(database):
    clock = Clock()

    def node():
        return our_node(clock)

    code = new_code(node)
    _, access_token, refresh_token = redeemed(node)
    clock.now += 601
    with pytest.raises(InvalidAuthorizationCode, match="expired"):
        node().exchange_code_for_token(code)
    clock.now += 3600
    with pytest.raises(InvalidAccessToken):
        node().introspect_access_token(access_token)
    assert not node().is_access_token_active(access_token)
    clock.now += 86400
    with pytest.raises(InvalidRefreshToken):
        node().use_refresh_token(refresh_token)


def test_a_refresh_token_whose_family_is_gone_is_refused(database):
    _, _, refresh_token = redeemed(our_node)
    family_id = our_node().refresh_tokens[refresh_token]["family"]
    del our_node().families.records[family_id]
    with pytest.raises(InvalidRefreshToken, match="revoked"):
        our_node().use_refresh_token(refresh_token)
    assert not our_node().is_refresh_token_active(refresh_token)


# Revocation (RFC 7009) and introspection (RFC 7662) helpers


def test_revoking_an_access_token_leaves_the_rest_of_its_grant(database):
    _, access_token, refresh_token = redeemed(our_node)
    assert our_node().revoke_access_token(access_token) is True
    assert our_node().revoke_access_token(access_token) is False
    assert not our_node().is_access_token_active(access_token)
    assert our_node().is_refresh_token_active(refresh_token)


def test_revoking_a_refresh_token_revokes_its_grant(database):
    _, access_token, refresh_token = redeemed(our_node)
    new_access, new_refresh = our_node().use_refresh_token(refresh_token)
    assert our_node().revoke_refresh_token(new_refresh) is True
    state = our_node()
    for value in (access_token, new_access.value):
        assert not state.is_access_token_active(value)
    assert not state.is_refresh_token_active(new_refresh)
    assert our_node().revoke_refresh_token(new_refresh) is False
    assert our_node().revoke_refresh_token("unknown") is False


def test_revoking_a_family_by_id(database):
    _, access_token, refresh_token = redeemed(our_node)
    family_id = our_node().access_tokens[access_token]["family"]
    assert our_node().revoke_family(family_id) is True
    assert our_node().revoke_family(family_id) is True  # still known, already revoked
    assert our_node().revoke_family("unknown") is False
    assert not our_node().is_access_token_active(access_token)
    assert not our_node().is_refresh_token_active(refresh_token)


def test_active_records_say_whose_token_it_is(database):
    _, access_token, refresh_token = redeemed(our_node)
    sub = our_node().get_subject_identifier("pairwise", "user-1", "rp.example")
    access = our_node().active_access_token(access_token)
    assert (access["client_id"], access["sub"], access["scope"]) == (CLIENT, sub, "openid profile")
    refresh = our_node().active_refresh_token(refresh_token)
    assert (refresh["client_id"], refresh["sub"], refresh["scope"]) == (
        CLIENT,
        sub,
        "openid profile",
    )
    assert "access_token" not in refresh
    our_node().use_refresh_token(refresh_token)
    assert our_node().active_refresh_token(refresh_token) is None  # used
    assert our_node().active_access_token("unknown") is None


# pyop's Provider, each request on another node


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture(scope="module")
def signing_key():
    return RSAKey(key=RSA.generate(2048), kid="k1", use="sig", alg="RS256")


def provider(signing_key, users=None) -> Provider:
    return Provider(
        signing_key,
        {
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "token_endpoint": "https://op.example/token",
            "userinfo_endpoint": "https://op.example/userinfo",
            "jwks_uri": "https://op.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile"],
        },
        our_node(),
        {
            CLIENT: {
                "client_id": CLIENT,
                "client_secret": SECRET,
                "redirect_uris": [REDIRECT_URI],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            }
        },
        Userinfo(users or {"user-1": {"given_name": "Émilie"}}),
    )


def login(signing_key, users=None) -> str:
    request = provider(signing_key, users).parse_authentication_request(
        urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid profile",
                "state": "st",
                "nonce": "n",
            }
        )
    )
    return provider(signing_key, users).authorize(request, "user-1")["code"]


def test_pyop_provider_runs_the_whole_flow_across_nodes(database, signing_key):
    code = login(signing_key)
    redeem = urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    )
    tokens = provider(signing_key).handle_token_request(redeem, basic(CLIENT, SECRET))
    refresh = urlencode({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    refreshed = provider(signing_key).handle_token_request(refresh, basic(CLIENT, SECRET))
    assert refreshed["refresh_token"] != tokens["refresh_token"]

    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    userinfo = provider(signing_key).handle_userinfo_request(None, bearer)
    assert userinfo["given_name"] == "Émilie"
    sub = userinfo["sub"]
    assert our_node().get_user_id_for_subject_identifier(sub) == "user-1"

    # The code replayed: refused, and the grant's tokens revoked.
    with pytest.raises(InvalidAuthorizationCode):
        provider(signing_key).handle_token_request(redeem, basic(CLIENT, SECRET))
    with pytest.raises(InvalidAccessToken):
        provider(signing_key).handle_userinfo_request(None, bearer)

    # A new login, then logout: its refresh token is revoked too.
    code = login(signing_key)
    redeem = urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    )
    tokens = provider(signing_key).handle_token_request(redeem, basic(CLIENT, SECRET))
    provider(signing_key).logout_user(subject_identifier=sub)
    refresh = urlencode({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    with pytest.raises(InvalidRefreshToken):
        provider(signing_key).handle_token_request(refresh, basic(CLIENT, SECRET))


def test_pyop_provider_with_a_sub_named_by_the_userinfo(database, signing_key):
    users = {"user-1": {"sub": "chosen-sub", "given_name": "Émilie"}}
    pairwise = our_node().get_subject_identifier("pairwise", "user-1", "rp.example")
    code = login(signing_key, users)
    assert our_node().get_subject_identifier_for_code(code) == "chosen-sub"
    assert our_node().get_user_id_for_subject_identifier(pairwise) == "user-1"
