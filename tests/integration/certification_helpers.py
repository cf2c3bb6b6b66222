"""What the certification tests share: a catalogue, results with items, the certificate queue drained."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3

from gateway.config import get_settings
from tests.helpers import LambdaContext, sqs_batch_event
from tests.integration.test_results_intake import post_result as _post_result

_used: set[tuple[str, int]] = set()


def post_result(stack: Any, payload: Any, **kwargs: Any) -> Any:
    """The engine's signed POST /v1/results, never reusing a (body, timestamp) pair: a retry of the same body
    is a new signature, as a real engine's would be (the shared helper may repeat one across a second)."""
    import time

    body = json.dumps(payload, sort_keys=True)
    stamp = int(time.time())
    while (body, stamp) in _used:
        stamp -= 1
    _used.add((body, stamp))
    return _post_result(stack, payload, timestamp=stamp, **kwargs)


PLANS = [
    {
        "name": "Academic",
        "question-flow": [
            {
                "level": "A2",
                "sections": [{"skill": "Grammar", "questions": 10}, {"skill": "Reading", "questions": 8}],
            },
            {
                "level": "B1",
                "sections": [
                    {"skill": "Grammar", "questions": 4},
                    {"skill": "Listening", "questions": 4},
                    {"skill": "Reading", "questions": 4},
                ],
            },
            {
                "level": "B1+",
                "sections": [{"skill": "Reading", "questions": 6}, {"skill": "Writing", "questions": 2}],
            },
        ],
        "placement-rules": [
            {"min-percent": 0, "level": "A1"},
            {"min-percent": 40, "level": "A2"},
            {"min-percent": 70, "level": "B1"},
        ],
    },
    {
        "name": "Professional",
        "question-flow": [{"level": "B2", "sections": [{"skill": "Speaking", "questions": 5}]}],
    },
]
TEST_TYPES = [
    {"name": "PT-Academic", "test-id": 900, "kind": "placement", "plan": "Academic"},
    {
        "name": "CT-B1",
        "test-id": 901,
        "kind": "certification",
        "level": "B1",
        "plan": "Academic",
        "pass-mark": 60,
    },
    {
        "name": "CT-B1-Plus",
        "test-id": 902,
        "kind": "certification",
        "level": "B1+",
        "plan": "Academic",
        "pass-mark": 60,
    },
    {"name": "Academic-Plus", "kind": "placement", "plan": "Professional"},
    {"name": "CT-A2", "kind": "certification", "level": "A2", "plan": "Academic", "pass-mark": 70},
]


def set_catalogue(api: Any, unit: str | None = None, test_types: list[dict[str, Any]] | None = None) -> Any:
    body: dict[str, Any] = {"plans": PLANS, "test-types": test_types or TEST_TYPES}
    if unit:
        body["org-unit"] = unit
    reply = api.call("PUT", "/v1/catalogue", body)
    assert reply.status == 200, reply.text
    return reply


def items(spec: list[tuple[str, str, bool]], can_do: bool = True) -> list[dict[str, Any]]:
    """Items from (skill, level, correct); the can-do text is the statement catalogue's."""
    from gateway import statements

    out = []
    for n, (skill, level, correct) in enumerate(spec, 1):
        item: dict[str, Any] = {
            "ItemId": f"i{n}",
            "Skill": skill,
            "Level": level,
            "Correct": 1 if correct else 0,
            "Answer": "b" if correct else ("a" if n % 2 else ""),
            "TimeSpent": 30,
        }
        if can_do:
            item["CanDo"] = statements.can_do(skill, level)
        out.append(item)
    return out


def register(stack: Any, test_id: int, email: str, name: str = "Ada Lovelace", api: Any = None) -> int:
    reply = (api or stack.api).post(f"/v2/tests/{test_id}/register", {"emailId": email, "fullName": name})
    assert reply.status == 200, reply.text
    return int(reply.json()["result"]["testInvitationId"])


def v2_result(stack: Any, invitation: int, score: int | None, total: int | None = 100, **extra: Any) -> Any:
    body = {
        "TestInvitationId": invitation,
        "Status": "Completed",
        "AttemptedOn": "2026-03-10T10:00:00",
        "TotalScore": total,
        "CandidateScore": score,
        **extra,
    }
    reply = post_result(stack, body, form=False)
    assert reply.status == 200, reply.text
    return reply


def queue_messages(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return found
        found.extend(got)
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_certificates(stack: Any, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the certificates function on the queue's messages (or the given ones), as Lambda's SQS trigger."""
    url = get_settings().certificate_queue_url
    messages = queue_messages(url) if messages is None else messages
    if not messages:
        return {"batchItemFailures": []}
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[-1]}"
    return dict(stack.api.handler("CertificatesFunction")(sqs_batch_event(messages, arn), LambdaContext()))


def s3_object(key: str) -> bytes:
    return bytes(boto3.client("s3").get_object(Bucket=get_settings().imports_bucket, Key=key)["Body"].read())


def object_key_of(url: str) -> str:
    bucket = get_settings().imports_bucket
    key = url.split(f"/{bucket}/", 1)[-1].split("?", 1)[0]
    if key.startswith("http"):
        key = url.split(".amazonaws.com/", 1)[1].split("?", 1)[0]
    return key


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def xlsx_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
