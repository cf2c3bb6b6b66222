"""Signed requests: x-api-key <key id>, x-timestamp, x-signature v1=<hex HMAC-SHA256(secret, "ts.body")>."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from gateway import signing

BODY = json.dumps({"product-code": "GTX-Academic-Plus"})


def _signed_headers(key_id, secret, body=BODY, timestamp=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"x-timestamp": ts, "x-signature": f"v1={mac}"}


@pytest.fixture
def key(stack):
    stack.api.post(
        "/v1/test-ids",
        {
            "test-ids": [
                {"test-id": f"S{i:04d}", "password": "p", "test-type": "Academic-Plus"} for i in range(5)
            ]
        },
    )
    created = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()
    assert created["signing-secret"].startswith(signing.PREFIX)
    return created


def test_a_correctly_signed_request_is_accepted(stack, key):
    headers = _signed_headers(key["key-id"], key["signing-secret"])
    reply = stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers)
    assert reply.status == 201, reply.text


@pytest.mark.parametrize(
    ("mutate", "description"),
    [
        (lambda h: {**h, "x-signature": "v1=" + "0" * 64}, "x-signature: does not match the request"),
        (lambda h: {**h, "x-signature": "garbage"}, "x-signature: does not match the request"),
        (
            lambda h: {k: v for k, v in h.items() if k != "x-timestamp"},
            "x-timestamp: required with x-signature, as unix seconds",
        ),
        (
            lambda h: {**h, "x-timestamp": "yesterday"},
            "x-timestamp: required with x-signature, as unix seconds",
        ),
    ],
)
def test_bad_signatures_are_401_with_a_clear_reason(stack, key, mutate, description):
    headers = mutate(_signed_headers(key["key-id"], key["signing-secret"]))
    reply = stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers)
    assert (reply.status, reply.description) == (401, description)


def test_a_signature_over_another_body_is_refused(stack, key):
    headers = _signed_headers(
        key["key-id"], key["signing-secret"], body=json.dumps({"product-code": "GTX-Other"})
    )
    assert stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers).status == 401


# 302, not 301: the header carries whole seconds and the server compares with its fractional clock, so a
# +301 stamp made late in a second is within 300 s a moment later (a flake seen on a loaded machine).
@pytest.mark.parametrize("offset", [-302, 302, -3600])
def test_a_stale_or_future_timestamp_is_refused(stack, key, offset):
    headers = _signed_headers(key["key-id"], key["signing-secret"], timestamp=int(time.time()) + offset)
    reply = stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers)
    assert (reply.status, reply.description) == (
        401,
        "x-timestamp: more than 300 seconds from the server's clock",
    )


def test_a_replayed_signature_is_refused_and_assigns_nothing_more(stack, key):
    headers = _signed_headers(key["key-id"], key["signing-secret"])
    assert stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers).status == 201
    replay = stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers)
    assert (replay.status, replay.description) == (401, "x-signature: already used (replayed request)")
    assert stack.api.get("/v1/inventory").json()["available"] == 4


@pytest.mark.parametrize("wrapping", ["{sig},", "{sig},x", " {sig} ", "v1=0000,{sig}"])
def test_the_same_signature_wrapped_in_other_text_is_still_a_replay(stack, key, wrapping):
    # Given a signed fulfilment that was accepted
    headers = _signed_headers(key["key-id"], key["signing-secret"])
    assert stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers).status == 201
    # When the same signature is sent again inside other text that still verifies
    rewrapped = {**headers, "x-signature": wrapping.format(sig=headers["x-signature"])}
    replay = stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=rewrapped)
    # Then it is a replay: refused, and nothing more is assigned
    assert (replay.status, replay.description) == (401, "x-signature: already used (replayed request)")
    assert stack.api.get("/v1/inventory").json()["available"] == 4


def test_another_keys_secret_does_not_sign_for_this_key(stack, key):
    other = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()
    headers = _signed_headers(key["key-id"], other["signing-secret"])
    assert stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers).status == 401


def test_a_signed_only_key_refuses_plain_use_and_accepts_signed(stack):
    created = stack.api.post(
        "/v1/api-keys", {"org-unit": stack.root, "role": "integration", "signed-only": True}
    ).json()
    assert created["signed-only"] is True
    plain = stack.api.as_key(created["api-key"]).get("/v1/inventory")
    assert (plain.status, plain.description) == (
        401,
        "x-api-key: this key accepts signed requests only (x-timestamp, x-signature)",
    )
    signed = stack.api.get(
        "/v1/inventory",
        key=created["key-id"],
        headers=_signed_headers(created["key-id"], created["signing-secret"], body=""),
    )
    assert signed.status == 200, signed.text


def test_a_revoked_key_cannot_sign(stack, key):
    stack.api.delete(f"/v1/api-keys/{key['key-id']}")
    headers = _signed_headers(key["key-id"], key["signing-secret"])
    assert stack.api.post("/v1/fulfillments", BODY, key=key["key-id"], headers=headers).status == 401


def test_the_signing_secret_is_not_stored(stack, key):
    assert key["signing-secret"] not in repr(stack.items("DirectoryTable"))
    assert key["signing-secret"].removeprefix(signing.PREFIX) not in repr(stack.snapshot())
