"""Domain events: what happened, put on the events queue (SQS) for delivery and notification workers.

Every event has a deterministic id chosen by the producer (e.g. "assignment.expired:<test id>:<assigned
at>"), so a producer that retries after a crash publishes the same id again and consumers de-duplicate on
it. Publishing is at least once; consumers are idempotent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable

ASSIGNMENT_EXPIRED = "assignment.expired"
INVENTORY_LOW = "inventory.low"
ENDPOINT_DISABLED = "endpoint.disabled"


def envelope(event_id: str, kind: str, unit_id: str, unit_path: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "occurred-at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "org-unit": unit_id,
        "unit-path": unit_path,
        "data": data,
    }


def publish(event_id: str, kind: str, unit_id: str, unit_path: str, data: dict[str, Any]) -> dict[str, Any]:
    """Put one event on the events queue; returns it. A failure is a 503 (the caller's work may retry)."""
    event = envelope(event_id, kind, unit_id, unit_path, data)
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().events_queue_url,
            MessageBody=json.dumps(event, separators=(",", ":")),
            MessageAttributes={"type": {"DataType": "String", "StringValue": kind}},
        )
    except ClientError as exc:
        raise Unavailable("events: the event queue is unavailable; retry") from exc
    return event
