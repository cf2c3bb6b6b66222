"""moto's server, in-process and serialised, plus the process environment that points boto3 at it.

moto's threaded server lets two requests run the same backend code at once, which breaks DynamoDB's
conditional-write guarantee (measured: 8 clients racing for 300 items got 304 "successful" claims).
:class:`SerialisedApp` runs one request at a time through moto, from reading the request to the last
byte of the response, under :data:`MOTO_LOCK`. Request and response bodies are buffered outside the
lock so a slow client cannot stall the others.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.cfn import DEFAULT_ACCOUNT_ID

REGION = "us-east-1"
ACCOUNT_ID = DEFAULT_ACCOUNT_ID  # moto's default account

#: The one lock every request to moto (and every in-process read of moto's backends) holds. It is
#: process-wide on purpose: moto's backends are process-global too.
MOTO_LOCK = threading.RLock()

_READ_OPERATIONS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Receive", "Head")


@dataclass(frozen=True)
class MotoExchange:
    """One request moto answered, handed to the observers of :class:`SerialisedApp`."""

    method: str
    path: str
    operation: str | None  # X-Amz-Target operation or query-protocol Action, when there is one
    request_body: bytes
    status: int
    response_body: bytes
    query: str = ""
    request_headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    response_headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def mutating(self) -> bool:
        """Whether the request may have changed state (anything but reads)."""
        if self.method in ("GET", "HEAD", "OPTIONS"):
            return False
        return not (self.operation and self.operation.startswith(_READ_OPERATIONS))


Observer = Callable[[MotoExchange], None]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialisedApp:
    """WSGI middleware: one request at a time through ``app``; observers see every exchange."""

    def __init__(self, app: WSGIApp, lock: threading.RLock = MOTO_LOCK) -> None:
        self._app = app
        self._lock = lock
        self.observers: list[Observer] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        started: list[Any] = []
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = [status, headers, exc_info]
            return chunks.append

        with self._lock:
            result = self._app(environ, capture)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            exchange = MotoExchange(
                method=environ.get("REQUEST_METHOD", "GET"),
                path=environ.get("PATH_INFO", ""),
                operation=_operation(environ, body),
                request_body=body,
                status=int(str(started[0]).split()[0]) if started else 500,
                response_body=b"".join(chunks),
                query=str(environ.get("QUERY_STRING", "")),
                request_headers=_request_headers(environ),
                response_headers={str(k).lower(): str(v) for k, v in (started[1] if started else [])},
            )
            for observer in list(self.observers):
                try:
                    observer(exchange)
                except Exception as exc:  # an observer must never break moto
                    print(f"local stack: observer {observer!r} failed: {exc!r}")
        start_response(*started)
        return [exchange.response_body]


def _request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return bytes(stream.read(length)) if length > 0 else b""


def _operation(environ: Mapping[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return str(query["Action"][0])
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return None


class _QuietMotoRequestHandler(MotoRequestHandler):
    """moto's request handler without one log line per request, keeping connections open between requests;
    refuses work once stopped.

    werkzeug's server answers every request with ``Connection: close`` (its streaming replies cannot tell
    where a reply ends otherwise), so each boto3 call paid a new TCP connection and a new server thread,
    and left a socket in TIME_WAIT: about 25 per fault-run result. The app here (:class:`SerialisedApp`)
    reads the whole request body and buffers the whole reply, so :meth:`run_wsgi` sends the reply with its
    length and the connection serves the client's next request (HTTP/1.1 keep-alive, which botocore uses).
    """

    # HTTP/1.1 keep-alive (botocore reuses its connections) and no Nagle delay on small replies.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        open_connections = getattr(self.server, "local_connections", None)
        if open_connections is not None:
            with _CONNECTIONS_LOCK:
                open_connections.add(self.connection)

    def finish(self) -> None:
        open_connections = getattr(self.server, "local_connections", None)
        if open_connections is not None:
            with _CONNECTIONS_LOCK:
                open_connections.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if getattr(self.server, "local_stopped", False):
            # A keep-alive connection that outlived its server: send the client elsewhere.
            self.close_connection = True
            self.send_error(503, "moto server stopped")
            return False
        return True

    def run_wsgi(self) -> None:
        """One request through the (buffering) app; the reply carries its length, the connection stays
        open unless the client asked to close it (or the app failed)."""
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        reply: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            reply[:] = [status, headers]
            return _unsupported_write

        try:
            result = self.server.app(environ, start_response)  # type: ignore[attr-defined]
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = reply
        except Exception:
            self.close_connection = True
            print("local stack: moto failed on a request:")
            traceback.print_exc()
            self.send_error(500, "moto failed on the request")
            return
        code_text, _, reason = str(status).partition(" ")
        code = int(code_text)
        bodiless = self.command == "HEAD" or 100 <= code < 200 or code in (204, 304)
        self.send_response(code, reason)
        for key, value in headers:
            name = key.lower()
            if name in ("connection", "transfer-encoding") or (name == "content-length" and not bodiless):
                continue  # a HEAD reply keeps the length of what a GET would return
            self.send_header(key, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodiless:
            self.wfile.write(body)
        self.wfile.flush()


def _unsupported_write(data: bytes) -> None:
    raise RuntimeError("the local moto server takes replies from the app's result, not write()")


_CONNECTIONS_LOCK = threading.Lock()
_last_port: int | None = None


class MotoServer:
    """moto's server on a werkzeug threaded server, in this process, one request at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from local import motopatch

        motopatch.install()  # transactions and SQS calls whose cost does not grow with table or queue size
        self.host = host
        self.requested_port = port
        self.app = SerialisedApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("moto server is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        global _last_port
        self._server = self._bind()
        _last_port = self.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="moto-server", daemon=True
        )
        self._thread.start()

    def _bind(self) -> BaseWSGIServer:
        # Within one process, reuse the previous port when free: code that cached a client or a queue
        # URL from an earlier stack (tests that restart it) keeps working.
        candidates = (
            [self.requested_port] if self.requested_port else [p for p in (_last_port, 0) if p is not None]
        )
        for index, port in enumerate(candidates):
            try:
                server = make_server(
                    self.host, port, self.app, threaded=True, request_handler=_QuietMotoRequestHandler
                )
                server.local_connections = set()  # type: ignore[attr-defined]
                return server
            except (OSError, SystemExit) as exc:  # werkzeug exits (SystemExit) when the port is taken
                if index == len(candidates) - 1:
                    if isinstance(exc, SystemExit):
                        raise OSError(f"cannot serve moto on {self.host}:{port}: the port is in use") from exc
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self._server is not None:
            self._server.local_stopped = True  # type: ignore[attr-defined]
            self._server.shutdown()
            self._server.server_close()
            # Connections kept open for the clients' next requests: closed, so their threads end and
            # the clients open new ones (to the next server on this port, if any).
            with _CONNECTIONS_LOCK:
                kept = list(self._server.local_connections)  # type: ignore[attr-defined]
            for connection in kept:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


def table_items(table: str, account_id: str = ACCOUNT_ID, region: str = REGION) -> list[dict[str, Any]]:
    """Every item of a moto table, read from moto's backend in this process (under :data:`MOTO_LOCK`),
    as JSON-safe DynamoDB typed JSON (binary as base64 text, like :func:`local.state.encode_item`).

    A snapshot reads tables this way instead of paging a ``Scan`` through moto's server: no HTTP, no
    response serializer, so its cost is a small fraction of a Scan's and it holds the lock for that long.
    """
    from moto.dynamodb.models import dynamodb_backends

    with MOTO_LOCK:
        found = dynamodb_backends[account_id][region].tables.get(table)
        if found is None:
            raise LookupError(f"no table {table}")
        return [{name: _typed(value) for name, value in item.attrs.items()} for item in found.all_items()]


def _typed(value: Any) -> dict[str, Any]:
    """A moto ``DynamoType`` as typed JSON. moto keeps binary as bytes or as the base64 text it was sent
    as (nested values), so both are accepted."""
    kind, data = value.type, value.value
    if kind == "B":
        return {"B": _base64(data)}
    if kind == "BS":
        return {"BS": [_base64(each) for each in data]}
    if kind == "M":
        return {"M": {key: _typed(each) for key, each in data.items()}}
    if kind == "L":
        return {"L": [_typed(each) for each in data]}
    if kind in ("SS", "NS"):
        return {kind: list(data)}
    return {kind: data}


def _base64(data: Any) -> str:
    import base64

    return data if isinstance(data, str) else base64.b64encode(bytes(data)).decode()


def reset_moto() -> None:
    """Forget everything moto holds in this process (all services, all accounts)."""
    from moto.core.base_backend import BackendDict
    from moto.core.models import reset_model_data  # type: ignore[attr-defined]

    with MOTO_LOCK:
        BackendDict.reset()
        reset_model_data()


def aws_environment(endpoint_url: str) -> dict[str, str | None]:
    """Process environment that points every boto3 client at ``endpoint_url`` (``None`` = unset)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
    }


class EnvironmentPatch:
    """Set process environment variables and put the previous values back on :meth:`restore`."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


def client(service: str, endpoint_url: str) -> Any:
    """A boto3 low-level client for moto that does not depend on the process environment."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )
