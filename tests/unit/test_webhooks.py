"""Standard Webhooks signing of the callbacks we send, and its verification."""

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from gateway import webhooks
from gateway.webhooks import WebhookVerificationError

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
MSG_ID = "msg_2Lk8example"
NOW = 1_700_000_000
BODY = json.dumps({"TestID": "RM1234", "Status": "Completed"}).encode()


def _by_hand(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The signature computed straight from the specification, independently of the module."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_a_new_secret_is_whsec_and_the_base64_of_the_key():
    assert webhooks.new_secret(KEY) == SECRET
    assert base64.b64decode(webhooks.new_secret(b"\xff" * 24).removeprefix("whsec_")) == b"\xff" * 24


def test_the_signature_matches_one_computed_by_hand():
    # Given a key, a message id, a timestamp and a body
    # When the module signs them
    signature = webhooks.sign(SECRET, MSG_ID, NOW, BODY)
    # Then it is exactly the HMAC-SHA256 of "<id>.<timestamp>.<body>", base64, after "v1,"
    assert signature == _by_hand(KEY, MSG_ID, NOW, BODY)


def test_the_standard_webhooks_published_test_vector():
    # The specification's reference libraries all reproduce this vector.
    assert (
        webhooks.sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_headers_carry_id_timestamp_and_signature():
    assert webhooks.headers(SECRET, MSG_ID, NOW, BODY) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": _by_hand(KEY, MSG_ID, NOW, BODY),
    }


@pytest.mark.parametrize(
    "body",
    [
        b"",
        BODY,
        b"data=" + urlencode({"x": json.dumps({"TestID": "RM1", "Name": "Zoë"})}).encode(),
        "Zoë ünïcödé".encode(),
        bytes(range(256)),
    ],
    ids=["empty", "json", "form", "utf8", "binary"],
)
@pytest.mark.parametrize("key", [b"\x00" * 24, KEY, bytes(range(64))], ids=["24-zero", "32", "64"])
def test_what_is_signed_verifies(body, key):
    # Given a delivery signed with a secret
    secret = webhooks.new_secret(key)
    sent = webhooks.headers(secret, MSG_ID, NOW, body)
    # When the receiver verifies it with the same secret, at the same time, then it is accepted
    assert webhooks.verify(secret, sent, body, now=NOW) is None
    assert sent["webhook-signature"] == _by_hand(key, MSG_ID, NOW, body)


def test_header_names_are_case_insensitive():
    sent = {name.title(): value for name, value in webhooks.headers(SECRET, MSG_ID, NOW, BODY).items()}
    webhooks.verify(SECRET, sent, BODY, now=NOW)


def test_a_tampered_body_is_refused():
    # Given a genuine delivery
    sent = webhooks.headers(SECRET, MSG_ID, NOW, BODY)
    # When one byte of the body changes, then it no longer verifies
    tampered = BODY.replace(b"Completed", b"Completes")
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.verify(SECRET, sent, tampered, now=NOW)


def test_a_wrong_id_or_timestamp_is_refused():
    sent = webhooks.headers(SECRET, MSG_ID, NOW, BODY)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.verify(SECRET, {**sent, "webhook-id": "msg_other"}, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.verify(SECRET, {**sent, "webhook-timestamp": str(NOW + 1)}, BODY, now=NOW)


def test_another_secret_is_refused():
    sent = webhooks.headers(webhooks.new_secret(b"k" * 32), MSG_ID, NOW, BODY)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.verify(SECRET, sent, BODY, now=NOW)


@pytest.mark.parametrize(
    ("age", "message"),
    [
        (301, "too old"),
        (10_000, "too old"),
        (-301, "too far in the future"),
        (-10_000, "too far in the future"),
    ],
)
def test_a_stale_or_future_timestamp_is_refused_even_when_signed(age, message):
    # Given a correctly signed delivery stamped `age` seconds before the receiver's clock
    sent = webhooks.headers(SECRET, MSG_ID, NOW - age, BODY)
    # Then it is refused as stale (or from the future), not for its signature
    with pytest.raises(WebhookVerificationError, match=message):
        webhooks.verify(SECRET, sent, BODY, now=NOW)


@pytest.mark.parametrize("age", [300, -300, 0, 299.5])
def test_the_tolerance_is_inclusive(age):
    sent = webhooks.headers(SECRET, MSG_ID, NOW, BODY)
    webhooks.verify(SECRET, sent, BODY, now=NOW + age)


def test_a_custom_tolerance_applies():
    sent = webhooks.headers(SECRET, MSG_ID, NOW, BODY)
    webhooks.verify(SECRET, sent, BODY, tolerance=3600, now=NOW + 3000)
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhooks.verify(SECRET, sent, BODY, tolerance=10, now=NOW + 11)


def test_any_one_of_several_space_separated_signatures_may_match():
    # Given a delivery signed with an old and a new secret (rotation), plus a signature of another scheme
    old = webhooks.new_secret(b"o" * 32)
    genuine = webhooks.sign(SECRET, MSG_ID, NOW, BODY)
    other = webhooks.sign(old, MSG_ID, NOW, BODY)
    asymmetric = "v1a," + genuine.removeprefix("v1,")
    for header in (f"{other} {genuine}", f"{genuine} {other}", f"{asymmetric}  {other}   {genuine}"):
        sent = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": header}
        # Then each secret finds its own signature among them
        webhooks.verify(SECRET, sent, BODY, now=NOW)
        webhooks.verify(old, sent, BODY, now=NOW)
    # And a "v1a," entry carrying the right bytes is not taken for a v1 signature
    only_other_scheme = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": asymmetric}
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhooks.verify(SECRET, only_other_scheme, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing):
    sent = webhooks.headers(SECRET, MSG_ID, NOW, BODY)
    del sent[missing]
    with pytest.raises(WebhookVerificationError, match=f"missing header {missing}"):
        webhooks.verify(SECRET, sent, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match=f"missing header {missing}"):
        webhooks.verify(SECRET, {**sent, missing: "  "}, BODY, now=NOW)


@pytest.mark.parametrize("stamp", ["soon", "1.7e9", "-5", "١٧٠٠٠٠٠٠٠٠"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(stamp):
    sent = {**webhooks.headers(SECRET, MSG_ID, NOW, BODY), "webhook-timestamp": stamp}
    with pytest.raises(WebhookVerificationError, match="not unix seconds"):
        webhooks.verify(SECRET, sent, BODY, now=NOW)


def test_the_verification_error_is_a_value_error():
    assert issubclass(WebhookVerificationError, ValueError)


def test_a_secret_that_is_not_base64_is_refused_clearly():
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.sign("whsec_not base64!", MSG_ID, NOW, BODY)
