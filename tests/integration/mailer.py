"""Run the e-mail pipeline in-process, as the local stack's pollers would: events -> mailer -> SES (moto)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from gateway import notify
from gateway.config import get_settings
from tests.helpers import LambdaContext, sqs_batch_event

ROOT = Path(__file__).resolve().parents[2]
_handlers: dict[str, Any] = {}


def handler(function: str) -> Any:
    """The function's lambda_handler (functions/<function>/app.py), imported once."""
    if function not in _handlers:
        spec = importlib.util.spec_from_file_location(
            f"fn_{function}", ROOT / "functions" / function / "app.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function] = module.lambda_handler
    return _handlers[function]


def queue_arn(url: str) -> str:
    return f"arn:aws:sqs:us-east-1:{DEFAULT_ACCOUNT_ID}:{url.rsplit('/', 1)[-1]}"


def forward_events() -> int:
    """Forward what is on the events queue to the mailer, as dispatch does, and leave it there (tests read
    the events queue themselves). Forwarding twice is harmless: the mailer de-duplicates."""
    sqs, url = boto3.client("sqs"), get_settings().events_queue_url
    handles, forwarded = [], 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not got:
            break
        for message in got:
            handles.append(message["ReceiptHandle"])
            forwarded += notify.forward(json.loads(message["Body"]))
    for receipt in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return forwarded


def run_queue(url: str, function: str, rounds: int = 1) -> list[dict[str, Any]]:
    """Hand the queue's messages to the function in batches of 10 (`rounds` passes): the successes are
    deleted, the failures stay (visible again at once) as Lambda's event source mapping leaves them."""
    sqs = boto3.client("sqs")
    replies = []
    for _ in range(rounds):
        seen: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                break
            reply = handler(function)(sqs_batch_event(got, queue_arn(url)), LambdaContext())
            replies.append(reply)
            failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
            for message in got:
                if message["MessageId"] in failed:
                    seen.append(message)
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for message in seen:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        if not seen:
            break
    return replies


def run_mailer(rounds: int = 1) -> list[dict[str, Any]]:
    forward_events()
    return run_queue(get_settings().notifications_queue_url, "mailer", rounds)


def mail_feedback_url() -> str:
    sqs = boto3.client("sqs")
    return str(sqs.get_queue_url(QueueName="MailFeedbackQueue")["QueueUrl"])


def run_feedback() -> list[dict[str, Any]]:
    return run_queue(mail_feedback_url(), "mailfeedback")


def sent_messages() -> list[Any]:
    """Every message moto's SES accepted, oldest first (no pipeline run)."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def sent_mail() -> list[Any]:
    """Run the pipeline (events forwarded, the mailer's queue drained once), then what SES accepted."""
    run_mailer()
    return sent_messages()
