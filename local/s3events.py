"""S3 event sources: an object created (or removed) in a template bucket invokes the function, as S3's
event notifications do.

For every ``Type: S3`` event of a template function, :func:`wire_s3` watches the requests moto answers
(the stack's moto observer) for the bucket: ``PutObject`` (also through a presigned URL),
``CopyObject``, ``CompleteMultipartUpload`` and ``DeleteObject``. Each one matching the event's
``Events`` (``s3:ObjectCreated:*``, ``s3:ObjectCreated:Put``, ``s3:ObjectRemoved:*`` ...) and ``Filter``
(``S3Key`` prefix / suffix rules) is delivered like an asynchronous invocation: off moto's request
thread, in S3's event shape (key URL-encoded, size, ETag, version id, sequencer), and retried twice on
error (after 1 and 2 seconds here; minutes on AWS).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus
from xml.etree import ElementTree

from local.aws import MotoExchange
from local.aws import client as moto_client
from local.cfn import EventSource, Template
from local.lambdas import LambdaRuntime

RETRY_DELAYS = (1.0, 2.0)


@dataclass(frozen=True)
class S3Source:
    function_id: str
    event_name: str
    bucket: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    @classmethod
    def from_event(cls, source: EventSource) -> S3Source:
        props = source.properties
        events = props.get("Events") or []
        rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        by_name = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
        return cls(
            function_id=source.function_id,
            event_name=source.name,
            bucket=str(props["Bucket"]),
            events=tuple([events] if isinstance(events, str) else events),
            prefix=by_name.get("prefix", ""),
            suffix=by_name.get("suffix", ""),
        )

    def wants(self, event_name: str, key: str) -> bool:
        name = f"s3:{event_name}"
        matches = any(
            name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))
            for pattern in self.events
        )
        return matches and key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True)
class ObjectEvent:
    event_name: str  # "ObjectCreated:Put", "ObjectRemoved:Delete", ...
    bucket: str
    key: str
    etag: str | None
    version: str | None
    size: int | None


def object_event(exchange: MotoExchange, buckets: set[str]) -> ObjectEvent | None:
    """What an exchange with moto did to an object of `buckets`, if anything S3 notifies about."""
    if exchange.status >= 300 or exchange.method not in ("PUT", "POST", "DELETE"):
        return None
    path = exchange.path.encode("latin-1", "replace").decode("utf-8", "replace")
    host = exchange.request_headers.get("host", "").split(":")[0]
    bucket, key = "", ""
    first = host.split(".")[0]
    if first in buckets and not host.replace(".", "").isdigit():  # virtual-hosted style
        bucket, key = first, path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    if bucket not in buckets or not key:
        return None
    query = dict(parse_qsl(exchange.query, keep_blank_values=True))
    subresources = {k for k in query if not k.lower().startswith("x-amz-") and k != "versionId"}
    version = exchange.response_headers.get("x-amz-version-id")
    etag = exchange.response_headers.get("etag")
    if exchange.method == "PUT" and not subresources:
        copied = "x-amz-copy-source" in exchange.request_headers
        size = None if copied else _put_size(exchange)
        return ObjectEvent(
            "ObjectCreated:Copy" if copied else "ObjectCreated:Put", bucket, key, etag, version, size
        )
    if exchange.method == "POST" and "uploadId" in query:
        return ObjectEvent(
            "ObjectCreated:CompleteMultipartUpload",
            bucket,
            key,
            _xml_etag(exchange.response_body),
            version,
            None,
        )
    if exchange.method == "DELETE" and not subresources:
        marker = exchange.response_headers.get("x-amz-delete-marker") == "true"
        name = "ObjectRemoved:DeleteMarkerCreated" if marker else "ObjectRemoved:Delete"
        return ObjectEvent(name, bucket, key, None, version, None)
    return None


def _put_size(exchange: MotoExchange) -> int | None:
    decoded = exchange.request_headers.get("x-amz-decoded-content-length")
    if decoded and decoded.isdigit():
        return int(decoded)
    if "aws-chunked" in exchange.request_headers.get("content-encoding", ""):
        return None
    return len(exchange.request_body)


def _xml_etag(body: bytes) -> str | None:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - moto's own reply
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if element.tag.endswith("ETag") and element.text:
            return element.text
    return None


def s3_event(event: ObjectEvent, source: S3Source, region: str, sequencer: int) -> dict[str, Any]:
    """S3's notification event (one record) for `event`, as Lambda receives it."""
    obj: dict[str, Any] = {"key": quote_plus(event.key, safe="/"), "sequencer": f"{sequencer:016X}"}
    if event.event_name.startswith("ObjectCreated"):
        obj["size"] = event.size or 0
        obj["eTag"] = (event.etag or "").strip('"')
    if event.version:
        obj["versionId"] = event.version
    request_id = uuid.uuid4().hex[:16].upper()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": event.event_name,
                "userIdentity": {"principalId": "AWS:LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": f"{source.function_id}{source.event_name}",
                    "bucket": {
                        "name": event.bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{event.bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


class S3Notifier:
    """Turns moto exchanges into S3 events for the template's S3 event sources."""

    def __init__(
        self, sources: list[S3Source], runtime: LambdaRuntime, endpoint_url: str, region: str
    ) -> None:
        self.sources = sources
        self.runtime = runtime
        self.endpoint_url = endpoint_url
        self.region = region
        self.buckets = {s.bucket for s in sources}
        self.delivered = 0
        self._queue: queue.Queue[ObjectEvent | None] = queue.Queue()
        self._sequencer = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name="s3-notifications", daemon=True)
        self._s3: Any = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    def observe(self, exchange: MotoExchange) -> None:
        """Called by moto's request thread (under its lock): only queue the event."""
        if exchange.method == "GET":
            return
        event = object_event(exchange, self.buckets)
        if event is not None:
            with self._idle:
                self._busy += 1
            self._queue.put(event)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every observed event was delivered (tests)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._deliver(event)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _complete(self, event: ObjectEvent) -> ObjectEvent:
        """Fill in size and ETag from the object itself when the request did not tell them."""
        if not event.event_name.startswith("ObjectCreated") or (event.size is not None and event.etag):
            return event
        if self._s3 is None:
            self._s3 = moto_client("s3", self.endpoint_url)
        kwargs: dict[str, Any] = {"Bucket": event.bucket, "Key": event.key}
        if event.version:
            kwargs["VersionId"] = event.version
        try:
            head = self._s3.head_object(**kwargs)
        except Exception:
            return event
        return ObjectEvent(
            event.event_name,
            event.bucket,
            event.key,
            event.etag or head.get("ETag"),
            event.version or head.get("VersionId"),
            int(head.get("ContentLength", 0)) if event.size is None else event.size,
        )

    def _deliver(self, event: ObjectEvent) -> None:
        targets = [
            s for s in self.sources if s.bucket == event.bucket and s.wants(event.event_name, event.key)
        ]
        if not targets:
            return
        event = self._complete(event)
        for source in targets:
            with self._lock:
                self._sequencer += 1
                sequencer = self._sequencer
            payload = s3_event(event, source, self.region, sequencer)
            function = self.runtime[source.function_id]
            for attempt in range(len(RETRY_DELAYS) + 1):
                try:
                    function.invoke(payload)
                    self.delivered += 1
                    break
                except Exception:
                    print(
                        f"local stack: {source.function_id} failed on {event.event_name} {event.key} "
                        f"(attempt {attempt + 1} of {len(RETRY_DELAYS) + 1}):"
                    )
                    traceback.print_exc()
                    if attempt < len(RETRY_DELAYS):
                        time.sleep(RETRY_DELAYS[attempt])


def wire_s3(context: Any, sources: list[EventSource]) -> None:
    """Deliver the template's S3 events (see the module's docstring)."""
    template: Template = context.template
    notifier = S3Notifier(
        [S3Source.from_event(s) for s in sources], context.runtime, context.endpoint_url, template.region
    )
    notifier.start()
    context.observers.append(notifier.observe)
    context.notifiers.append(notifier)

    def stop() -> None:
        if notifier.observe in context.observers:
            context.observers.remove(notifier.observe)
        notifier.stop()

    context.stoppers.append(stop)
