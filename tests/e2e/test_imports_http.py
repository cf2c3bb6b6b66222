"""Imports, expiry and the local triggers over HTTP on the local stack: presigned upload -> S3 event ->
import function -> continuation queue -> status; the expiry route and schedule; SQS poller semantics."""

from __future__ import annotations

import functools
import io
import operator
import time
import uuid

import pytest
import requests

from local import LocalStack
from local.aws import client as moto_client
from local.sqs import QueuePoller, SqsSource


def headers(stack):
    return {"x-api-key": stack.admin_key}


def wait_for(stack, import_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = requests.get(
            f"{stack.base_url}/v1/inventory/imports/{import_id}", headers=headers(stack), timeout=30
        )
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] in ("completed", "failed"):
            return reply.json()
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} did not finish: {reply.json()}")


def upload(stack, data: bytes) -> dict:
    created = requests.post(f"{stack.base_url}/v1/inventory/imports", headers=headers(stack), timeout=30)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["upload-url"].startswith(stack.moto_url)  # reachable from this machine
    put = requests.put(body["upload-url"], data=data, timeout=30)
    assert put.status_code == 200, put.text
    return wait_for(stack, body["import-id"])


def test_a_csv_uploaded_to_the_presigned_url_is_imported(local_stack: LocalStack):
    run = uuid.uuid4().hex[:6].upper()
    data = "Test ID;Password;Test Type\r\n" + "".join(
        f"C{run}{i:04d};pw{i};Http-Plus\r\n" for i in range(120)
    )
    status = upload(local_stack, ("\ufeff" + data).encode())
    assert (status["status"], status["added"], status["rows-read"]) == ("completed", 120, 120), status
    assert status["format"] == "CSV (semicolon-separated)"
    report = requests.get(status["report-url"], timeout=30)
    assert report.status_code == 200 and report.text.splitlines()[1] == f"2,C{run}0000,added,"
    # Uploading the same file again imports nothing new
    again = upload(local_stack, ("\ufeff" + data).encode())
    assert (again["unchanged"], again["imported"]) == (120, 0)


def test_an_xlsx_uploaded_to_the_presigned_url_is_imported(local_stack: LocalStack):
    from openpyxl import Workbook

    run = uuid.uuid4().hex[:6].upper()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["test_id", "password", "test_type", "status"])
    for i in range(50):
        sheet.append([f"X{run}{i:04d}", f"pw{i}", "Http-Plus", "Ready"])
    sheet.append([f"X{run}0001", "pw", "Http-Plus", "Ready"])
    out = io.BytesIO()
    workbook.save(out)
    status = upload(local_stack, out.getvalue())
    assert (status["status"], status["added"], status["skipped-total"]) == ("completed", 50, 1), status
    assert status["skipped"][0]["reason"] == "test-id: appears twice in this file (first on row 3)"


def test_a_file_that_is_not_a_spreadsheet_fails_with_a_reason(local_stack: LocalStack):
    status = upload(local_stack, b"%PDF-1.7\x00\x00")
    assert status["status"] == "failed" and status["error"] == "file: not a CSV or XLSX file (binary content)"


def test_objects_outside_the_imports_prefix_trigger_nothing(local_stack: LocalStack):
    notifier = local_stack.triggers.notifiers[0]
    before = notifier.delivered
    bucket = local_stack.template.physical_name("ImportsBucket")
    moto_client("s3", local_stack.moto_url).put_object(Bucket=bucket, Key="reports/elsewhere.csv", Body=b"x")
    assert notifier.wait_idle(10) and notifier.delivered == before


def test_the_expiry_route_releases_due_assignments(local_stack: LocalStack):
    run = uuid.uuid4().hex[:6].upper()
    test_type = f"Exp{run}"
    added = requests.post(
        f"{local_stack.base_url}/v1/test-ids",
        headers=headers(local_stack),
        json={"test-ids": [{"test-id": f"E{run}1", "password": "pw", "test-type": test_type}]},
        timeout=30,
    )
    assert added.status_code == 201, added.text
    taken = requests.post(
        f"{local_stack.base_url}/v1/fulfillments",
        headers=headers(local_stack),
        json={"product-code": f"GTX-{test_type}", "assigned-to": {"expire": "2020-01-01"}},
        timeout=30,
    )
    assert taken.status_code == 201, taken.text
    reply = requests.post(
        f"{local_stack.base_url}/v1/jobs/expire-assignments", headers=headers(local_stack), timeout=30
    )
    assert reply.status_code == 200 and reply.json()["released"] >= 1, reply.text
    view = requests.get(
        f"{local_stack.base_url}/v1/test-ids/E{run}1", headers=headers(local_stack), timeout=30
    ).json()
    assert view["available"] is True and view["password"] != taken.json()["password"]


def test_the_expiry_job_runs_on_the_templates_schedule(local_stack: LocalStack):
    [trigger] = [t for t in local_stack.triggers.schedules if t.function_id == "ExpiryFunction"]
    assert trigger.expression == "rate(15 minutes)"
    from datetime import UTC, datetime, timedelta

    assert timedelta(0) < trigger.next_run - datetime.now(UTC) <= timedelta(minutes=15)
    result = local_stack.run_schedule("ExpiryFunction")
    assert set(result) == {"examined", "released", "skipped", "complete"}


# ------------------------------------------------------------------------------------------------
# The SQS wiring every queue consumer relies on
# ------------------------------------------------------------------------------------------------


class Recorder:
    """A stand-in function: records batches, fails the messages whose body says so."""

    def __init__(self, mode: str = "partial") -> None:
        self.batches: list[list[str]] = []
        self.mode = mode

    def invoke(self, event):
        bodies = [r["body"] for r in event["Records"]]
        self.batches.append(bodies)
        if self.mode == "raise":
            raise RuntimeError("the whole batch fails")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }


@pytest.fixture
def queues(local_stack: LocalStack):
    sqs = moto_client("sqs", local_stack.moto_url)
    run = uuid.uuid4().hex[:8]
    dead = sqs.create_queue(QueueName=f"dead-{run}")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(
        QueueName=f"work-{run}",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dead_arn}", "maxReceiveCount": "2"}}',
        },
    )["QueueUrl"]
    return sqs, work, dead, f"arn:aws:sqs:us-east-1:123456789012:work-{run}"


def poller(local_stack, queues, function, batch_size=3, report=True):
    _sqs, work, _dead, arn = queues
    source = SqsSource("Fn", "Work", arn, work, batch_size=batch_size, report_failures=report)
    return QueuePoller(source, function, local_stack.moto_url, "us-east-1")  # type: ignore[arg-type]


def visible(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_sqs_batches_partial_failures_redelivery_and_dead_letters(local_stack: LocalStack, queues):
    sqs, work, dead, _arn = queues
    for body in ["a", "bad", "b", "c"]:
        sqs.send_message(QueueUrl=work, MessageBody=body)
    function = Recorder()
    consumer = poller(local_stack, queues, function, batch_size=3)
    # Batches of at most BatchSize; the failed message alone comes back
    assert consumer.poll_once() == 3 and consumer.poll_once() == 1 and consumer.poll_once() == 0
    assert (
        sorted(functools.reduce(operator.iadd, function.batches, [])) == ["a", "b", "bad", "c"]
        and max(map(len, function.batches)) <= 3
    )
    time.sleep(1.2)  # the visibility timeout
    assert consumer.poll_once() == 1 and function.batches[-1] == ["bad"]
    time.sleep(1.2)
    # Received maxReceiveCount (2) times: it moves to the dead-letter queue instead of a third delivery
    assert consumer.poll_once() == 0
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10)["Messages"]] == [
        "bad"
    ]
    assert visible(sqs, work) == 0


def test_a_raising_function_gets_its_whole_batch_again(local_stack: LocalStack, queues):
    sqs, work, _dead, _arn = queues
    for body in ["a", "b"]:
        sqs.send_message(QueueUrl=work, MessageBody=body)
    consumer = poller(local_stack, queues, Recorder("raise"), batch_size=10)
    assert consumer.poll_once() == 2
    time.sleep(1.2)
    again = Recorder()
    consumer.function = again  # type: ignore[assignment]
    assert consumer.poll_once() == 2 and sorted(again.batches[0]) == ["a", "b"]
    assert visible(sqs, work) == 0


def test_without_report_batch_item_failures_the_reply_is_ignored(local_stack: LocalStack, queues):
    sqs, work, _dead, _arn = queues
    sqs.send_message(QueueUrl=work, MessageBody="bad")
    consumer = poller(local_stack, queues, Recorder(), report=False)
    assert consumer.poll_once() == 1
    time.sleep(1.2)
    assert consumer.poll_once() == 0
