"""Pieces shared by the routers: the documented error replies, and the finishing touches to the OpenAPI
document powertools generates (the one place the document is adjusted)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from gateway.contracts import ErrorEnvelope


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorEnvelope}}}


ERRORS: dict[int, OpenAPIResponse] = {
    400: _error("Invalid input; the description names the field and the reason."),
    401: _error("Missing or unknown API key."),
    403: _error("The key's role or organisation unit does not allow this."),
    404: _error("Not found."),
    405: _error("Method not allowed on this path."),
    413: _error("Body too large."),
    409: _error("Already exists, or conflicts with the current state."),
    415: _error("Body is not JSON."),
    429: _error("Too many requests (API Gateway throttling); retry later."),
    503: _error("The data store is busy; retry."),
}


def documented(status: int, description: str) -> dict[int, OpenAPIResponse]:
    """The route's success reply and every error reply, for the OpenAPI document."""
    return {status: {"description": description}, **ERRORS}


# A route that parses its own body (the engine's form) declares it as this extension; powertools only
# passes extensions named x-..., and finish_document turns it into the operation's requestBody.
RAW_BODY = "x-raw-request-body"
IDEMPOTENCY_KEY_REUSED = _error("Idempotency-Key reused with a different body.")


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {str(node["$ref"]).rsplit("/", 1)[-1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def finish_document(document: str) -> str:
    """The document powertools generated, made true to what the API answers:

    - powertools declares a 422 (its HTTPValidationError) on every operation, but this API answers invalid
      input with 400 and the error envelope: the 422 stays (as the envelope) only where an
      Idempotency-Key header can be reused, and is removed elsewhere;
    - routes that parse their own body (RAW_BODY extension) get it as their requestBody.
    """
    doc = json.loads(document)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            headers = {
                p.get("name", "").lower() for p in operation.get("parameters", []) if p.get("in") == "header"
            }
            if "422" in responses:
                if "idempotency-key" in headers:
                    responses["422"] = {
                        "description": IDEMPOTENCY_KEY_REUSED["description"],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
                        },
                    }
                else:
                    del responses["422"]
            if RAW_BODY in operation:
                operation["requestBody"] = operation.pop(RAW_BODY)
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in _refs(
            {k: v for k, v in doc.items() if k != "components"}
        ) | _refs({k: v for k, v in schemas.items() if k not in ("HTTPValidationError", "ValidationError")}):
            del schemas[unused]
    return json.dumps(doc)
