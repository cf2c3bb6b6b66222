"""API keys, derived ids and take-test tokens."""

from gateway import auth, crypto, registration
from gateway.auth import Caller
from gateway.contracts import Role


def test_a_new_key_is_shown_once_and_only_its_hash_is_kept():
    # When a key is made
    key_id, api_key, secret_hash = auth.new_key()
    # Then the presented key splits back into its id and a secret whose SHA-256 is what is stored
    presented_id, secret = auth.split_key(api_key)
    assert presented_id == key_id
    assert secret not in secret_hash and crypto.sha256_hex(secret) == secret_hash
    assert len(secret) >= 40  # 256 random bits


def test_an_operator_chosen_key_gets_a_stable_derived_id():
    assert auth.split_key("demo-key") == auth.split_key("demo-key")
    assert auth.split_key("demo-key")[0] != auth.split_key("demo-key2")[0]
    assert auth.split_key("demo-key")[1] == "demo-key"


def test_scope_is_own_unit_and_below_never_siblings_or_parents():
    caller = Caller("key_1", Role.ADMIN, "b", "/root/b/", "root")
    assert caller.can_see("/root/b/")
    assert caller.can_see("/root/b/c/")
    assert not caller.can_see("/root/")
    assert not caller.can_see("/root/bb/")  # a sibling whose id starts like ours
    assert not caller.can_see("/root/a/")


def test_invitation_ids_are_stable_case_insensitive_and_json_safe(master_key):
    first = registration.invitation_id("ou_1", 42, "Amit@Example.com")
    assert first == registration.invitation_id("ou_1", 42, "amit@example.com")
    assert first != registration.invitation_id("ou_2", 42, "amit@example.com")
    assert first != registration.invitation_id("ou_1", 43, "amit@example.com")
    assert first != registration.invitation_id("ou_1", 42, "amit@example.com", salt=1)
    assert 1 <= first <= 2**53 - 1


def test_take_test_tokens_round_trip_and_forgeries_are_refused(master_key):
    token = registration.take_test_token(2256212)
    assert registration.invitation_of_token(token) == 2256212
    # A token for another id built without the key is not ours
    forged = crypto.b64url((2256213).to_bytes(8, "big") + b"\x00" * 16)
    assert registration.invitation_of_token(forged) is None
    assert registration.invitation_of_token("not a token") is None
    assert registration.take_test_url(2256212).endswith("/take/" + token)
