"""Deliveries (DeliveriesTable): one item per (event, endpoint), one per attempt.

    DLV#<id> / DLV            the delivery: endpoint, body, status, attempts, next attempt, the latest
                              attempts (`attempt_log`, for listings); gsi1 =
                              DLVS#<tree> / <created at>#<id> (time order; the subtree is a filter)
    DLV#<id> / ATT#<00001>    one attempt: time, status code, latency, error
Items expire (TTL `expiration`) after the retention period.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import InvalidInput
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

RETENTION_SECONDS = 30 * 24 * 3600


def _table() -> str:
    return get_settings().deliveries_table


def create(record: dict[str, Any]) -> dict[str, Any] | None:
    """Store a new delivery: None when stored; the delivery already stored under its id (the same event for
    the same endpoint) when there is one, unchanged (DynamoDB returns it with the failed condition)."""
    item = {
        "pk": f"DLV#{record['id']}",
        "sk": "DLV",
        "entity": "delivery",
        **record,
        "gsi1pk": f"DLVS#{record['tree']}",
        "gsi1sk": f"{record['created_at']}#{record['id']}",
    }
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            stored = exc.response.get("Item")
            return from_item(stored) if stored else get(record["id"])
        raise storage_error(exc) from exc
    return None


def get(delivery_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item({"pk": f"DLV#{delivery_id}", "sk": "DLV"}), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def update(
    delivery_id: str, sets: dict[str, Any], condition: str, condition_values: dict[str, Any]
) -> dict[str, Any] | None:
    """Conditional update of a delivery; None when the condition does not hold."""
    names = {f"#{k}": k for k in sets} | ({"#status": "status"} if "#status" in condition else {})
    return update_if(
        _table(),
        to_item({"pk": f"DLV#{delivery_id}", "sk": "DLV"}),
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in sets),
        ConditionExpression=f"attribute_exists(pk) AND ({condition})",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values({f":{k}": v for k, v in sets.items()} | condition_values),
    )


def add_attempt(delivery_id: str, number: int, attempt: dict[str, Any], expiration: int) -> None:
    item = {
        "pk": f"DLV#{delivery_id}",
        "sk": f"ATT#{number:05d}",
        "entity": "attempt",
        "expiration": expiration,
        **attempt,
    }
    try:
        aws.dynamodb().put_item(TableName=_table(), Item=to_item(item))
    except ClientError as exc:
        raise storage_error(exc) from exc


def attempts(delivery_id: str) -> list[dict[str, Any]]:
    try:
        resp = aws.dynamodb().query(
            TableName=_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues=values({":pk": f"DLV#{delivery_id}", ":a": "ATT#"}),
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return [from_item(i) for i in resp.get("Items", [])]


def page(
    tree: str, path: str, since: str, until: str, filters: dict[str, str], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Deliveries of a subtree created in [since, until], newest first, filtered."""
    conditions = ["begins_with(unit_path, :path)"]
    vals: dict[str, Any] = {":pk": f"DLVS#{tree}", ":since": since, ":until": until + "~", ":path": path}
    for attr, key in (("status", "#status"), ("endpoint", "endpoint"), ("event_type", "event_type")):
        if filters.get(attr):
            conditions.append(f"{key} = :{attr}")
            vals[f":{attr}"] = filters[attr]
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": "TreeIndex",
        "Limit": limit,
        "ScanIndexForward": False,
        "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk BETWEEN :since AND :until",
        "FilterExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": values(vals),
    }
    if filters.get("status"):
        kwargs["ExpressionAttributeNames"] = {"#status": "status"}
    start = decode_cursor(cursor)
    if start:
        # A cursor of another tree or outside the range is a client's mistake (DynamoDB would fail: a 500).
        key = start.get("gsi1sk", {}).get("S", "")
        if start.get("gsi1pk") != {"S": f"DLVS#{tree}"} or not since <= key <= until + "~":
            raise InvalidInput("cursor", "does not belong to this listing (same filters and from / to)")
        kwargs["ExclusiveStartKey"] = start
    try:
        resp = aws.dynamodb().query(**kwargs)
    except ClientError as exc:
        raise storage_error(exc) from exc
    return [from_item(i) for i in resp.get("Items", [])], encode_cursor(resp.get("LastEvaluatedKey"))
