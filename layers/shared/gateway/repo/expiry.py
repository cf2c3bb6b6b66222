"""The expiry index (InventoryTable, ExpiryIndex) and the conditional writes of a release.

    exp_pk = EXP#<shard>        only on test IDs that are assigned, not started, and have an
    exp_sk = <due UTC>#<id>     `assigned-to.expire` (sparse: nothing else is in the index)

A release moves exp_sk to "!" + exp_sk and stores the event to publish (`pending_event`) in the same
conditional write; the entry leaves the index once the event is out. "!" sorts before any date, so a run
that crashed between the two finds the pending entry first and publishes it again (same event id).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import error_code, from_item, storage_error, to_item, values

INDEX = "ExpiryIndex"
SHARDS = 8
PENDING = "!"
# What a release clears (as inventory.release does, plus when and by whom it was assigned).
ASSIGNMENT = (
    "assigned_to, registration, track, product_code, email, email_lower, bcc, claim_id, "
    "assigned_at, assigned_by"
)


def _table() -> str:
    return get_settings().inventory_table


def shard_key(shard: int) -> str:
    return f"EXP#{shard}"


def due_page(
    shard: int, bound: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
    """One page of due entries of a shard (exp_sk <= bound), oldest first: (items, next start, items read)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": INDEX,
        "KeyConditionExpression": "exp_pk = :pk AND exp_sk <= :bound",
        "ExpressionAttributeValues": values({":pk": shard_key(shard), ":bound": bound}),
        "Limit": limit,
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        resp = aws.dynamodb().query(**kwargs)
    except ClientError as exc:
        raise storage_error(exc) from exc
    items = [from_item(i) for i in resp.get("Items", [])]
    return items, resp.get("LastEvaluatedKey"), int(resp.get("ScannedCount", len(items)))


def _update(
    test_id: str, expression: str, condition: str, names: dict[str, str], vals: dict[str, Any]
) -> bool:
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item({"pk": f"TID#{test_id}", "sk": "TID"}),
            UpdateExpression=expression,
            ConditionExpression=f"attribute_exists(pk) AND ({condition})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values(vals),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


def release(
    entry: dict[str, Any],
    password: str,
    available: dict[str, str],
    now: str,
    history: dict[str, Any],
    event: Any,
) -> bool:
    """Release the assignment `entry` (an index item) if it is still the same one and not started."""
    assigned_at = entry.get("assigned_at")
    same_assignment = "assigned_at = :assigned_at" if assigned_at else "attribute_not_exists(assigned_at)"
    vals: dict[str, Any] = {
        ":password": password,
        ":ready": "Ready",
        ":apk": available["avail_pk"],
        ":ask": available["avail_sk"],
        ":now": now,
        ":entry": [history],
        ":empty": [],
        ":pending": PENDING + entry["exp_sk"],
        ":event": event,
        ":sk": entry["exp_sk"],
        ":unit": entry["unit_id"],
    }
    if assigned_at:
        vals[":assigned_at"] = assigned_at
    return _update(
        entry["test_id"],
        "SET password = :password, #status = :ready, avail_pk = :apk, avail_sk = :ask, updated_at = :now, "
        "history = list_append(if_not_exists(history, :empty), :entry), exp_sk = :pending, "
        f"pending_event = :event REMOVE {ASSIGNMENT}",
        f"#status = :ready AND attribute_exists(assigned_to) AND exp_sk = :sk AND unit_id = :unit "
        f"AND {same_assignment}",
        {"#status": "status"},
        vals,
    )


def published(test_id: str, pending_sk: str) -> bool:
    """The event of a release is out: the entry leaves the index."""
    return _update(test_id, "REMOVE exp_pk, exp_sk, pending_event", "exp_sk = :sk", {}, {":sk": pending_sk})


def forget(test_id: str, exp_sk: str) -> bool:
    """Drop a stale entry (the test started, or was released some other way) so no run reads it again."""
    return _update(
        test_id,
        "REMOVE exp_pk, exp_sk",
        "exp_sk = :sk AND NOT (#status = :ready AND attribute_exists(assigned_to))",
        {"#status": "status"},
        {":sk": exp_sk, ":ready": "Ready"},
    )
