"""Event builders and an in-process API client: the one place tests build API Gateway events."""

from __future__ import annotations

import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cfn import Template
from local.server import compile_route

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """An API Gateway REST (v1 payload) proxy event."""
    all_headers = {"content-type": content_type} if body is not None else {}
    if key is not None:
        all_headers["x-api-key"] = key
    all_headers.update(headers or {})
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "dev",
            "httpMethod": method,
            "path": f"/dev{path}",
            "resourcePath": resource or path,
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LambdaContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def description(self) -> str:
        return str(self.json().get("description", ""))


@dataclass
class ApiClient:
    """Calls the template's handlers in-process, routing by the template's Api events as API Gateway does."""

    template: Template
    key: str | None = None
    modules: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.functions = self.template.functions()
        # The local stack's own matching: most specific path first, an exact method before ANY.
        self.routes = sorted(
            (compile_route(route) for route in self.template.api_routes()),
            key=lambda compiled: (compiled.rank, compiled.route.method == "ANY"),
        )

    def handler(self, function_id: str) -> Any:
        if function_id not in self.modules:
            spec = self.functions[function_id]
            module_spec = importlib.util.spec_from_file_location(f"fn_{function_id}", spec.handler_file)
            assert module_spec and module_spec.loader
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            self.modules[function_id] = getattr(module, spec.handler_function)
        return self.modules[function_id]

    def call(
        self, method: str, path: str, body: Any = None, *, key: str | None = "default", **kwargs: Any
    ) -> Reply:
        key = self.key if key == "default" else key
        for compiled in self.routes:
            parameters = compiled.match(path.split("?")[0].rstrip("/") or "/")
            if parameters is not None and compiled.route.method in ("ANY", method.upper()):
                event = api_event(method, path, body, key=key, path_parameters=parameters or None, **kwargs)
                reply = self.handler(compiled.route.function_id)(event, LambdaContext())
                headers = {k.lower(): v for k, v in (reply.get("headers") or {}).items()}
                for name, many in (reply.get("multiValueHeaders") or {}).items():
                    headers.setdefault(name.lower(), ", ".join(many))
                return Reply(reply["statusCode"], headers, reply.get("body") or "")
        return Reply(
            404, {}, json.dumps({"statuscode": "404.1", "description": "No route matches this path."})
        )

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.call("DELETE", path, **kwargs)

    def as_key(self, key: str | None) -> ApiClient:
        other = ApiClient(self.template, key, self.modules)
        return other


class Receiver:
    """A customer's endpoint on 127.0.0.1: records every request, answers from a script of replies."""

    def __init__(self, replies: list[int] | None = None, default: int = 200) -> None:
        import http.server
        import threading

        self.requests: list[dict[str, Any]] = []
        self.replies = list(replies or [])
        self.default = default
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status = receiver.replies.pop(0) if receiver.replies else receiver.default
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------------
# S3, SQS and schedule events (the shapes Lambda receives; the local stack builds the same ones)
# ---------------------------------------------------------------------------------------------------------
def s3_object_event(
    bucket: str, key: str, size: int, etag: str, version: str | None = None, name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    """S3's event notification for one object, as the import function receives it."""
    from local.s3events import ObjectEvent, S3Source, s3_event

    source = S3Source("ImportFunction", "Upload", bucket, ("s3:ObjectCreated:*",))
    return s3_event(ObjectEvent(name, bucket, key, etag, version, size), source, "us-east-1", 1)


def sqs_batch_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event for messages as ReceiveMessage returned them."""
    from local.sqs import sqs_event

    return sqs_event(messages, queue_arn, "us-east-1")


def scheduled_event(
    rule_arn: str = "arn:aws:events:us-east-1:123456789012:rule/ExpiryFunctionEvery15Minutes",
):
    """EventBridge's scheduled event (what a `Schedule` rule sends)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


# ------------------------------------------------------------------------------------------- spreadsheets
_SPREADSHEET = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def xlsx_package(
    sheet_xml: str, shared_strings_xml: str | None = None, styles_xml: str | None = None
) -> bytes:
    """A minimal XLSX around hand-written parts: one worksheet, optional shared strings and styles. openpyxl
    writes text as inline strings; Excel (and most vendor exports) write it to the shared-strings table."""
    import io
    import zipfile

    parts = {"worksheets/sheet1.xml": ("worksheet", sheet_xml)}
    if shared_strings_xml is not None:
        parts["sharedStrings.xml"] = ("sharedStrings", shared_strings_xml)
    if styles_xml is not None:
        parts["styles.xml"] = ("styles", styles_xml)
    overrides = "".join(
        f'<Override PartName="/xl/{name}" ContentType="{_TYPE}.{kind}+xml"/>'
        for name, (kind, _) in parts.items()
    )
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{_RELATION}/{kind}" Target="{name}"/>'
        for i, (name, (kind, _)) in enumerate(parts.items(), start=1)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{_PACKAGE}/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>{overrides}</Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PACKAGE}/relationships"><Relationship Id="rId1" '
            f'Type="{_RELATION}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_SPREADSHEET}" xmlns:r="{_RELATION}"><sheets>'
            '<sheet name="Available Tests" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PACKAGE}/relationships">{relations}</Relationships>',
        )
        for name, (_kind, xml) in parts.items():
            archive.writestr(f"xl/{name}", xml)
    return out.getvalue()


def xlsx_shared_strings_file(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    """An XLSX of `rows` under a header as Excel writes one: text in the shared-strings table, numbers as
    numbers, empty cells left out."""
    from xml.sax.saxutils import escape

    strings: dict[str, int] = {}
    lines = []
    for number, values in enumerate(
        [header or ["Test ID", "Password", "Test Type", "Status", "Assigned To"], *rows], 1
    ):
        cells = []
        for column, value in enumerate(values):
            ref = f"{chr(ord('A') + column)}{number}"
            if value is None or value == "":
                continue
            if isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                index = strings.setdefault(str(value), len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
        lines.append(f'<row r="{number}">{"".join(cells)}</row>')
    sheet = f'<worksheet xmlns="{_SPREADSHEET}"><sheetData>{"".join(lines)}</sheetData></worksheet>'
    shared = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
    return xlsx_package(sheet, f'<sst xmlns="{_SPREADSHEET}" uniqueCount="{len(strings)}">{shared}</sst>')
