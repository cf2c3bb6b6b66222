"""Health and the OpenAPI document (the docs function; kept off the API functions' cold path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from gateway.contracts import Health
from gateway.http.app import public

router = Router()  # type: ignore[no-untyped-call]
_document: dict[str, Any] = {}


@router.get("/health", summary="Liveness", tags=["Service"])
@public
def health() -> Health:
    return Health()


@router.get("/openapi.json", summary="This document", tags=["Service"], include_in_schema=False)
@public
def openapi() -> Response[str]:
    if "json" not in _document:
        _document["json"] = _document["provider"]()
    return Response(200, content_types.APPLICATION_JSON, _document["json"])


def publish(provider: Callable[[], str]) -> None:
    """Serve the document `provider` builds (once, on the first request)."""
    _document.clear()
    _document["provider"] = provider
