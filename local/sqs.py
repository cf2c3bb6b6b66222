"""SQS event sources, as Lambda's event source mapping runs them: poll, invoke with a batch, delete.

For every ``Type: SQS`` event of a template function, :func:`wire_sqs` starts a :class:`QueuePoller`:

- **Batches**: up to ``BatchSize`` messages (default 10) per invocation, in Lambda's SQS event shape
  (``messageId``, ``receiptHandle``, ``body``, ``attributes`` with ``ApproximateReceiveCount``,
  ``messageAttributes``, ``eventSource: aws:sqs``, ``eventSourceARN``, ...).
- **Success** deletes the whole batch. **A raised exception** deletes nothing: every message of the batch
  becomes visible again after the queue's ``VisibilityTimeout`` and is redelivered.
- **Partial failures**: with ``FunctionResponseTypes: [ReportBatchItemFailures]``, a reply
  ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}`` deletes all but those; a reply naming
  an id that is not in the batch (or an empty id) fails the whole batch, as Lambda does. Without the
  setting the reply is ignored and the batch is deleted.
- **Dead letters**: moto keeps the queue's ``RedrivePolicy``: a message received ``maxReceiveCount``
  times moves to the dead-letter queue at its next receive.
- ``Enabled: false`` is honoured; ``MaximumBatchingWindowInSeconds`` is ignored (batches go out as soon
  as they are read).
- **Scaling**: Lambda starts five batches at once on a queue with a backlog and scales from there (up to
  ``ScalingConfig.MaximumConcurrency`` when set). Here a queue has up to that many pollers (default 5, at
  most 8), each invoking the function on a batch of its own: one polls all the time; the others poll only
  while there is a backlog (the last receive filled a batch, or a message was just sent to the queue) and
  go quiet when the queue is empty, so idle queues cost one short poll per ``idle_seconds``.

Polls are short (``WaitTimeSeconds=0``: moto runs one request at a time, so a long poll would stall every
other call); an idle poller looks again every ``idle_seconds`` and at once when the stack sees a message
sent to its queue (the stack's moto observer calls :meth:`QueuePoller.wake`), unless the message was sent
with a delay: it cannot be received before then, and the regular polls find it when it is due.
"""

from __future__ import annotations

import base64
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.aws import MotoExchange
from local.aws import client as moto_client
from local.cfn import EventSource, Template
from local.lambdas import LocalFunction

MAX_RECEIVE = 10  # SQS's limit per ReceiveMessage
DEFAULT_CONCURRENCY = 5  # batches Lambda runs at once on a queue with a backlog, at first
MAX_CONCURRENCY = 8
SEND_OPERATIONS = (
    "SendMessage",
    "SendMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
)
_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


@dataclass(frozen=True)
class SqsSource:
    """One SQS event source of the template, resolved."""

    function_id: str
    event_name: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    report_failures: bool = False
    enabled: bool = True
    concurrency: int = 1

    @classmethod
    def from_event(cls, template: Template, source: EventSource) -> SqsSource:
        props = source.properties
        queue_arn = str(props["Queue"])
        name = queue_arn.rsplit(":", 1)[-1]
        endpoint = (template.endpoint_url or "").rstrip("/")
        scaling = props.get("ScalingConfig") or {}
        return cls(
            function_id=source.function_id,
            event_name=source.name,
            queue_arn=queue_arn,
            queue_url=f"{endpoint}/{template.account_id}/{name}",
            batch_size=max(1, int(props.get("BatchSize", 10))),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            enabled=str(props.get("Enabled", True)).lower() != "false",
            concurrency=max(
                1, min(MAX_CONCURRENCY, int(scaling.get("MaximumConcurrency", DEFAULT_CONCURRENCY)))
            ),
        )


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for messages as ReceiveMessage returned them."""
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message.get("Body", ""),
                "attributes": {k: str(attributes[k]) for k in _SYSTEM_ATTRIBUTES if k in attributes},
                "messageAttributes": {
                    name: _message_attribute(value)
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [
            base64.b64encode(b).decode() if isinstance(b, bytes) else b
            for b in value.get("BinaryListValues") or []
        ],
        "dataType": value.get("DataType", "String"),
    }


def failed_ids(reply: Any, batch_ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures reply names; None when it fails the whole batch."""
    if not isinstance(reply, dict) or not reply.get("batchItemFailures"):
        return set()
    failures = reply["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    ids = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in batch_ids:
            return None  # Lambda treats a malformed reply as a failure of the whole batch
        ids.add(str(item))
    return ids


class QueuePoller:
    """Polls one queue for one function (``concurrency`` threads)."""

    def __init__(
        self,
        source: SqsSource,
        function: LocalFunction,
        endpoint_url: str,
        region: str,
        idle_seconds: float = 1.0,
    ) -> None:
        self.source = source
        self.function = function
        self.endpoint_url = endpoint_url
        self.region = region
        self.idle_seconds = idle_seconds
        self.invocations = 0
        self._wake = threading.Event()
        self._backlog = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _sqs(self) -> Any:
        """One client for the poller's threads (botocore clients are thread-safe; its pool holds a
        connection per thread). Building one costs tens of milliseconds of loading service models."""
        with self._client_lock:
            if self._client is None:
                self._client = moto_client("sqs", self.endpoint_url)
            return self._client

    def start(self) -> None:
        for index in range(self.source.concurrency):
            thread = threading.Thread(
                target=self._loop if index == 0 else self._helper_loop,
                name=f"sqs-{self.source.function_id}-{self.source.event_name}-{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._backlog.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def wake(self) -> None:
        self._wake.set()
        self._backlog.set()

    def _poll_safely(self) -> int:
        try:
            return self.poll_once()
        except Exception as exc:  # moto going away on stop, or a bug: keep the poller alive
            if not self._stop.is_set():
                print(f"local stack: polling {self.source.queue_url} failed: {exc!r}")
            return 0

    def _loop(self) -> None:
        """The poller that always polls: at once after a batch, else every idle_seconds or on a wake."""
        while not self._stop.is_set():
            self._wake.clear()
            handled = self._poll_safely()
            if handled >= self.source.batch_size:
                self._backlog.set()  # a full batch: there may be more, let the others help
            if handled == 0:
                self._wake.wait(self.idle_seconds)

    def _helper_loop(self) -> None:
        """The others: poll while there is a backlog, then wait until there is one again."""
        while not self._stop.is_set():
            self._backlog.wait()
            if self._stop.is_set():
                return
            if self._poll_safely() == 0:
                self._backlog.clear()

    def receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            got = (
                self._sqs()
                .receive_message(
                    QueueUrl=self.source.queue_url,
                    MaxNumberOfMessages=min(MAX_RECEIVE, self.source.batch_size - len(messages)),
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                .get("Messages", [])
            )
            messages.extend(got)
            if len(got) < MAX_RECEIVE:
                break
        return messages

    def poll_once(self) -> int:
        """Receive one batch and run it through the function; the number of messages handled."""
        messages = self.receive()
        if not messages:
            return 0
        event = sqs_event(messages, self.source.queue_arn, self.region)
        ids = {m["MessageId"] for m in messages}
        self.invocations += 1
        try:
            reply = self.function.invoke(event)
        except Exception:
            print(
                f"local stack: {self.source.function_id} failed on a batch of {len(messages)} from "
                f"{self.source.queue_arn.rsplit(':', 1)[-1]}; "
                "the messages come back after the visibility timeout:"
            )
            traceback.print_exc()
            return len(messages)
        failed: set[str] | None = failed_ids(reply, ids) if self.source.report_failures else set()
        if failed is None:
            print(f"local stack: {self.source.function_id} replied {reply!r}: the whole batch failed")
            return len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            self._sqs().delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + MAX_RECEIVE])
                ],
            )
        return len(messages)

    def drain(self, timeout: float = 30.0) -> None:
        """Poll in the caller's thread until the queue has nothing visible (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.poll_once():
            pass


def wire_sqs(context: Any, sources: list[EventSource]) -> None:
    """Start a poller for each SQS event source (see the module's docstring for the behaviour)."""
    template: Template = context.template
    pollers: list[QueuePoller] = []
    for event_source in sources:
        source = SqsSource.from_event(template, event_source)
        if not source.enabled:
            print(f"local stack: {source.function_id}.{source.event_name} is disabled (Enabled: false)")
            continue
        poller = QueuePoller(
            source, context.runtime[source.function_id], context.endpoint_url, template.region
        )
        poller.start()
        pollers.append(poller)
        context.pollers.append(poller)
        context.stoppers.append(poller.stop)

    def observe(exchange: MotoExchange) -> None:
        if exchange.operation in SEND_OPERATIONS and exchange.status < 300 and _visible_now(exchange):
            queue = _queue_name(exchange)
            for poller in pollers:
                if queue is None or poller.source.queue_url.rsplit("/", 1)[-1] == queue:
                    poller.wake()

    context.observers.append(observe)
    context.stoppers.append(lambda: _discard(context.observers, observe))


def _fields(exchange: MotoExchange) -> dict[str, Any]:
    """The request's parameters: the JSON body, or the query protocol's form (first value of each)."""
    import json
    from urllib.parse import parse_qs

    try:
        found = json.loads(exchange.request_body or b"{}")
    except ValueError:
        form = parse_qs(exchange.request_body.decode("utf-8", "replace"))
        return {key: values[0] for key, values in form.items()}
    return found if isinstance(found, dict) else {}


def _queue_name(exchange: MotoExchange) -> str | None:
    """The name of the queue a send went to (JSON or query protocol), None when it cannot be told."""
    url = _fields(exchange).get("QueueUrl")
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def _seconds(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _visible_now(exchange: MotoExchange) -> bool:
    """Whether a send may have made a message receivable at once. Not when every message it sent is
    delayed (``DelaySeconds`` > 0: a retry scheduled for later) or every visibility change hides the
    message again: a poller woken now would find nothing, and its regular polls (every ``idle_seconds``)
    pick the message up when it is due, as they would have anyway. When in doubt (query-protocol batches),
    yes."""
    fields = _fields(exchange)
    operation = exchange.operation or ""
    name = "DelaySeconds" if operation.startswith("SendMessage") else "VisibilityTimeout"
    entries = fields.get("Entries") if operation.endswith("Batch") else [fields]
    if not isinstance(entries, list) or not entries:
        return True
    return any(not isinstance(entry, dict) or _seconds(entry.get(name)) == 0 for entry in entries)


def _discard(items: list[Callable[..., Any]], item: Callable[..., Any]) -> None:
    if item in items:
        items.remove(item)
