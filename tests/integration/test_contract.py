"""The API contract: the OpenAPI document against the template, and regressions the fuzzer found."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import LambdaContext, api_event
from tests.integration.test_results_intake import post_result

ENVELOPE = "#/components/schemas/ErrorEnvelope"
BODY_METHODS = {"post", "put", "patch"}
PUBLIC = {"/health", "/openapi.json", "/swagger", "/score-reports/{token}"}  # the last: an HTML page
# Actions named by their path alone: they take no body.
BODYLESS = {
    "POST /v1/tracks/{code}/ping",
    "POST /v1/deliveries/{deliveryId}/replay",
    "POST /v1/test-ids/{testId}/release",
    "POST /v1/jobs/expire-assignments",
}


def _document(stack):
    reply = stack.api.get("/openapi.json", key=None)
    assert reply.status == 200
    return reply.json()


def test_every_template_route_is_documented_with_request_and_response_schemas(stack):
    # Given the API routes of template.yaml and the document the docs function serves
    document = _document(stack)
    declared = {r.path for r in stack.template.api_routes()} - {"/openapi.json", "/swagger"}
    # Then each route has at least one operation
    assert declared <= set(document["paths"]), declared - set(document["paths"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            responses = operation["responses"]
            # And every success reply has a JSON schema
            successes = [s for s in responses if s.startswith("2")]
            assert successes, label
            for status in successes:
                content = responses[status]["content"]
                # (JSON, but for the HTML score report page and the XLSX files, which say what they are)
                assert content.get("application/json", content.get("text/html", {})).get("schema"), label
            # And a body-taking operation declares its request body (but actions that take none)
            if method in BODY_METHODS:
                assert operation.get("requestBody") or label in BODYLESS, f"{label}: no requestBody"
            if path in PUBLIC:
                continue
            # And the error statuses the function can answer use the envelope
            for status in ("400", "401", "403", "404", "405", "413", "415", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": ENVELOPE}, f"{label} {status}"
            # And powertools' own 422 (never answered: bad input is a 400) is not promised
            if "422" in responses:
                assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": ENVELOPE}
                assert any(p["name"] == "idempotency-key" for p in operation["parameters"]), label
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_engine_results_route_documents_its_form_and_json_bodies(stack):
    operation = _document(stack)["paths"]["/v1/results"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    assert content["application/x-www-form-urlencoded"]["schema"]["required"] == ["data"]


def test_a_body_that_is_not_utf8_is_a_400_naming_the_body_and_stores_nothing(stack):
    # Given a registration whose body is not UTF-8 (found by schemathesis: it was a 500)
    before = stack.snapshot(ignore=("IdempotencyTable",))
    event = api_event(
        "POST",
        "/v2/tests/1001/register",
        key="integration-admin-key",
        path_parameters={"testId": "1001"},
    )
    event["headers"]["content-type"] = "application/json"
    event["body"] = base64.b64encode(b"x\xe5\xa0\x07").decode()
    event["isBase64Encoded"] = True
    # When it is posted
    reply = stack.api.handler("RegistrationFunction")(event, LambdaContext())
    # Then it is refused naming the body, and nothing is stored
    assert reply["statusCode"] == 400, reply
    assert json.loads(reply["body"]) == {"statuscode": "400.1", "description": "body: is not valid UTF-8"}
    assert stack.snapshot(ignore=("IdempotencyTable",)) == before


# Regressions: each of these was a 500 (found by the property tests of tests/unit/test_properties.py).
def test_a_deliveries_filter_before_the_first_utc_time_is_a_400_naming_it(stack):
    reply = stack.api.get("/v1/deliveries", query={"from": "0001-01-01T00:00:00+01:00"})
    assert reply.status == 400 and reply.json()["description"].startswith("from: must be a date-time"), (
        reply.text
    )


def test_an_expire_without_a_due_time_is_a_400_and_assigns_nothing(stack):
    # Given a test ID in stock
    stack.api.post(
        "/v1/test-ids", {"test-ids": [{"test-id": "OVF1", "password": "p", "test-type": "Academic"}]}
    )
    before = stack.snapshot(ignore=("IdempotencyTable",))
    # When a fulfilment asks for an assignment expiring on the last representable day
    reply = stack.api.post(
        "/v1/fulfillments", {"product-code": "GTX-Academic", "assigned-to": {"expire": "9999-12-31"}}
    )
    # Then it is refused naming the field, and nothing is assigned
    assert reply.status == 400 and reply.json()["description"].startswith("assigned-to.expire:"), reply.text
    assert stack.snapshot(ignore=("IdempotencyTable",)) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"TestInvitationId": "\u00b2", "Status": "Completed"}, "TestInvitationId"),
        ({"TestInvitationId": 7, "Status": "Completed", "ReportPDFUrl": "https://[::1"}, "ReportPDFUrl"),
        ({"TestID": "T1", "Status": "Completed", "score_report_url": "http://[x"}, "score_report_url"),
    ],
)
def test_results_with_digits_of_other_scripts_or_broken_urls_are_a_400(stack, payload, field):
    reply = post_result(stack, payload, form=False)
    assert reply.status == 400 and reply.json()["description"].startswith(f"{field}:"), reply.text


def test_a_timestamp_in_other_digits_is_a_401_not_a_500(stack):
    key = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "admin"}).json()
    reply = stack.api.get(
        "/v1/org-units", key=key["key-id"], headers={"x-timestamp": "\u00b2", "x-signature": "v1=00"}
    )
    assert reply.status == 401 and reply.json()["description"].startswith("x-timestamp:"), reply.text
