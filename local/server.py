"""The local HTTP front: the template's API routes, served like API Gateway (REST API, v1 payload).

Routes, stage and gateway responses all come from the template. A request that matches no route (or
no method) gets the API's ``MISSING_AUTHENTICATION_TOKEN`` gateway response, a body over 10 MiB gets
``REQUEST_TOO_LARGE``, a handler that raises (or answers something that is not a proxy response) gets
``DEFAULT_5XX`` with status 502. Until :attr:`FrontServer.ready` is set every request gets 503.

Local-only routes (the outbox, and whatever :meth:`FrontServer.add_local_route` adds) are matched
before the template's routes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.cfn import IMPLICIT_API, ApiRoute, GatewayResponse, Template
from local.lambdas import LambdaRuntime
from local.outbox import Outbox

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

_DEFAULT_RESPONSES: dict[str, tuple[int, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "DEFAULT_5XX": (502, "Internal server error"),
}
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass
class LocalRequest:
    """What a local route handler gets."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


LocalResponse = tuple[int, dict[str, str], bytes | str]
LocalHandler = Callable[[LocalRequest], LocalResponse]


@dataclass(frozen=True)
class _LocalRoute:
    method: str
    pattern: re.Pattern[str]
    handler: LocalHandler


@dataclass(frozen=True)
class CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {greedy+}; lower is more specific

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self.parameters, found.groups(), strict=True))


def compile_route(route: ApiRoute) -> CompiledRoute:
    regex, names, rank = "", [], []
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        greedy = re.fullmatch(r"\{(.+)\+\}", segment)
        param = re.fullmatch(r"\{(.+)\}", segment)
        if greedy:
            regex += "/(.+)"
            names.append(greedy.group(1))
            rank.append(2)
        elif param:
            regex += "/([^/]+)"
            names.append(param.group(1))
            rank.append(1)
        else:
            regex += "/" + re.escape(segment)
            rank.append(0)
    return CompiledRoute(route, re.compile(regex or "/"), tuple(names), tuple(rank))


@dataclass
class _Incoming:
    method: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    too_large: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class FrontServer:
    """A threaded HTTP server that plays API Gateway for the template's ``Api`` events."""

    def __init__(
        self,
        template: Template,
        runtime: LambdaRuntime,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        outbox: Outbox | None = None,
    ) -> None:
        self.template = template
        self.runtime = runtime
        self.host = host
        self.requested_port = port
        self.ready = threading.Event()
        self.routes = sorted(
            (compile_route(route) for route in template.api_routes()),
            key=lambda compiled: (compiled.rank, compiled.route.method == "ANY"),
        )
        api_ids = Counter(compiled.route.api_id for compiled in self.routes)
        self.default_api = api_ids.most_common(1)[0][0] if api_ids else IMPLICIT_API
        self._gateway_responses: dict[str, dict[str, GatewayResponse]] = {}
        self._stages: dict[str, str] = {}
        self._local_routes: list[_LocalRoute] = []
        self._httpd: _TrackingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if outbox is not None:
            self._add_outbox_routes(outbox)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("front server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        handler = type("BoundHandler", (_RequestHandler,), {"front": self})
        self._httpd = _TrackingHTTPServer((self.host, self.requested_port), handler)
        self.requested_port = self.port  # a restart of this object gets the same port back
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="local-front", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.ready.clear()
        if self._httpd is not None:
            self._httpd.local_stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    # -- local routes ----------------------------------------------------------------------------

    def add_local_route(self, method: str, path_regex: str, handler: LocalHandler) -> None:
        """Serve ``method`` (or ``ANY``) on paths matching ``path_regex`` (whole path) with ``handler``.

        ``handler(request)`` returns ``(status, headers, body)``; local routes win over template routes.
        """
        self._local_routes.append(_LocalRoute(method.upper(), re.compile(path_regex), handler))

    def _add_outbox_routes(self, outbox: Outbox) -> None:
        def outbox_json(_request: LocalRequest) -> LocalResponse:
            return 200, {"Content-Type": "application/json"}, json.dumps(outbox.messages(), indent=2)

        def outbox_html(_request: LocalRequest) -> LocalResponse:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, outbox.render_html()

        self.add_local_route("GET", r"/local/outbox\.json", outbox_json)
        self.add_local_route("GET", r"/local/outbox/?", outbox_html)

    # -- request handling ------------------------------------------------------------------------

    def handle(self, incoming: _Incoming) -> tuple[int, list[tuple[str, str]], bytes]:
        if not self.ready.is_set():
            body = json.dumps({"message": "The local stack is starting; retry in a moment."})
            return 503, [("Content-Type", "application/json"), ("Retry-After", "1")], body.encode()
        path = unquote(incoming.raw_path) or "/"
        for local in self._local_routes:
            found = local.pattern.fullmatch(path)
            if found and local.method in ("ANY", incoming.method):
                return self._local(local, incoming, path, found)
        if incoming.too_large:
            return self.gateway_response(self.default_api, "REQUEST_TOO_LARGE", incoming.request_id)
        matched = self._match(incoming.method, path.rstrip("/") or "/")
        if matched is None:
            return self.gateway_response(
                self.default_api, "MISSING_AUTHENTICATION_TOKEN", incoming.request_id
            )
        compiled, parameters = matched
        return self._invoke(compiled.route, parameters, incoming, path)

    def _match(self, method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        for compiled in self.routes:  # most specific first, exact method before ANY
            if compiled.route.method not in ("ANY", method):
                continue
            parameters = compiled.match(path)
            if parameters is not None:
                return compiled, parameters
        return None

    def _local(
        self, local: _LocalRoute, incoming: _Incoming, path: str, found: re.Match[str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        request = LocalRequest(
            method=incoming.method,
            path=path,
            query=_query_multi(incoming.query),
            headers={name.lower(): value for name, value in incoming.headers},
            body=incoming.body,
            match=found,
        )
        try:
            status, headers, body = local.handler(request)
        except Exception:
            traceback.print_exc()
            return 500, [("Content-Type", "text/plain")], b"local route failed; see the stack's output"
        return status, list(headers.items()), body.encode() if isinstance(body, str) else body

    def _invoke(
        self, route: ApiRoute, parameters: dict[str, str], incoming: _Incoming, path: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        function = self.runtime[route.function_id]
        event = api_event(
            route=route,
            path=path,
            incoming=incoming,
            path_parameters=parameters,
            stage=self.stage(route.api_id),
            account_id=self.template.account_id,
        )
        try:
            result = function.invoke(event)
            return _proxy_response(result, incoming.request_id)
        except Exception:
            print(f"local stack: {route.function_id} failed on {incoming.method} {path}:")
            traceback.print_exc()
            return self.gateway_response(route.api_id, "DEFAULT_5XX", incoming.request_id, status=502)

    def stage(self, api_id: str) -> str:
        if api_id not in self._stages:
            self._stages[api_id] = self.template.api_stage(api_id)
        return self._stages[api_id]

    def gateway_response(
        self, api_id: str, response_type: str, request_id: str, status: int | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """The API's gateway response of ``response_type`` (else DEFAULT_4XX/5XX, as API Gateway does)."""
        if api_id not in self._gateway_responses:
            self._gateway_responses[api_id] = self.template.gateway_responses(api_id)
        responses = self._gateway_responses[api_id]
        default_status, message = _DEFAULT_RESPONSES[response_type]
        status = status or default_status
        chosen = responses.get(response_type) or responses.get(
            "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        )
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", _error_type(response_type)),
        ]
        body = json.dumps({"message": message})
        if chosen is not None:
            status = chosen.status or status
            template = chosen.templates.get("application/json") or next(iter(chosen.templates.values()), None)
            if template is not None:
                body = _render_template(template, request_id, message, response_type)
            headers.extend(chosen.headers.items())
        return status, headers, body.encode()


def _error_type(response_type: str) -> str:
    return {"MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException"}.get(
        response_type, "InternalServerErrorException" if response_type.endswith("5XX") else response_type
    )


def _render_template(template: str, request_id: str, message: str, response_type: str) -> str:
    replacements = {
        "$context.requestId": request_id,
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.responseType": response_type,
    }
    for variable, value in replacements.items():
        template = template.replace(variable, value)
    return template


def _query_multi(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return values


def api_event(
    *,
    route: ApiRoute,
    path: str,
    incoming: _Incoming,
    path_parameters: dict[str, str],
    stage: str,
    account_id: str,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in incoming.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query = _query_multi(incoming.query)
    body: str | None = None
    is_base64 = False
    if incoming.body:
        try:
            body = incoming.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(incoming.body).decode(), True
    now = time.time()
    user_agent = headers.get("User-Agent") or next(
        (value for name, value in headers.items() if name.lower() == "user-agent"), None
    )
    host = next((value for name, value in headers.items() if name.lower() == "host"), "localhost")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": incoming.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": route.api_id.lower(),
            "resourceId": route.event_name.lower(),
            "resourcePath": route.path,
            "httpMethod": incoming.method,
            # Served at the root (like a custom domain mapping), so the path carries no stage prefix:
            # URLs the handlers build (Swagger's server, links) must work on this host as they are.
            "path": path,
            "stage": stage,
            "requestId": incoming.request_id,
            "extendedRequestId": incoming.request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "protocol": "HTTP/1.1",
            "domainName": host,
            "identity": {
                "sourceIp": incoming.source_ip,
                "userAgent": user_agent,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "accessKey": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


class MalformedResponseError(ValueError):
    """The handler's return value is not an API Gateway proxy response."""


def _proxy_response(result: Any, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        raise MalformedResponseError(f"handler returned {type(result).__name__}, not a proxy response")
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values or []:
            headers.append((str(name), str(value)))
        seen.add(str(name).lower())
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in seen:
            headers.append((str(name), str(value)))
    headers = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode("utf-8")
    return int(result["statusCode"]), headers, body


class _TrackingHTTPServer(ThreadingHTTPServer):
    """Keeps its open connections so that stopping also ends idle keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128  # the default (5) resets connections when a few dozen clients arrive at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.local_stopped = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    front: FrontServer
    protocol_version = "HTTP/1.1"
    # Write each response in one piece: headers and body in separate small writes meet the client's
    # delayed ACK (Nagle) and cost ~40 ms per keep-alive request.
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    server_version = "LocalApiGateway/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        if getattr(self.server, "local_stopped", False):
            self.close_connection = True
            self._write(503, [("Content-Type", "text/plain")], b"stopped")
            return
        read = self._read_body()
        if read is None:
            return
        body, too_large = read
        split = urlsplit(self.path)
        incoming = _Incoming(
            method=self.command,
            raw_path=split.path,
            query=split.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            too_large=too_large,
        )
        status, headers, payload = self.front.handle(incoming)
        self._write(status, headers, payload)

    def _read_body(self) -> tuple[bytes, bool] | None:
        """The request body and whether it is over the limit (``None``: already answered)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked()
            return (b"", True) if body is None else (body, False)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._write(400, [("Content-Type", "text/plain")], b"bad Content-Length")
            return None
        if length > MAX_BODY_BYTES:
            # Drain (without keeping) what will be refused anyway, so the client reads the answer.
            self.close_connection = True
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            return b"", True
        return (self.rfile.read(length) if length > 0 else b""), False

    def _read_chunked(self) -> bytes | None:
        """The de-chunked body, or ``None`` when it is over the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(65537)
            chunk_size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if chunk_size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts) if size <= MAX_BODY_BYTES else None
            data = self.rfile.read(chunk_size)
            self.rfile.readline(65537)
            size += len(data)
            if size <= MAX_BODY_BYTES:
                parts.append(data)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            self.send_response(status, _reason(status))
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
