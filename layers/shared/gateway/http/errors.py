"""The one place where errors become HTTP replies, always in the envelope {"statuscode", "description"}."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types

from gateway.errors import DomainError, MethodNotAllowed

logger = Logger(child=True)


def envelope(
    status: int, code: int, description: str, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"statuscode": f"{status}.{code}", "description": description}),
        headers=headers,
    )


def from_domain(exc: DomainError) -> Response[str]:
    headers = {"Allow": ", ".join(exc.allowed)} if isinstance(exc, MethodNotAllowed) else None
    if exc.status >= 500:
        logger.warning("request failed", extra={"statuscode": exc.statuscode, "error": type(exc).__name__})
    return envelope(exc.status, exc.code, exc.description, headers)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, parts = parts[0], parts[1:]
        # Unions and annotated validators add their own step names to the location; drop them.
        parts = [p for p in parts if not p.startswith(("function-", "str", "none", "int", "nullable"))]
        return ".".join(parts) if parts else where
    return ".".join(parts) or "request"


def _reason(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "missing":
        return "is required"
    if kind in ("string_type", "model_attributes_type", "dict_type", "model_type"):
        return {"string_type": "must be a string"}.get(kind, "must be a JSON object")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be an integer"
    if kind == "string_too_long":
        return f"must be at most {error.get('ctx', {}).get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty"
    ctx = error.get("ctx", {})
    bounds = {
        "greater_than": "greater than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"must be {bounds[kind]} {limit}"
    if kind == "literal_error":
        return f"must be one of {error.get('ctx', {}).get('expected')}"
    if kind == "enum":
        return f"must be one of {error.get('ctx', {}).get('expected')}"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ").removeprefix("Input should be ").strip() or "is invalid"


def describe_validation(errors: Sequence[dict[str, Any]]) -> str:
    """'field: reason' for each error (deduplicated), naming the field as the client sent it."""
    seen: list[str] = []
    for error in errors:
        loc = error.get("loc", ())
        text = (
            "body: is not valid JSON"
            if error.get("type") == "json_invalid"
            else f"{_field(loc)}: {_reason(error)}"
        )
        if text not in seen:
            seen.append(text)
    return "; ".join(seen[:5])
