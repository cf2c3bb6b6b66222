"""Test IDs (InventoryTable).

    TID#<test id> / TID        one test ID; available ones carry avail_pk / avail_sk (AvailableIndex,
                               sparse, AVAIL#<unit>#<type>#<shard> / <random>); every one carries
                               tree_pk / tree_sk (TreeIndex, TIDS#<tree> / <unit path>; not unique)
    TTYPE#<tree>#<type> / TTYPE  a test type this organisation has held (tells "unknown" from "sold out")

A claim is one conditional UpdateItem that only succeeds while the item is still available, so no test
ID is ever handed out twice. Claimers start at a random shard (of 8) and a random end of it, take a batch
of keys and try them in random order, so concurrent callers spread over the pool instead of fighting over
its first item; each instance keeps the rest of its batch for its next claims (_Pool).
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import AlreadyExists, Unavailable
from gateway.repo import (
    decode_cursor,
    encode_cursor,
    error_code,
    from_item,
    storage_error,
    to_item,
    update_if,
    values,
)

SHARDS = 8
CANDIDATES_PER_QUERY = 100
POOL_SECONDS = 30.0
# Conditional misses one claim tolerates before giving up with a retryable 503. Each miss means another
# claimer took the candidate (or the index lagged); a few pooled batches' worth is far beyond normal
# contention (about 0.05 misses per claim under a 16-client race) and stops an index entry that never
# satisfies the condition from spinning the function until its timeout.
MAX_CLAIM_MISSES = 500
AVAILABLE_INDEX = "AvailableIndex"
TREE_INDEX = "TreeIndex"
READY = "Ready"
_AVAILABLE = "attribute_exists(avail_pk) AND #status = :ready AND attribute_not_exists(assigned_to)"


@dataclass(frozen=True)
class Unit:
    id: str
    path: str
    tree: str


def _table() -> str:
    return get_settings().inventory_table


def avail_pk(unit_id: str, test_type: str, shard: int) -> str:
    return f"AVAIL#{unit_id}#{test_type}#{shard}"


def available_keys(unit_id: str, test_type: str) -> dict[str, str]:
    return {
        "avail_pk": avail_pk(unit_id, test_type, random.randrange(SHARDS)),
        "avail_sk": secrets.token_hex(8),
    }


def new_test_id(unit: Unit, test_id: str, password: str, test_type: str, now: str, by: str) -> dict[str, Any]:
    return {
        "pk": f"TID#{test_id}",
        "sk": "TID",
        "entity": "test-id",
        "test_id": test_id,
        "password": password,
        "test_type": test_type,
        "status": READY,
        "unit_id": unit.id,
        "unit_path": unit.path,
        "tree": unit.tree,
        "tree_pk": f"TIDS#{unit.tree}",
        "tree_sk": unit.path,
        "created_at": now,
        "updated_at": now,
        "history": [{"at": now, "event": "added", "by": by}],
        **available_keys(unit.id, test_type),
    }


def put_new(item: dict[str, Any]) -> None:
    try:
        aws.dynamodb().put_item(
            TableName=_table(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise AlreadyExists(f"test-id: {item['test_id']} already exists") from exc
        raise storage_error(exc) from exc


def remember_type(tree: str, test_type: str) -> None:
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=to_item({"pk": f"TTYPE#{tree}#{test_type.lower()}", "sk": "TTYPE", "test_type": test_type}),
        )
    except ClientError as exc:
        raise storage_error(exc) from exc


def known_type(tree: str, test_type: str) -> str | None:
    """The test type as this organisation's inventory spells it (matched case-insensitively), or None when
    the organisation has never held it."""
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item({"pk": f"TTYPE#{tree}#{test_type.lower()}", "sk": "TTYPE"})
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return str(from_item(item).get("test_type") or test_type) if item else None


def get(test_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=to_item({"pk": f"TID#{test_id}", "sk": "TID"}))
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def _candidates(unit_id: str, test_type: str, shard: int) -> list[dict[str, Any]]:
    """A batch of available keys of one shard, read from a random end (one query; empty means the shard is
    sold out)."""
    try:
        resp = aws.dynamodb().query(
            TableName=_table(),
            IndexName=AVAILABLE_INDEX,
            Limit=CANDIDATES_PER_QUERY,
            KeyConditionExpression="avail_pk = :pk",
            ScanIndexForward=random.random() < 0.5,
            ExpressionAttributeValues=values({":pk": avail_pk(unit_id, test_type, shard)}),
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    keys: list[dict[str, Any]] = list(resp.get("Items", []))
    random.shuffle(keys)
    return keys


class _Pool:
    """Candidate keys this instance has read from the index but not used yet, per (unit, type).

    One index query yields up to 100 candidates (keys only: about one read unit); the next claims of this
    instance try those first, so a claim usually costs a single conditional write. A candidate someone else
    took meanwhile just fails its condition and is dropped; entries older than POOL_SECONDS are not
    trusted. Refills are single-flight: concurrent claimers of one instance wait for one refill instead of
    all querying at once, and share its verdict when it finds every shard empty.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._keys: dict[tuple[str, str], deque[tuple[float, dict[str, Any]]]] = {}
        # (pool, pk) pairs waiting in a queue: each is handed to one claimer. Per pool, not per pk: a test ID
        # moved to another unit (allocation) can sit in its old unit's queue and be fetched for its new one.
        self._pooled: set[tuple[tuple[str, str], str]] = set()
        self._refilling: set[tuple[str, str]] = set()
        self._rounds: dict[tuple[str, str], int] = {}
        self._sold_out: dict[tuple[str, str], bool] = {}

    def _pop(self, pool: tuple[str, str]) -> dict[str, Any] | None:
        queue = self._keys.get(pool)
        while queue:
            fetched, key = queue.popleft()
            self._pooled.discard((pool, key["pk"]["S"]))
            if time.monotonic() - fetched < POOL_SECONDS:
                return key
        return None

    def next_key(
        self, pool: tuple[str, str], fetch: Callable[[], list[dict[str, Any]]]
    ) -> dict[str, Any] | None:
        """A candidate key, refilling with `fetch` when empty; None when a refill found none."""
        while True:
            with self._cond:
                key = self._pop(pool)
                if key is not None:
                    return key
                if pool in self._refilling:
                    seen = self._rounds.get(pool, 0)
                    self._cond.wait_for(lambda: pool not in self._refilling)
                    if self._rounds.get(pool, 0) == seen + 1 and self._sold_out.get(pool):
                        return None  # the refill this claim waited for found every shard empty
                    continue
                self._refilling.add(pool)
            keys: list[dict[str, Any]] = []
            try:
                keys = fetch()
            finally:
                with self._cond:
                    self._refilling.discard(pool)
                    self._rounds[pool] = self._rounds.get(pool, 0) + 1
                    self._sold_out[pool] = not keys
                    now = time.monotonic()
                    queue = self._keys.setdefault(pool, deque())
                    for key in keys:
                        if (pool, key["pk"]["S"]) not in self._pooled:
                            self._pooled.add((pool, key["pk"]["S"]))
                            queue.append((now, key))
                    self._cond.notify_all()
            if not keys:
                return None

    def clear(self) -> None:
        with self._cond:
            self._keys.clear()
            self._pooled.clear()


pool = _Pool()


def _first_batch(unit_id: str, test_type: str) -> list[dict[str, Any]]:
    """The first non-empty batch from the shards, visited in random order; [] when all are empty."""
    shards = list(range(SHARDS))
    random.shuffle(shards)
    for shard in shards:
        batch = _candidates(unit_id, test_type, shard)
        if batch:
            return batch
    return []


def claim(
    unit_id: str, test_type: str, update: str, names: dict[str, str], vals: dict[str, Any]
) -> dict[str, Any] | None:
    """Take one available test ID of `test_type` in `unit_id`, applying `update` (which must also remove
    avail_pk / avail_sk or move them) in the same conditional write. None when none is available."""
    client = aws.dynamodb()
    for _ in range(MAX_CLAIM_MISSES):
        key = pool.next_key((unit_id, test_type), lambda: _first_batch(unit_id, test_type))
        if key is None:
            return None
        try:
            resp = client.update_item(
                TableName=_table(),
                Key={"pk": key["pk"], "sk": key["sk"]},
                UpdateExpression=update,
                ConditionExpression=_AVAILABLE + " AND unit_id = :from_unit",
                ExpressionAttributeNames={"#status": "status", **names},
                ExpressionAttributeValues=values({":ready": READY, ":from_unit": unit_id, **vals}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                continue  # someone else took it first: try the next candidate
            raise storage_error(exc) from exc
        return from_item(resp["Attributes"])
    raise Unavailable("test IDs of this type are being claimed concurrently; retry the request.")


def update(
    test_id: str, update_expression: str, condition: str, names: dict[str, str], vals: dict[str, Any]
) -> dict[str, Any] | None:
    """A conditional update of one test ID; None when the condition does not hold (or no such ID)."""
    return update_if(
        _table(),
        to_item({"pk": f"TID#{test_id}", "sk": "TID"}),
        UpdateExpression=update_expression,
        ConditionExpression=f"attribute_exists(pk) AND ({condition})",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values(vals),
    )


def count_available(unit_id: str, test_type: str) -> int:
    total = 0
    client = aws.dynamodb()
    for shard in range(SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": AVAILABLE_INDEX,
            "Select": "COUNT",
            "KeyConditionExpression": "avail_pk = :pk",
            "ExpressionAttributeValues": values({":pk": avail_pk(unit_id, test_type, shard)}),
        }
        while True:
            try:
                resp = client.query(**kwargs)
            except ClientError as exc:
                raise storage_error(exc) from exc
            total += resp["Count"]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return total


def subtree_page(
    tree: str, path: str, limit: int, cursor: str | None, filters: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the test IDs of a subtree, filtered (status, test type, availability, assigned e-mail)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": TREE_INDEX,
        "Limit": limit,
        "KeyConditionExpression": "tree_pk = :pk AND begins_with(tree_sk, :path)",
    }
    vals: dict[str, Any] = {":pk": f"TIDS#{tree}", ":path": path}
    names: dict[str, str] = {}
    conditions = []
    if filters.get("status"):
        conditions.append("#status = :status")
        names["#status"] = "status"
        vals[":status"] = filters["status"]
    if filters.get("test_type"):
        conditions.append("test_type = :type")
        vals[":type"] = filters["test_type"]
    if filters.get("available") is True:
        conditions.append("attribute_exists(avail_pk)")
    elif filters.get("available") is False:
        conditions.append("attribute_not_exists(avail_pk)")
    if filters.get("email"):
        conditions.append("email_lower = :email")
        vals[":email"] = str(filters["email"]).casefold()
    if conditions:
        kwargs["FilterExpression"] = " AND ".join(conditions)
    if names:
        kwargs["ExpressionAttributeNames"] = names
    kwargs["ExpressionAttributeValues"] = values(vals)
    start = decode_cursor(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        resp = aws.dynamodb().query(**kwargs)
    except ClientError as exc:
        raise storage_error(exc) from exc
    return [from_item(i) for i in resp.get("Items", [])], encode_cursor(resp.get("LastEvaluatedKey"))


def subtree_all(tree: str, path: str) -> Iterator[dict[str, Any]]:
    """Type, status and availability of every test ID of a subtree (for counts)."""
    paginator = aws.dynamodb().get_paginator("query")
    try:
        for page in paginator.paginate(
            TableName=_table(),
            IndexName=TREE_INDEX,
            ProjectionExpression=(
                "test_type, #status, avail_pk, assigned_to, unit_id, assigned_at, product_code"
            ),
            ExpressionAttributeNames={"#status": "status"},
            KeyConditionExpression="tree_pk = :pk AND begins_with(tree_sk, :path)",
            ExpressionAttributeValues=values({":pk": f"TIDS#{tree}", ":path": path}),
        ):
            for item in page.get("Items", []):
                yield from_item(item)
    except ClientError as exc:
        raise storage_error(exc) from exc
