"""The local stack's triggers without a stack: S3 requests to events, SQS batch replies, schedules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local.aws import MotoExchange
from local.cfn import TemplateError
from local.s3events import S3Source, object_event, s3_event
from local.schedules import parse
from local.sqs import failed_ids, sqs_event

BUCKETS = {"imports-bucket"}


def exchange(method, path, status=200, query="", headers=None, response_headers=None, body=b"abc"):
    return MotoExchange(
        method=method,
        path=path,
        operation=None,
        request_body=body,
        status=status,
        response_body=b"",
        query=query,
        request_headers=headers or {"host": "127.0.0.1:5000"},
        response_headers=response_headers or {"etag": '"e1"', "x-amz-version-id": "v1"},
    )


def test_a_presigned_put_is_an_object_created_event():
    found = object_event(
        exchange(
            "PUT", "/imports-bucket/imports/ou_1/imp_1", query="X-Amz-Algorithm=AWS4&X-Amz-Signature=ab"
        ),
        BUCKETS,
    )
    assert found is not None
    assert (found.event_name, found.bucket, found.key, found.etag, found.version, found.size) == (
        "ObjectCreated:Put",
        "imports-bucket",
        "imports/ou_1/imp_1",
        '"e1"',
        "v1",
        3,
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"method": "PUT", "headers": {"x-amz-copy-source": "/b/k"}}, "ObjectCreated:Copy"),
        ({"method": "POST", "query": "uploadId=123"}, "ObjectCreated:CompleteMultipartUpload"),
        ({"method": "DELETE", "status": 204}, "ObjectRemoved:Delete"),
    ],
)
def test_copies_multipart_uploads_and_deletes(kwargs, name):
    found = object_event(exchange(path="/imports-bucket/k.csv", **kwargs), BUCKETS)
    assert found is not None and found.event_name == name


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "PUT", "query": "tagging="},  # a sub-resource, not an object
        {"method": "PUT", "query": "partNumber=1&uploadId=1"},  # one part of an upload
        {"method": "PUT", "status": 403},
        {"method": "GET"},
        {"method": "PUT", "path": "/other-bucket/k"},
        {"method": "PUT", "path": "/imports-bucket"},  # the bucket itself
    ],
)
def test_requests_that_create_no_object_are_ignored(kwargs):
    kwargs.setdefault("path", "/imports-bucket/k")
    assert object_event(exchange(**kwargs), BUCKETS) is None


def test_keys_are_url_encoded_in_the_event_and_filters_apply():
    source = S3Source("F", "Upload", "imports-bucket", ("s3:ObjectCreated:*",), prefix="imports/", suffix="")
    found = object_event(
        exchange("PUT", "/imports-bucket/imports/ou 1/a+b é.csv".encode().decode("latin-1")), BUCKETS
    )
    assert (
        found is not None
        and found.key == "imports/ou 1/a+b é.csv"
        and source.wants(found.event_name, found.key)
    )
    record = s3_event(found, source, "us-east-1", 7)["Records"][0]
    assert record["s3"]["object"]["key"] == "imports/ou+1/a%2Bb+%C3%A9.csv"
    assert (
        record["eventName"] == "ObjectCreated:Put"
        and record["s3"]["object"]["sequencer"] == "0000000000000007"
    )
    assert not source.wants("ObjectCreated:Put", "reports/x.csv")
    assert not source.wants("ObjectRemoved:Delete", "imports/x.csv")


def test_sqs_events_have_lambdas_shape():
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "Other": "x"},
        "MessageAttributes": {"type": {"DataType": "String", "StringValue": "assignment.expired"}},
    }
    record = sqs_event([message], "arn:aws:sqs:us-east-1:1:Q", "us-east-1")["Records"][0]
    assert (
        record["messageId"] == "m1"
        and record["eventSource"] == "aws:sqs"
        and record["eventSourceARN"].endswith(":Q")
    )
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
    assert record["messageAttributes"]["type"]["stringValue"] == "assignment.expired"


@pytest.mark.parametrize(
    ("reply", "failed"),
    [
        (None, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # not in the batch: the whole batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": "nope"}, None),
    ],
)
def test_partial_batch_failures_as_lambda_reads_them(reply, failed):
    assert failed_ids(reply, {"a", "b"}) == failed


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "now", "next_time"),
    [
        ("rate(15 minutes)", "2026-01-01T10:00:30", "2026-01-01T10:15:30"),
        ("rate(1 hour)", "2026-01-01T10:00:00", "2026-01-01T11:00:00"),
        ("rate(2 days)", "2026-01-01T10:00:00", "2026-01-03T10:00:00"),
        ("cron(0/15 * * * ? *)", "2026-01-01T10:07:12", "2026-01-01T10:15:00"),
        ("cron(0 10 * * ? *)", "2026-01-01T10:00:00", "2026-01-02T10:00:00"),
        ("cron(30 2 ? * MON-FRI *)", "2026-01-02T03:00:00", "2026-01-05T02:30:00"),  # Friday -> Monday
        ("cron(0 0 1 JAN,JUL ? *)", "2026-02-01T00:00:00", "2026-07-01T00:00:00"),
    ],
)
def test_schedule_expressions(expression, now, next_time):
    assert parse(expression)(at(now)) == at(next_time)


@pytest.mark.parametrize(
    "expression",
    ["rate(0 minutes)", "rate(5 seconds)", "cron(0 10 * * ?)", "cron(0 10 L * ? *)", "every day"],
)
def test_unsupported_schedule_expressions_are_refused(expression):
    with pytest.raises(TemplateError):
        parse(expression)


def test_a_send_wakes_only_the_pollers_of_its_queue():
    # Given sends in the JSON and the query protocol, and one whose queue cannot be told
    from local.sqs import _queue_name

    def send(body: bytes) -> MotoExchange:
        return MotoExchange(
            method="POST", path="/", operation="SendMessage", request_body=body, status=200, response_body=b""
        )

    # Then the queue is named from the URL, and None means "wake every poller"
    assert _queue_name(send(b'{"QueueUrl": "http://h:1/123456789012/events-dev", "MessageBody": "x"}')) == (
        "events-dev"
    )
    assert _queue_name(send(b"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F1%2Fmail-dev&MessageBody=x")) == (
        "mail-dev"
    )
    assert _queue_name(send(b"")) is None


def test_a_send_that_delays_every_message_wakes_no_poller():
    # Given sends and visibility changes, some only for later (a retry with DelaySeconds)
    from local.sqs import _visible_now

    def call(operation: str, body: bytes) -> MotoExchange:
        return MotoExchange(
            method="POST", path="/", operation=operation, request_body=body, status=200, response_body=b""
        )

    url = '"QueueUrl": "http://h:1/123456789012/deliveries-dev"'
    # Then a message receivable now wakes the pollers, one that is not yet receivable does not
    assert _visible_now(call("SendMessage", b'{%s, "MessageBody": "x"}' % url.encode()))
    assert _visible_now(call("SendMessage", b'{%s, "MessageBody": "x", "DelaySeconds": 0}' % url.encode()))
    assert not _visible_now(
        call("SendMessage", b'{%s, "MessageBody": "x", "DelaySeconds": 5}' % url.encode())
    )
    assert not _visible_now(call("SendMessage", b"Action=SendMessage&MessageBody=x&DelaySeconds=900"))
    # A batch wakes them if any of its messages is receivable now
    batch = b'{%s, "Entries": [{"Id": "1", "MessageBody": "x", "DelaySeconds": 3}, {"Id": "2", "MessageBody": "y"}]}'
    assert _visible_now(call("SendMessageBatch", batch % url.encode()))
    later = b'{%s, "Entries": [{"Id": "1", "MessageBody": "x", "DelaySeconds": 3}]}'
    assert not _visible_now(call("SendMessageBatch", later % url.encode()))
    # A visibility change wakes them only when it makes the message visible again
    assert _visible_now(call("ChangeMessageVisibility", b'{"ReceiptHandle": "r", "VisibilityTimeout": 0}'))
    assert not _visible_now(
        call("ChangeMessageVisibility", b'{"ReceiptHandle": "r", "VisibilityTimeout": 30}')
    )
    # When the request cannot be read, they are woken
    assert _visible_now(call("SendMessageBatch", b"Action=SendMessageBatch&x=1"))
    assert _visible_now(call("SendMessage", b""))
