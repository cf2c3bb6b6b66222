"""Low-stock thresholds (InventoryTable) and counting available test IDs up to a limit.

    STOCK#<tree> / <unit path>#<test type, case-folded>   one threshold: notify list, `armed` (a warning
                                                           may go out), `warnings` (how many went out),
                                                           `refills` (stock added so far: imports, added
                                                           or released IDs, expiry), `warned_refills`
                                                           (`refills` when the last warning went out)

Arming is a conditional write: of many instances that see stock fall below the threshold at once, one
disarms it and sends the warning. Re-arming is conditional too: only after a refill since that warning
(`refills > warned_refills`), so a count read from the eventually consistent index while fulfilments race
(it may still show IDs just taken) cannot re-arm the threshold and warn a second time.
"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import from_item, storage_error, to_item, update_if, values
from gateway.repo import inventory as inventory_repo


def _table() -> str:
    return get_settings().inventory_table


def key(tree: str, unit_path: str, test_type: str) -> dict[str, str]:
    return {"pk": f"STOCK#{tree}", "sk": f"{unit_path}#{test_type.casefold()}"}


def get(tree: str, unit_path: str, test_type: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=_table(), Key=to_item(key(tree, unit_path, test_type)), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def put(item: dict[str, Any]) -> dict[str, Any]:
    """Create or change a threshold; a changed threshold is armed again, the warning count is kept."""
    fields = {k: v for k, v in item.items() if k not in ("pk", "sk")}
    names = {f"#f_{k}": k for k in fields}
    sets = [f"#f_{k} = :f_{k}" for k in fields]
    try:
        resp = aws.dynamodb().update_item(
            TableName=_table(),
            Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
            UpdateExpression="SET "
            + ", ".join(sets)
            + ", armed = :true, warnings = if_not_exists(warnings, :zero)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values(
                {**{f":f_{k}": v for k, v in fields.items()}, ":true": True, ":zero": 0}
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    return from_item(resp["Attributes"])


def delete(tree: str, unit_path: str, test_type: str) -> None:
    try:
        aws.dynamodb().delete_item(TableName=_table(), Key=to_item(key(tree, unit_path, test_type)))
    except ClientError as exc:
        raise storage_error(exc) from exc


def subtree(tree: str, unit_path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    try:
        for page in (
            aws.dynamodb()
            .get_paginator("query")
            .paginate(
                TableName=_table(),
                KeyConditionExpression="pk = :pk AND begins_with(sk, :path)",
                ExpressionAttributeValues=values({":pk": f"STOCK#{tree}", ":path": unit_path}),
            )
        ):
            items.extend(from_item(i) for i in page.get("Items", []))
    except ClientError as exc:
        raise storage_error(exc) from exc
    return items


def _switch(stock_key: dict[str, str], armed: bool, available: int, now: str) -> dict[str, Any] | None:
    expression = "SET armed = :to, last_available = :available, checked_at = :now"
    condition = "attribute_exists(pk) AND armed = :from"
    vals: dict[str, Any] = {":to": armed, ":from": not armed, ":available": available, ":now": now}
    if armed:  # re-arm: only after a refill since the last warning (items older than that field: always)
        condition += " AND (attribute_not_exists(warned_refills) OR refills > warned_refills)"
    else:
        expression += ", warned_at = :now, warned_refills = if_not_exists(refills, :zero) ADD warnings :one"
        vals |= {":one": 1, ":zero": 0}
    return update_if(
        _table(),
        to_item(stock_key),
        UpdateExpression=expression,
        ConditionExpression=condition,
        ExpressionAttributeValues=values(vals),
    )


def disarm(stock_key: dict[str, str], available: int, now: str) -> dict[str, Any] | None:
    """Take the right to warn (armed -> not armed, warnings + 1); None when someone else took it."""
    return _switch(stock_key, False, available, now)


def rearm(stock_key: dict[str, str], available: int, now: str) -> dict[str, Any] | None:
    """Not armed -> armed, if stock was refilled since the last warning; None otherwise."""
    return _switch(stock_key, True, available, now)


def refilled(stock_key: dict[str, str]) -> dict[str, Any] | None:
    """Count a refill (allows the next re-arm); the threshold as it is now, or None when there is none."""
    return update_if(
        _table(),
        to_item(stock_key),
        UpdateExpression="ADD refills :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=values({":one": 1}),
    )


def count_available(unit_id: str, test_type: str, up_to: int) -> int:
    """Available test IDs of a type in a unit, counted up to `up_to` (cheap: stops there)."""
    total = 0
    client = aws.dynamodb()
    shards = list(range(inventory_repo.SHARDS))
    random.shuffle(shards)
    for shard in shards:
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": inventory_repo.AVAILABLE_INDEX,
            "Select": "COUNT",
            "KeyConditionExpression": "avail_pk = :pk",
            "ExpressionAttributeValues": values({":pk": inventory_repo.avail_pk(unit_id, test_type, shard)}),
        }
        while total < up_to:
            kwargs["Limit"] = up_to - total
            try:
                resp = client.query(**kwargs)
            except ClientError as exc:
                raise storage_error(exc) from exc
            total += int(resp["Count"])
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        if total >= up_to:
            return up_to
    return total
