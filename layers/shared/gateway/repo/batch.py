"""BatchWriteItem and BatchGetItem as DynamoDB wants them: at most 25 writes / 100 keys per call,
unprocessed items and keys retried with capped exponential backoff (full jitter), throttling survived.

moto accepts a 26-item BatchWriteItem and never throttles; real DynamoDB refuses the first and does the
second. So the limits are enforced here, and the tests inject throttling and unprocessed items through
botocore's event hooks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.errors import Unavailable
from gateway.repo import THROTTLING, error_code, storage_error

MAX_WRITE = 25
MAX_GET = 100
BASE_DELAY = 0.05
MAX_DELAY = 5.0
MAX_ATTEMPTS = 12  # about 30 s of backoff before giving up on one batch

sleep: Callable[[float], None] = time.sleep  # tests replace it to skip the waits


@dataclass
class Stats:
    """What the batches cost: calls, throttled calls and retries of unprocessed items."""

    write_calls: int = 0
    get_calls: int = 0
    throttled: int = 0
    retries: int = 0

    def add(self, other: Stats) -> None:
        self.write_calls += other.write_calls
        self.get_calls += other.get_calls
        self.throttled += other.throttled
        self.retries += other.retries


def attribute(value: Any) -> dict[str, Any]:
    """One value as a low-level DynamoDB attribute: what boto3's TypeSerializer (gateway.repo.to_item)
    gives for the JSON-like values items hold, several times faster (bulk writes serialise every row)."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        if not number.is_finite():
            raise TypeError("Infinity and NaN are not supported")
        return {"N": str(number)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute(v) for v in value]}
    if isinstance(value, set | frozenset) and all(isinstance(v, str) for v in value):
        return {"SS": sorted(value)}
    if isinstance(value, bytes):
        return {"B": value}
    raise TypeError(f"cannot store {type(value).__name__}")


def item(data: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level item from a plain one (None attributes left out, as gateway.repo.to_item does)."""
    return {name: attribute(value) for name, value in data.items() if value is not None}


def _backoff(attempt: int, what: str) -> int:
    if attempt + 1 >= MAX_ATTEMPTS:
        raise Unavailable(f"The data store is busy ({what} kept being throttled); retry later.")
    sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt)))
    return attempt + 1


def write(table: str, items: Sequence[dict[str, Any]], stats: Stats | None = None) -> Stats:
    """Put `items` (low-level attribute maps with distinct keys), 25 per call, until all are written."""
    stats = stats or Stats()
    client = aws.dynamodb()
    for start in range(0, len(items), MAX_WRITE):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + MAX_WRITE]]
        }
        attempt = 0
        while pending:
            if sum(len(requests) for requests in pending.values()) > MAX_WRITE:
                raise AssertionError("a BatchWriteItem call never carries more than 25 items")
            try:
                resp = client.batch_write_item(RequestItems=pending)
            except ClientError as exc:
                if error_code(exc) not in THROTTLING:
                    raise storage_error(exc) from exc
                stats.throttled += 1
                attempt = _backoff(attempt, "BatchWriteItem")
                continue
            stats.write_calls += 1
            pending = {t: r for t, r in (resp.get("UnprocessedItems") or {}).items() if r}
            if pending:
                stats.retries += 1
                attempt = _backoff(attempt, "BatchWriteItem")
    return stats


def get(
    table: str,
    keys: Iterable[dict[str, Any]],
    projection: str | None = None,
    names: dict[str, str] | None = None,
    stats: Stats | None = None,
) -> list[dict[str, Any]]:
    """The items that exist among `keys` (low-level), 100 keys per call, consistent reads."""
    stats = stats or Stats()
    client = aws.dynamodb()
    keys = list(keys)
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), MAX_GET):
        request: dict[str, Any] = {"Keys": keys[start : start + MAX_GET], "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        attempt = 0
        while pending:
            try:
                resp = client.batch_get_item(RequestItems=pending)
            except ClientError as exc:
                if error_code(exc) not in THROTTLING:
                    raise storage_error(exc) from exc
                stats.throttled += 1
                attempt = _backoff(attempt, "BatchGetItem")
                continue
            stats.get_calls += 1
            found.extend(resp.get("Responses", {}).get(table, []))
            pending = {t: r for t, r in (resp.get("UnprocessedKeys") or {}).items() if r.get("Keys")}
            if pending:
                stats.retries += 1
                attempt = _backoff(attempt, "BatchGetItem")
    return found
