"""Pieces shared by the routers: the documented error replies."""

from __future__ import annotations

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
    503: _error("The data store is busy; retry."),
}


def documented(status: int, description: str) -> dict[int, OpenAPIResponse]:
    """The route's success reply and every error reply, for the OpenAPI document."""
    return {status: {"description": description}, **ERRORS}
