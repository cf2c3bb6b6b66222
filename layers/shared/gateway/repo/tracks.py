"""Tracks (DirectoryTable): TRACK#<tree>#<code> / TRACK, an endpoint results are reported to."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.repo import from_item, storage_error, to_item, update_if, values


def _table() -> str:
    return get_settings().directory_table


def _key(tree: str, code: str) -> dict[str, Any]:
    return to_item({"pk": f"TRACK#{tree}#{code.casefold()}", "sk": "TRACK"})


def get(tree: str, code: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(TableName=_table(), Key=_key(tree, code))
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def upsert(tree: str, unit_id: str, unit_path: str, track: dict[str, Any], now: str) -> dict[str, Any] | None:
    """Create the track, or update it if the caller's subtree owns it. None: another unit's track."""
    fields = {**track, "unit_id": unit_id, "unit_path": unit_path, "updated_at": now, "disabled": False}
    names = {f"#{k}": k for k in fields}
    assignments = ", ".join(f"#{k} = :{k}" for k in fields)
    return update_if(
        _table(),
        _key(tree, track["code"]),
        UpdateExpression=f"SET {assignments}, created_at = if_not_exists(created_at, :updated_at), "
        "gsi1pk = :gpk, gsi1sk = :gsk REMOVE disabled_at",
        ConditionExpression="attribute_not_exists(pk) OR begins_with(unit_path, :caller_path)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values(
            {f":{k}": v for k, v in fields.items()}
            | {":caller_path": unit_path, ":gpk": f"TRACKS#{tree}", ":gsk": f"{unit_path}{track['code']}"}
        ),
    )


def in_subtree(tree: str, path: str) -> list[dict[str, Any]]:
    paginator = aws.dynamodb().get_paginator("query")
    try:
        pages = paginator.paginate(
            TableName=_table(),
            IndexName="TreeIndex",
            KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :path)",
            ExpressionAttributeValues=values({":pk": f"TRACKS#{tree}", ":path": path}),
        )
        return [from_item(i) for page in pages for i in page.get("Items", [])]
    except ClientError as exc:
        raise storage_error(exc) from exc


def disable(tree: str, code: str, now: str) -> dict[str, Any] | None:
    """Stop delivering to a track (it answered 410 Gone); saving the track again enables it. Returns the
    track, whose `disabled_at` is the first disabling's time however many 410s came (None: no such track)."""
    return update_if(
        _table(),
        _key(tree, code),
        UpdateExpression="SET disabled = :true, disabled_at = if_not_exists(disabled_at, :now)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=values({":true": True, ":now": now}),
    )
