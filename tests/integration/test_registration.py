"""V2 registration through the real handler: the seed's contract, idempotent re-posts, bad input."""

from __future__ import annotations

import json
import sys
import time

import pytest

SEED_BODY = {
    "emailId": "amit.mishra@example.com",
    "fullName": "Amit Mishra",
    "callbackURL": "",
    "redirectURL": "",
}


def test_a_request_copied_from_the_seed_registers_the_candidate(stack):
    # Given the seed's curl body with a real e-mail
    # When it is posted for test 1001
    reply = stack.api.post(
        "/v2/tests/1001/register", SEED_BODY, headers={"content-type": "application/json;charset=utf-8"}
    )
    # Then the reply is the seed's envelope with an Int64 invitation id and a take-test URL
    assert reply.status == 200
    body = reply.json()
    assert body["statuscode"] == "200.1"
    assert body["description"] == "The request has succeeded."
    assert isinstance(body["result"]["testInvitationId"], int)
    assert body["result"]["takeTestURL"].startswith("https://engine.example.com/take/")
    # And the candidate and the invitation are stored in the caller's unit
    stored = stack.api.get(f"/v2/invitations/{body['result']['testInvitationId']}").json()["result"]
    assert stored["emailId"] == "amit.mishra@example.com" and stored["fullName"] == "Amit Mishra"
    assert stored["orgUnit"] == stack.root and stored["testId"] == 1001 and stored["status"] == "Registered"
    assert stored["callbackURL"] is None and stored["redirectURL"] is None
    entities = sorted(i["entity"]["S"] for i in stack.items("CandidatesTable"))
    assert entities == ["candidate", "invitation"]


def test_posting_again_updates_name_and_urls_and_keeps_the_invitation(stack):
    # Given a registered candidate
    first = stack.api.post("/v2/tests/7/register", SEED_BODY).json()["result"]
    # When the same candidate is posted again, e-mail in another case, with new name and URLs
    again = stack.api.post(
        "/v2/tests/7/register",
        {
            "emailId": "AMIT.Mishra@Example.com",
            "fullName": "Amit K. Mishra",
            "callbackURL": "https://lms.example.com/cb",
            "redirectURL": "https://lms.example.com/done",
        },
    ).json()["result"]
    # Then the invitation is the same one, updated
    assert again == first
    stored = stack.api.get(f"/v2/invitations/{first['testInvitationId']}").json()["result"]
    assert stored["fullName"] == "Amit K. Mishra"
    assert stored["callbackURL"] == "https://lms.example.com/cb"
    assert stored["redirectURL"] == "https://lms.example.com/done"
    assert len(stack.items("CandidatesTable")) == 2  # still one candidate, one invitation


def test_an_invitation_shows_when_it_was_created_and_last_updated(stack):
    from datetime import datetime

    # Given a registered candidate
    first = stack.api.post("/v2/tests/7/register", SEED_BODY).json()["result"]
    before = stack.api.get(f"/v2/invitations/{first['testInvitationId']}").json()["result"]
    # Then the invitation carries its creation and update times, ISO 8601 in UTC, equal at first
    created, updated = (
        datetime.fromisoformat(before[k].replace("Z", "+00:00")) for k in ("createdAt", "updatedAt")
    )
    assert created.utcoffset().total_seconds() == 0 and created == updated
    # When the same candidate is registered again a little later
    time.sleep(0.01)
    stack.api.post("/v2/tests/7/register", {**SEED_BODY, "fullName": "Amit K. Mishra"})
    after = stack.api.get(f"/v2/invitations/{first['testInvitationId']}").json()["result"]
    # Then updatedAt moves on and createdAt stays
    assert after["createdAt"] == before["createdAt"]
    assert datetime.fromisoformat(after["updatedAt"].replace("Z", "+00:00")) > updated


def test_each_test_and_each_candidate_gets_its_own_invitation_and_url(stack):
    a = stack.api.post("/v2/tests/7/register", SEED_BODY).json()["result"]
    b = stack.api.post("/v2/tests/8/register", SEED_BODY).json()["result"]
    c = stack.api.post("/v2/tests/7/register", {**SEED_BODY, "emailId": "other@example.com"}).json()["result"]
    assert len({a["testInvitationId"], b["testInvitationId"], c["testInvitationId"]}) == 3
    assert len({a["takeTestURL"], b["takeTestURL"], c["takeTestURL"]}) == 3


BAD_INPUT = [
    ("malformed JSON", "/v2/tests/1/register", '{"emailId": ', {}, 400, "body: is not valid JSON"),
    ("not an object", "/v2/tests/1/register", "[1]", {}, 400, "body: must be a JSON object"),
    ("no body", "/v2/tests/1/register", None, {}, 400, "body: is required"),
    (
        "wrong content type",
        "/v2/tests/1/register",
        json.dumps(SEED_BODY),
        {"content_type": "text/plain"},
        415,
        "content-type: must be application/json (got 'text/plain')",
    ),
    (
        "form content type",
        "/v2/tests/1/register",
        "emailId=a",
        {"content_type": "application/x-www-form-urlencoded"},
        415,
        "content-type: must be application/json (got 'application/x-www-form-urlencoded')",
    ),
    ("missing e-mail", "/v2/tests/1/register", {"fullName": "A"}, {}, 400, "emailId: is required"),
    (
        "empty e-mail (the seed's example)",
        "/v2/tests/1/register",
        {**SEED_BODY, "emailId": ""},
        {},
        400,
        "emailId: must not be empty",
    ),
    (
        "invalid e-mail",
        "/v2/tests/1/register",
        {**SEED_BODY, "emailId": "amit@"},
        {},
        400,
        "emailId: must be a valid e-mail address",
    ),
    (
        "empty name",
        "/v2/tests/1/register",
        {**SEED_BODY, "fullName": " "},
        {},
        400,
        "fullName: must not be empty",
    ),
    (
        "over-long name",
        "/v2/tests/1/register",
        {**SEED_BODY, "fullName": "n" * 201},
        {},
        400,
        "fullName: must be at most 200 characters",
    ),
    (
        "relative callback",
        "/v2/tests/1/register",
        {**SEED_BODY, "callbackURL": "/cb"},
        {},
        400,
        "callbackURL: must be an absolute http(s) URL",
    ),
    (
        "javascript redirect",
        "/v2/tests/1/register",
        {**SEED_BODY, "redirectURL": "javascript:alert(1)"},
        {},
        400,
        "redirectURL: must be an absolute http(s) URL",
    ),
    ("testId not a number", "/v2/tests/abc/register", SEED_BODY, {}, 400, "testId: must be an integer"),
    ("testId zero", "/v2/tests/0/register", SEED_BODY, {}, 400, "testId: must be greater than 0"),
    ("testId negative", "/v2/tests/-5/register", SEED_BODY, {}, 400, "testId: must be greater than 0"),
    (
        "testId over Int64",
        "/v2/tests/9223372036854775808/register",
        SEED_BODY,
        {},
        400,
        "testId: must be at most 9223372036854775807",
    ),
    (
        "JSON nested 30,000 deep (RecursionError in the parser)",
        "/v2/tests/1/register",
        "[" * 30000 + "]" * 30000,
        {},
        400,
        "body: is not valid JSON (nested deeper than 32 levels)",
    ),
    (
        "JSON nested 33 deep",
        "/v2/tests/1/register",
        {**SEED_BODY, "extra": json.loads("[" * 32 + "]" * 32)},
        {},
        400,
        "body: is not valid JSON (nested deeper than 32 levels)",
    ),
    (
        "a 5,000-digit number in an ignored field (Python's int-string limit)",
        "/v2/tests/1/register",
        '{"emailId": "a@example.com", "fullName": "A", "ignored": ' + "7" * 5000 + "}",
        {},
        400,
        f"body: is not valid JSON (a number has more than {sys.get_int_max_str_digits()} digits)",
    ),
    (
        "lone surrogate in fullName",
        "/v2/tests/1/register",
        '{"emailId":"a@b.com","fullName":"\\ud800"}',
        {},
        400,
        "fullName: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "lone surrogate in emailId",
        "/v2/tests/1/register",
        {**SEED_BODY, "emailId": "amit\udfff@example.com"},
        {},
        400,
        "emailId: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "lone surrogate in redirectURL",
        "/v2/tests/1/register",
        {**SEED_BODY, "redirectURL": "https://lms.example.com/\ud800"},
        {},
        400,
        "redirectURL: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "lone surrogate in callbackURL",
        "/v2/tests/1/register",
        {**SEED_BODY, "callbackURL": "https://lms.example.com/cb?x=\udc00"},
        {},
        400,
        "callbackURL: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "lone surrogate in an ignored field",
        "/v2/tests/1/register",
        {**SEED_BODY, "notes": ["ok", {"text": "\ud83d"}]},
        {},
        400,
        "notes.text: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "lone surrogate in a property name",
        "/v2/tests/1/register",
        {**SEED_BODY, "\ud800": 1},
        {},
        400,
        "body: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "over-long e-mail",
        "/v2/tests/1/register",
        {**SEED_BODY, "emailId": "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.com"},
        {},
        400,
        "emailId: must be at most 254 characters",
    ),
    (
        "over-long callback URL",
        "/v2/tests/1/register",
        {**SEED_BODY, "callbackURL": "https://lms.example.com/" + "c" * 2048},
        {},
        400,
        "callbackURL: must be at most 2048 characters",
    ),
    (
        "testId with an underscore",
        "/v2/tests/1_000/register",
        SEED_BODY,
        {},
        400,
        "testId: must be an integer",
    ),
    ("testId with a plus sign", "/v2/tests/+1/register", SEED_BODY, {}, 400, "testId: must be an integer"),
    ("testId as a decimal", "/v2/tests/1.0/register", SEED_BODY, {}, 400, "testId: must be an integer"),
    ("testId with a space", "/v2/tests/ 1/register", SEED_BODY, {}, 400, "testId: must be an integer"),
    (
        "testId in Arabic-Indic digits",
        "/v2/tests/\u0661/register",
        SEED_BODY,
        {},
        400,
        "testId: must be an integer",
    ),
    (
        "body over 64 KiB",
        "/v2/tests/1/register",
        {**SEED_BODY, "pad": "x" * (64 * 1024)},
        {},
        413,
        "body: larger than 64 KiB",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "kwargs", "status", "description"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(stack, case, path, body, kwargs, status, description):
    # Given the tables as they are
    before = stack.snapshot()
    # When a bad request is posted
    reply = stack.api.post(path, body, **kwargs)
    # Then the reply names the field and the reason, in the envelope
    assert reply.status == status, reply.text
    assert reply.json() == {"statuscode": f"{status}.1", "description": description}
    # And nothing was written
    assert stack.snapshot() == before


def test_wrong_method_is_405_with_allow_and_unknown_invitation_is_404(stack):
    reply = stack.api.get("/v2/tests/1/register")
    assert reply.status == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["statuscode"] == "405.1"
    missing = stack.api.get("/v2/invitations/12345")
    assert missing.status == 404 and missing.description == "testInvitationId: no invitation 12345"


def test_an_invitation_id_beyond_the_issued_range_is_rejected(stack):
    reply = stack.api.get(f"/v2/invitations/{2**53}")
    assert reply.status == 400 and reply.description.startswith(
        "testInvitationId: must be an integer between 1 and"
    )


V1_BAD_INPUT = [
    ("/v1/org-units", "[" * 30000 + "]" * 30000, "body: is not valid JSON (nested deeper than 32 levels)"),
    (
        "/v1/org-units",
        '{"name": "Campus", "size": ' + "9" * 5000 + "}",
        f"body: is not valid JSON (a number has more than {sys.get_int_max_str_digits()} digits)",
    ),
    ("/v1/org-units", {"name": "Campus \ud800"}, "name: must not contain lone surrogates (U+D800-U+DFFF)"),
    (
        "/v1/api-keys",
        {"org-unit": "ou_\udbff", "role": "integration"},
        "org-unit: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "/v1/fulfillments",
        {"product-code": "GTX-Academic-Plus", "assigned-to": {"student-name": "Mary \udc00"}},
        "assigned-to.student-name: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "/v1/fulfillments",  # the seed allows a JSON string holding the object: its inside is checked too
        {"product-code": "GTX-Academic-Plus", "assigned-to": '{"student-name": "Mary \\udc00"}'},
        "assigned-to: must not contain lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "/v1/fulfillments",  # DynamoDB numbers hold 38 digits; boto3 would raise decimal.Inexact
        {"product-code": "GTX-Academic-Plus", "assigned-to": {"student-id": int("1" * 39)}},
        "assigned-to: must not hold a number DynamoDB cannot store (over 38 digits, or beyond 1E+125 or 1E-130)",
    ),
    (
        "/v1/fulfillments",
        '{"product-code": "GTX-Academic-Plus", "registration": {"score": 1e300}}',
        "registration: must not hold a number DynamoDB cannot store (over 38 digits, or beyond 1E+125 or 1E-130)",
    ),
]


@pytest.mark.parametrize(("path", "body", "description"), V1_BAD_INPUT)
def test_v1_kebab_case_routes_get_the_same_guard(stack, path, body, description):
    # Given the tables as they are (and test IDs in stock, so a fulfilment could otherwise succeed)
    from tests.integration.test_provisioning import add_ids

    add_ids(stack.api, 1)
    before = stack.snapshot()
    # When unreadable or unstorable JSON is posted to a /v1 route
    reply = stack.api.post(path, body)
    # Then it is a 400 naming the field, never a 5xx, and nothing is written
    assert reply.status == 400, reply.text
    assert reply.json() == {"statuscode": "400.1", "description": description}
    assert stack.snapshot() == before


def test_a_transaction_refused_for_a_reason_no_retry_fixes_is_not_reported_as_a_concurrent_twin(
    stack, monkeypatch
):
    # Given DynamoDB cancelling the registration's transaction with a ValidationError (what it does with
    # a value it cannot take: no retry changes that, and no concurrent twin is involved)
    from botocore.exceptions import ClientError

    from gateway import aws

    calls = []

    class Refusing:
        def transact_write_items(self, **_):
            calls.append(1)
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )

        def __getattr__(self, name):
            return getattr(real, name)

    real = aws.dynamodb()
    monkeypatch.setattr(aws, "dynamodb", lambda: Refusing())
    # When a candidate is registered
    reply = stack.api.post("/v2/tests/1/register", SEED_BODY)
    # Then it fails at once as our error (logged), not as a 503 asking the client to retry
    assert len(calls) == 1
    assert reply.status == 500 and reply.json()["statuscode"] == "500.1", reply.text


@pytest.mark.parametrize("written", ["+1", "1_000", "1.0"])
def test_an_invitation_id_must_be_plain_digits_too(stack, written):
    reply = stack.api.get(f"/v2/invitations/{written}")
    assert (reply.status, reply.description) == (400, "testInvitationId: must be an integer")
