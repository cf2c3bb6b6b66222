"""Field rules of the V2 registration contract and the error texts a client sees."""

import json
import sys
from urllib.parse import quote

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.admin_contracts import CreateApiKey
from gateway.contracts import RegisterRequest
from gateway.http.errors import describe_validation
from gateway.validation import JsonRefused, PlainInt, loads_json, storable_numbers


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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("emailId", "amit\ud800@example.com"),
        ("fullName", "\ud800"),
        ("fullName", "Amit \udfff Mishra"),
        ("callbackURL", "https://lms.example.com/\udc00"),
        ("redirectURL", "https://lms.example.com/done?x=\udbff"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(field, value):
    # Given a body whose field holds half of a UTF-16 pair (JSON's "\ud800": no UTF-8 encoding exists)
    body = {"emailId": "a@b.de", "fullName": "A", field: value}
    # Then validation names the field and the reason
    assert _error_of(**body) == f"{field}: must not contain lone surrogates (U+D800-U+DFFF)"


def test_a_character_outside_the_bmp_is_not_a_lone_surrogate():
    # JSON's "\ud83d\ude00" is one code point in Python: a valid pair is accepted
    request = RegisterRequest.model_validate(
        json.loads('{"emailId": "a@b.de", "fullName": "Amit \\ud83d\\ude00"}')
    )
    assert request.fullName == "Amit \U0001f600"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ('{"a": ', "", "is not valid JSON"),
        ("[" * 30000 + "]" * 30000, "", "is not valid JSON (nested deeper than 32 levels)"),
        ("[" * 33 + "]" * 33, "", "is not valid JSON (nested deeper than 32 levels)"),
        (
            '{"n": ' + "1" * 5000 + "}",
            "",
            f"is not valid JSON (a number has more than {sys.get_int_max_str_digits()} digits)",
        ),
        ('"\\ud800"', "", "must not contain lone surrogates (U+D800-U+DFFF)"),
        ('{"a": [1, {"b": "x\\udc00"}]}', "a.b", "must not contain lone surrogates (U+D800-U+DFFF)"),
        ('{"a": {"\\ud800": 1}}', "a", "must not contain lone surrogates (U+D800-U+DFFF)"),
    ],
)
def test_untrusted_json_fails_only_with_a_reason_and_a_place(text, field, reason):
    with pytest.raises(JsonRefused) as refused:
        loads_json(text)
    assert (refused.value.field, refused.value.reason) == (field, reason)


def test_untrusted_json_within_the_limits_parses_as_usual():
    deepest = "[" * 32 + "]" * 32
    assert loads_json(deepest) == json.loads(deepest)
    assert loads_json('{"n": ' + "1" * 4000 + ', "s": "\\ud83d\\ude00"}') == {
        "n": int("1" * 4000),
        "s": "\U0001f600",
    }


@pytest.mark.parametrize(
    ("value", "storable"),
    [
        ({"a": [1, 2.5, "x", True, None]}, True),
        ({"n": int("9" * 38)}, True),
        ({"n": -int("9" * 38)}, True),
        ({"n": int("9" * 39)}, False),
        ({"n": 10**40}, False),  # boto3 refuses to round even trailing zeros away
        ({"n": 1e125}, True),
        ({"n": 1e126}, False),
        ({"n": [1e-130]}, True),
        ({"n": {"m": 1e-200}}, False),
        ({"n": 0.0}, True),
    ],
)
def test_numbers_are_checked_against_what_dynamodb_stores(value, storable):
    from gateway.repo import to_item

    assert storable_numbers(value) is storable
    if storable:
        to_item({"v": value})  # boto3's serialiser takes it (DynamoDB refuses a few more than boto3 does)


@pytest.mark.parametrize("text", ["1_000", "+1", "1.0", " 1", "1 ", "\u0661", "0x10", "1e3", ""])
def test_a_path_integer_is_plain_ascii_digits(text):
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(PlainInt).validate_python(text)
    assert "must be an integer" in str(refused.value)


def test_a_path_integer_in_plain_digits_is_taken():
    assert TypeAdapter(PlainInt).validate_python("0042") == 42
    assert TypeAdapter(PlainInt).validate_python("-5") == -5  # the route's bounds say "greater than 0"


@pytest.mark.parametrize(
    ("media_type", "body", "description"),
    [
        (
            "application/x-www-form-urlencoded",
            "data=" + quote("[" * 3000 + "]" * 3000),
            "data: is not valid JSON (nested deeper than 32 levels)",
        ),
        (
            "application/json",
            '{"TotalScore": ' + "5" * 5000 + "}",
            "body: is not valid JSON (a number has more",
        ),
        (
            "application/x-www-form-urlencoded",
            "data=" + quote('{"Comments": "ok \\ud800"}'),
            "Comments: must not contain lone surrogates (U+D800-U+DFFF)",
        ),
    ],
)
def test_the_engines_result_json_is_read_as_safely_as_a_request_body(media_type, body, description):
    from gateway import results
    from gateway.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        results.parse_body(media_type, body.encode())
    assert refused.value.description.startswith(description)
