"""Test catalogues (DirectoryTable): OU#<unit> / CATALOGUE, one per unit that sets its own."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import from_item, storage_error, to_item

SK = "CATALOGUE"


def _table() -> str:
    return get_settings().directory_table


def put(unit_id: str, record: dict[str, Any]) -> None:
    try:
        aws.dynamodb().put_item(TableName=_table(), Item=to_item({"pk": f"OU#{unit_id}", "sk": SK, **record}))
    except ClientError as exc:
        raise storage_error(exc) from exc


def get_many(unit_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The catalogues of these units that have one, by unit id (one BatchGetItem; a path is short)."""
    if not unit_ids:
        return {}
    keys = [to_item({"pk": f"OU#{u}", "sk": SK}) for u in dict.fromkeys(unit_ids)][:100]
    request: dict[str, Any] = {_table(): {"Keys": keys, "ConsistentRead": True}}
    found: dict[str, dict[str, Any]] = {}
    try:
        for _ in range(5):
            resp = aws.dynamodb().batch_get_item(RequestItems=request)
            for item in resp.get("Responses", {}).get(_table(), []):
                record = from_item(item)
                found[record["unit_id"]] = record
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
    except ClientError as exc:
        raise storage_error(exc) from exc
    return found
