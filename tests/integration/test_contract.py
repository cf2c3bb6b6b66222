"""The API contract: the OpenAPI document against the template, and regressions the fuzzer found."""

from __future__ import annotations

import base64
import json

from tests.helpers import LambdaContext, api_event

ENVELOPE = "#/components/schemas/ErrorEnvelope"
BODY_METHODS = {"post", "put", "patch"}
PUBLIC = {"/health", "/openapi.json", "/swagger"}


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
                assert responses[status]["content"]["application/json"]["schema"], label
            # And a body-taking operation declares its request body
            if method in BODY_METHODS and operation.get("requestBody") is None:
                assert (
                    not operation.get("parameters")
                    or path.endswith(("/ping", "/replay", "/release"))
                    or ("expire-assignments" in path)
                ), f"{label}: no requestBody"
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
