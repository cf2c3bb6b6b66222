"""Pieces shared by the routers: the documented error replies."""

from __future__ import annotations

from typing import Any

from gateway.contracts import ErrorEnvelope



def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": ErrorEnvelope}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid input; the description names the field and the reason."),
    401: _error("Missing or unknown API key."),
    403: _error("The key's role or organisation unit does not allow this."),
    404: _error("Not found."),
    405: _error("Method not allowed on this path."),
    413: _error("Body too large."),
    415: _error("Body is not JSON."),
}
