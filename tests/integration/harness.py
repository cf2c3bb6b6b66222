"""What the import and expiry tests drive the functions with: uploads + S3 events + the continuation queue
(as Lambda's event source mapping would run it), and DynamoDB faults injected through botocore's events.

moto accepts a 26-item BatchWriteItem and never throttles; `DynamoFaults` makes it behave like DynamoDB:
it refuses a batch over 25 items (ValidationException), throttles on request
(ProvisionedThroughputExceededException) and hands items or keys back unprocessed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from tests.helpers import LambdaContext, s3_object_event, sqs_batch_event


@dataclass
class Importer:
    """Uploads files like a client with a presigned URL would, and runs the import function on them."""

    stack: Any
    failures: int = 0

    @property
    def bucket(self) -> str:
        return get_settings().imports_bucket

    @property
    def queue_url(self) -> str:
        return get_settings().import_queue_url

    def handler(self) -> Any:
        return self.stack.api.handler("ImportFunction")

    def create(self, api: Any = None, body: Any = None) -> dict[str, Any]:
        reply = (api or self.stack.api).post("/v1/inventory/imports", body)
        assert reply.status == 201, reply.text
        return dict(reply.json())

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Store an object (no event yet): what S3 holds when its notification arrives."""
        put = boto3.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data)
        return {
            "key": key,
            "etag": put["ETag"].strip('"'),
            "version": put.get("VersionId"),
            "size": len(data),
        }

    def notify(self, obj: dict[str, Any]) -> Any:
        """Deliver S3's event for a stored object to the import function."""
        event = s3_object_event(self.bucket, obj["key"], obj["size"], obj["etag"], obj["version"])
        return self.handler()(event, LambdaContext())

    def upload(self, data: bytes, unit: str | None = None, api: Any = None) -> str:
        created = self.create(api, {"org-unit": unit} if unit else None)
        key = f"imports/{created['org-unit']}/{created['import-id']}"
        self.notify(self.put(key, data))
        return str(created["import-id"])

    def drain(self, limit: int | None = None) -> int:
        """Run the continuation queue until it is empty (or `limit` messages ran); a failed batch stays,
        visible again at once (as if its visibility timeout had passed)."""
        sqs = boto3.client("sqs")
        arn = f"arn:aws:sqs:us-east-1:123456789012:{self.queue_url.rsplit('/', 1)[-1]}"
        runs = 0
        while runs < (limit or 500):
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return runs
            runs += 1
            try:
                reply = self.handler()(sqs_batch_event(messages, arn), LambdaContext())
            except Exception:
                self.failures += 1
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
                )
                raise
            failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
            if messages[0]["MessageId"] in failed:
                self.failures += 1
                continue
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        if limit is None:
            raise AssertionError("the continuation queue did not run dry")
        return runs

    def status(self, import_id: str, api: Any = None) -> dict[str, Any]:
        reply = (api or self.stack.api).get(f"/v1/inventory/imports/{import_id}")
        assert reply.status == 200, reply.text
        return dict(reply.json())

    def run(self, data: bytes, unit: str | None = None) -> dict[str, Any]:
        import_id = self.upload(data, unit)
        self.drain()
        return self.status(import_id)

    def report(self, import_id: str) -> list[list[str]]:
        record = self.status(import_id)
        key = record["report-url"].split(f"/{self.bucket}/", 1)[-1].split("?", 1)[0]
        if key.startswith("http"):  # virtual-hosted URL
            key = record["report-url"].split(".amazonaws.com/", 1)[1].split("?", 1)[0]
        body = boto3.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        return list(csv.reader(io.StringIO(body)))


def csv_file(
    rows: list[list[Any]], header: list[str] | None = None, delimiter: str = ",", bom: bool = False
) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header or ["Test ID", "Password", "Test Type", "Status", "Assigned To"])
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + text.getvalue()).encode()


def xlsx_file(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Available Tests")
    sheet.append(header or ["Test ID", "Password", "Test Type", "Status", "Assigned To"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@dataclass
class DynamoFaults:
    """DynamoDB's limits and failures on the process's DynamoDB client (botocore event hooks)."""

    throttle_writes: int = 0  # the next N BatchWriteItem calls fail with ProvisionedThroughputExceeded
    throttle_gets: int = 0
    unprocessed_writes: int = 0  # the next N BatchWriteItem calls write only half, the rest unprocessed
    unprocessed_gets: int = 0
    fail_after_writes: int | None = None  # a crash (RuntimeError) once this many batches were written
    write_sizes: list[int] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _held: dict[str, Any] | None = None

    def install(self) -> DynamoFaults:
        events = aws.dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        return self

    def remove(self) -> None:
        events = aws.dynamodb().meta.events
        events.unregister("before-parameter-build.dynamodb", self._before)
        events.unregister("after-call.dynamodb", self._after)

    @staticmethod
    def _refuse(code: str, message: str, operation: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message}}, operation)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if name == "BatchWriteItem":
            items = params["RequestItems"]
            size = sum(len(requests) for requests in items.values())
            self.write_sizes.append(size)
            if size > 25:
                raise self._refuse(
                    "ValidationException", "Too many items requested for the BatchWriteItem call", name
                )
            if self.fail_after_writes is not None:
                if self.fail_after_writes <= 0:
                    raise RuntimeError("injected crash")
                self.fail_after_writes -= 1
            if self.throttle_writes > 0:
                self.throttle_writes -= 1
                raise self._refuse("ProvisionedThroughputExceededException", "Throughput exceeded", name)
            if self.unprocessed_writes > 0 and size > 1:
                self.unprocessed_writes -= 1
                table, requests = next(iter(items.items()))
                items[table], held = requests[: size // 2], requests[size // 2 :]
                self._held = {"UnprocessedItems": {table: held}}
        elif name == "BatchGetItem":
            if self.throttle_gets > 0:
                self.throttle_gets -= 1
                raise self._refuse("ProvisionedThroughputExceededException", "Throughput exceeded", name)
            table, request = next(iter(params["RequestItems"].items()))
            if self.unprocessed_gets > 0 and len(request["Keys"]) > 1:
                self.unprocessed_gets -= 1
                keys = request["Keys"]
                held = keys[len(keys) // 2 :]
                params["RequestItems"] = {table: {**request, "Keys": keys[: len(keys) // 2]}}
                self._held = {"UnprocessedKeys": {table: {**request, "Keys": held}}}

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if self._held and model.name in ("BatchWriteItem", "BatchGetItem"):
            for key, value in self._held.items():
                parsed.setdefault(key, {}).update(value)
            self._held = None
