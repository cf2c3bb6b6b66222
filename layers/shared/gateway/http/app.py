"""Builds the API functions' resolvers and runs the checks API Gateway leaves to the function.

Before powertools resolves a request (and validates its body), `Api.handle` answers, in this order:
404 for a path no route matches, 405 (with Allow) for a method the path does not have, 413 for a body
over the limit, 401/403 for a missing, unknown, wrong-role or out-of-scope key, 415 for a body that
is not JSON, and 400 for a JSON body that cannot be read safely (malformed, nested too deep, a number past
Python's int-string limit, a lone surrogate anywhere). Authentication therefore happens before any input
is parsed, and powertools validates the body parsed here instead of parsing it again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from gateway import auth, idempotency, observability, validation
from gateway.config import get_settings
from gateway.contracts import Role
from gateway.errors import (
    DomainError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.http.errors import describe_validation, envelope, from_domain

logger = Logger(child=True)
F = TypeVar("F", bound=Callable[..., Any])
BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON = "application/json"
TITLE = "Assessment Gateway"
VERSION = "1.0.0"
DESCRIPTION = (
    "Registers candidates for tests and hands out test IDs. Every route but `/health`, `/openapi.json` and "
    "`/swagger` needs the `x-api-key` header. Errors use one envelope, `statuscode` being the HTTP status, "
    "a dot and a number, and `description` naming the field and the reason: "
    '`{"statuscode": "400.1", "description": "emailId: must be a valid e-mail address"}`.'
)


@dataclass(frozen=True)
class Policy:
    roles: frozenset[Role] | None  # None: no API key (public, or the engine when `engine`)
    body: str | None = JSON  # media type the body must have, None: no body expected
    engine: bool = False  # signed by the test engine's secret instead of a tenant key


def requires(*roles: Role, body: str | None = JSON) -> Callable[[F], F]:
    """Mark a route as needing an API key of one of `roles`. Returns the function itself (powertools
    reads its signature for validation)."""

    def mark(func: F) -> F:
        func.__gateway_policy__ = Policy(frozenset(roles), body)  # type: ignore[attr-defined]
        return func

    return mark


def engine_signed(func: F) -> F:
    """Mark a route as called by the test engine (signed with the engine secret); the route checks the
    body's media type itself."""
    func.__gateway_policy__ = Policy(None, None, engine=True)  # type: ignore[attr-defined]
    return func


def public(func: F) -> F:
    func.__gateway_policy__ = Policy(None, None)  # type: ignore[attr-defined]
    return func


ANY_ROLE = (Role.ADMIN, Role.SUPPORT, Role.INTEGRATION)


def _document_info() -> dict[str, Any]:
    """Title, description and the API-key scheme, for the OpenAPI document and the Swagger UI alike."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {
        "title": TITLE,
        "version": VERSION,
        "description": DESCRIPTION,
        "security_schemes": {"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        "security": [{"apiKey": []}],
    }


@dataclass(frozen=True)
class RawRequest:
    """The body as sent and its media type, for routes that parse their own body (the engine's form), and
    the base URL the client called (see `request_base_url`)."""

    body: bytes
    media_type: str
    base_url: str = ""


@dataclass(frozen=True)
class ParsedBody:
    text: str
    value: Any


# The body the guard parsed, for powertools' validation (its deserializer) to take instead of parsing again.
parsed_body: ContextVar[ParsedBody | None] = ContextVar("parsed_body", default=None)


def _json_body(text: str) -> Any:
    """powertools' JSON deserializer: the guard's parse of this very text, else a parse that fails only with
    JSONDecodeError (the one error powertools turns into a validation error; anything else would be a 502)."""
    held = parsed_body.get()
    if held is not None and held.text == text:
        return held.value
    try:
        return validation.loads_json(text)
    except validation.JsonRefused as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from exc


def parse_json_body(text: str) -> Any:
    """A request body as JSON, or InvalidInput naming the field (or `body`) and the reason."""
    try:
        return validation.loads_json(text)
    except validation.JsonRefused as exc:
        raise InvalidInput(exc.field or "body", exc.reason) from exc


# Per request, not per resolver: routers are shared by every resolver that includes them (powertools points
# `router.current_event` at the last one), so routes read request facts from here.
current_request: ContextVar[RawRequest] = ContextVar("current_request")


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as the client sent it (what a signature covers)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode()


def request_base_url(event: Mapping[str, Any]) -> str:
    """This API's base URL as the client called it: scheme, host and stage prefix (none on a custom domain
    or on the local stack), for links the service prints (score reports, certificate verification)."""
    context = event.get("requestContext") or {}
    headers = event.get("headers") or {}
    host = context.get("domainName") or auth.header(headers, "host")
    if not host:
        return ""
    full, path = str(context.get("path") or ""), str(event.get("path") or "")
    prefix = full[: -len(path)] if path and full.endswith(path) else ""
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = auth.header(headers, "x-forwarded-proto") or ("http" if local else "https")
    return f"{scheme}://{host}{prefix}"


def _media_type(headers: Mapping[str, str] | None) -> str:
    value = auth.header(headers, "content-type") or ""
    return value.split(";")[0].strip().lower()


class Api:
    """A powertools resolver (validation on) with the project's routers, policies and error envelope."""

    def __init__(self, *routers: Router, docs: bool = False) -> None:
        self.resolver = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_json_body)
        for router in routers:
            self.resolver.include_router(router)
        self.resolver.exception_handler(DomainError)(from_domain)
        self.resolver.exception_handler(RequestValidationError)(self._invalid)
        if docs:
            self.resolver.enable_swagger(path="/swagger", persist_authorization=True, **_document_info())
            self._mark_public("/swagger")

    def openapi_json(self) -> str:
        from gateway.http.routes.common import finish_document

        return finish_document(self.resolver.get_openapi_json_schema(**_document_info()))

    @staticmethod
    def _invalid(exc: RequestValidationError) -> Any:
        return envelope(400, 1, describe_validation(exc.errors()))

    def _routes(self) -> list[Any]:
        # powertools keeps its compiled routes here; tests pin the behaviour that relies on it.
        return list(self.resolver._static_routes) + list(self.resolver._dynamic_routes)

    def _mark_public(self, path: str) -> None:
        for route in self._routes():
            if route.rule.match(path):
                public(route.func)

    def route_for(self, method: str, path: str) -> Any:
        matching = [r for r in self._routes() if r.rule.match(path)]
        if not matching:
            raise NotFound("path: no route matches this path")
        for route in matching:
            if route.method == method:
                return route
        raise MethodNotAllowed(method, sorted({r.method for r in matching}))

    def _guard(self, event: Mapping[str, Any]) -> ParsedBody | None:
        """The checks API Gateway leaves to the function (see the module's docstring); the JSON body parsed,
        when the route takes one."""
        method = str(event.get("httpMethod", "")).upper()
        route = self.route_for(method, str(event.get("path", "")))
        policy: Policy = getattr(route.func, "__gateway_policy__", Policy(frozenset({Role.ADMIN})))
        limit = get_settings().max_body_bytes
        body = raw_body(event)
        if len(body) > limit:
            raise PayloadTooLarge(f"body: larger than {limit // 1024} KiB")
        headers = event.get("headers")
        if policy.engine:
            auth.authenticate_engine(headers, body)
        elif policy.roles is not None:
            caller = auth.authenticate(headers, body)
            auth.authorize(caller, policy.roles)
            auth.set_caller(caller)
        if method in BODY_METHODS and policy.body and event.get("body"):
            media = _media_type(headers)
            if media != policy.body:
                raise UnsupportedMediaType(f"content-type: must be {policy.body} (got '{media or 'none'}')")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput("body", "is not valid UTF-8") from exc
            if policy.body == JSON:
                return ParsedBody(text, parse_json_body(text))
        return None

    def lambda_handler(
        self, *, metrics: bool = True
    ) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
        """The API function's entry point: `handle` with structured logs (the API request id as correlation
        id) and, unless `metrics` is off, the request's EMF metrics flushed after it."""
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.logging import correlation_paths

        handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = self.handle
        if metrics:
            handler = Metrics().log_metrics(handler)
        if observability.api_tracing():  # off by default: the X-Ray SDK's import is the cold start's largest
            handler = observability.traced(handler)
        return observability.logger().inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST
        )(handler)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            parsed = self._guard(event)
        except DomainError as exc:
            return _proxy_reply(from_domain(exc))
        held = parsed_body.set(parsed)
        token = idempotency.lambda_context.set(context)
        request = current_request.set(
            RawRequest(raw_body(event), _media_type(event.get("headers")), request_base_url(event))
        )
        try:
            return self.resolver.resolve(event, context)
        finally:
            auth.set_caller(None)
            parsed_body.reset(held)
            idempotency.lambda_context.reset(token)
            current_request.reset(request)


def _proxy_reply(response: Any) -> dict[str, Any]:
    """An API Gateway proxy reply for errors answered before powertools resolves the request."""
    headers = {"Content-Type": response.content_type, **{k: v for k, v in (response.headers or {}).items()}}
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }
