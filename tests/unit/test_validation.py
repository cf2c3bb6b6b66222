"""Field rules of the V2 registration contract and the error texts a client sees."""

import pytest
from pydantic import ValidationError

from gateway.contracts import CreateApiKey, RegisterRequest
from gateway.http.errors import describe_validation


def _error_of(**body) -> str:
    with pytest.raises(ValidationError) as info:
        RegisterRequest.model_validate(body)
    return describe_validation([{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()])


def test_seed_request_with_a_real_email_is_accepted_and_blank_urls_mean_not_given():
    # Given the seed's example body with a real e-mail
    body = {"emailId": "amit@example.com", "fullName": "Amit Mishra", "callbackURL": "", "redirectURL": ""}
    # When it is validated
    request = RegisterRequest.model_validate(body)
    # Then the empty URLs are "not given"
    assert request.callbackURL is None and request.redirectURL is None
    assert request.emailId == "amit@example.com"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"fullName": "A"}, "emailId: is required"),
        ({"emailId": "", "fullName": "A"}, "emailId: must not be empty"),
        ({"emailId": "   ", "fullName": "A"}, "emailId: must not be empty"),
        ({"emailId": "not-an-email", "fullName": "A"}, "emailId: must be a valid e-mail address"),
        ({"emailId": "a@b", "fullName": "A"}, "emailId: must be a valid e-mail address"),
        ({"emailId": "a b@c.de", "fullName": "A"}, "emailId: must be a valid e-mail address"),
        ({"emailId": "a@b..de", "fullName": "A"}, "emailId: must be a valid e-mail address"),
        ({"emailId": "a" * 250 + "@b.de", "fullName": "A"}, "emailId: must be at most 254 characters"),
        ({"emailId": 42, "fullName": "A"}, "emailId: must be a string"),
        ({"emailId": "a@b.de"}, "fullName: is required"),
        ({"emailId": "a@b.de", "fullName": ""}, "fullName: must not be empty"),
        ({"emailId": "a@b.de", "fullName": "x" * 201}, "fullName: must be at most 200 characters"),
        ({"emailId": "a@b.de", "fullName": "A\x00B"}, "fullName: must not contain control characters"),
        (
            {"emailId": "a@b.de", "fullName": "A", "callbackURL": "ftp://x.de"},
            "callbackURL: must be an absolute http(s) URL",
        ),
        (
            {"emailId": "a@b.de", "fullName": "A", "callbackURL": "/relative"},
            "callbackURL: must be an absolute http(s) URL",
        ),
        (
            {"emailId": "a@b.de", "fullName": "A", "redirectURL": "https://"},
            "redirectURL: must be an absolute http(s) URL",
        ),
        (
            {"emailId": "a@b.de", "fullName": "A", "redirectURL": "https://x.de/" + "a" * 2048},
            "redirectURL: must be at most 2048 characters",
        ),
        ({"emailId": "a@b.de", "fullName": "A", "redirectURL": 5}, "redirectURL: must be a string"),
    ],
)
def test_each_bad_field_is_named_with_its_reason(body, expected):
    assert _error_of(**body) == expected


def test_api_key_role_must_be_one_of_the_three_roles():
    with pytest.raises(ValidationError) as info:
        CreateApiKey.model_validate({"org-unit": "ou_x", "role": "owner"})
    text = describe_validation([{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()])
    assert text.startswith("role: must be one of") and "'admin'" in text and "'integration'" in text


def test_malformed_json_is_reported_as_such():
    assert (
        describe_validation([{"type": "json_invalid", "loc": ("body", 3), "msg": "x"}])
        == "body: is not valid JSON"
    )
