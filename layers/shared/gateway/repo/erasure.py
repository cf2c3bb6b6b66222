"""Data access for the privacy routes (gateway.privacy): generic reads, rewrites and deletes across the
tables and the bucket, each call mapped to domain errors like the rest of gateway.repo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws
from gateway.repo import error_code, from_item, storage_error, to_item, values


def get(table: str, pk: str, sk: str) -> dict[str, Any] | None:
    try:
        resp = aws.dynamodb().get_item(
            TableName=table, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=True
        )
    except ClientError as exc:
        raise storage_error(exc) from exc
    item = resp.get("Item")
    return from_item(item) if item else None


def query(
    table: str,
    condition: str,
    vals: dict[str, Any],
    index: str | None = None,
    names: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item a key condition selects (all pages)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values(vals),
    }
    if index:
        kwargs["IndexName"] = index
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        for page in aws.dynamodb().get_paginator("query").paginate(**kwargs):
            for item in page.get("Items", []):
                yield from_item(item)
    except ClientError as exc:
        raise storage_error(exc) from exc


def scan(table: str) -> Iterator[dict[str, Any]]:
    """Every item of a table (only for small tables: the idempotency records, kept 24 h)."""
    try:
        for page in aws.dynamodb().get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                yield from_item(item)
    except ClientError as exc:
        raise storage_error(exc) from exc


def delete(table: str, key: dict[str, Any]) -> None:
    try:
        aws.dynamodb().delete_item(TableName=table, Key=to_item(key))
    except ClientError as exc:
        raise storage_error(exc) from exc


def put(table: str, item: dict[str, Any]) -> None:
    try:
        aws.dynamodb().put_item(TableName=table, Item=to_item(item))
    except ClientError as exc:
        raise storage_error(exc) from exc


def update(
    table: str,
    key: dict[str, Any],
    expression: str,
    vals: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    condition: str | None = None,
) -> bool:
    """An update; False when `condition` does not hold."""
    kwargs: dict[str, Any] = {"TableName": table, "Key": to_item(key), "UpdateExpression": expression}
    if vals:
        kwargs["ExpressionAttributeValues"] = values(vals)
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if condition:
        kwargs["ConditionExpression"] = condition
    try:
        aws.dynamodb().update_item(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(exc) from exc
    return True


# ---------------------------------------------------------------------------------------------- S3
def object_versions(bucket: str, prefix: str) -> Iterator[tuple[str, str | None]]:
    """(key, version id) of every version of every object under `prefix` (delete markers left out)."""
    try:
        pages = aws.client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for version in page.get("Versions", []):
                vid = version.get("VersionId")
                yield version["Key"], (None if vid in (None, "null") else str(vid))
    except ClientError as exc:
        raise storage_error(exc) from exc


def read_object(bucket: str, key: str, version: str | None) -> bytes:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        kwargs["VersionId"] = version
    try:
        return bytes(aws.client("s3").get_object(**kwargs)["Body"].read())
    except ClientError as exc:
        raise storage_error(exc) from exc


def write_object(bucket: str, key: str, body: bytes, content_type: str) -> None:
    try:
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as exc:
        raise storage_error(exc) from exc


def delete_object(bucket: str, key: str, version: str | None) -> None:
    """Delete one version for good (a versioned bucket otherwise keeps it behind a delete marker)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        kwargs["VersionId"] = version
    try:
        aws.client("s3").delete_object(**kwargs)
    except ClientError as exc:
        raise storage_error(exc) from exc
