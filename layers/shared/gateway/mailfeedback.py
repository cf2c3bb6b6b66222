"""SES feedback: the configuration set's events (SES -> SNS -> MailFeedbackQueue -> functions/mailfeedback).

- `Send`: SES accepted the message: its record becomes `sent` (the commit point gateway.notify relies on).
- `Bounce` (permanent) and `Complaint`: each address named is suppressed for the unit that sent the mail
  (never mailed by it again), the invitation the mail was about shows `emailBounced`, and an
  `invitation.email_bounced` event goes on the events queue for the unit's tracks. A transient bounce
  (mailbox full, ...) is only counted: SES already retried it.
- Anything else (Delivery, Reject, ...) is acknowledged.

Every step is idempotent (suppression is a conditional put, the event id is derived from the mail and the
address), so SNS's and SQS's at-least-once delivery repeats nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from gateway import aws, events
from gateway.config import get_settings
from gateway.repo import error_code, now_iso, storage_error, to_item, values
from gateway.repo import notifications as repo

logger = Logger(child=True)
EMAIL_BOUNCED = "invitation.email_bounced"


def unwrap(body: str) -> dict[str, Any]:
    """The SES event in an SQS body: inside SNS's envelope, or raw (RawMessageDelivery)."""
    data = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        data = json.loads(data["Message"])
    if not isinstance(data, dict):
        raise ValueError("not an SES event")
    return data


def _mail_id(mail: dict[str, Any]) -> str | None:
    tags = mail.get("tags") or {}
    found = tags.get("mail-id")
    if isinstance(found, list) and found:
        return str(found[0])
    return None


def handle(ses_event: dict[str, Any]) -> str:
    kind = str(ses_event.get("eventType") or ses_event.get("notificationType") or "")
    mail = ses_event.get("mail") or {}
    mail_id = _mail_id(mail)
    if mail_id is None:
        return "not ours"
    if kind == "Send":
        repo.confirm_sent(mail_id, str(mail.get("messageId", "")), now_iso())
        return "confirmed"
    if kind == "Bounce":
        bounce = ses_event.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            Metrics().add_metric(name="EmailsBouncedTransient", unit=MetricUnit.Count, value=1)
            return "transient"
        addresses = [r.get("emailAddress") for r in bounce.get("bouncedRecipients") or []]
        return _suppress(mail_id, "bounce", str(bounce.get("bounceSubType") or "Permanent"), addresses)
    if kind == "Complaint":
        complaint = ses_event.get("complaint") or {}
        addresses = [r.get("emailAddress") for r in complaint.get("complainedRecipients") or []]
        return _suppress(mail_id, "complaint", complaint.get("complaintFeedbackType"), addresses)
    return "ignored"


def _suppress(mail_id: str, reason: str, detail: str | None, addresses: list[Any]) -> str:
    record = repo.get_mail(mail_id)
    if record is None:
        logger.warning("feedback for an unknown e-mail", extra={"mail_id": mail_id})
        return "unknown"
    now = now_iso()
    repo.mark_feedback(mail_id, reason, now)
    for address in [a for a in addresses if isinstance(a, str) and a]:
        repo.suppress(
            record["unit_id"],
            address,
            {"email": address, "reason": reason, "detail": detail, "at": now, "mail_id": mail_id},
        )
        Metrics().add_metric(
            name="EmailsBounced" if reason == "bounce" else "EmailsComplained", unit=MetricUnit.Count, value=1
        )
        if not record.get("client") or address.casefold() != str(record.get("recipient", "")).casefold():
            continue  # an admin's or the archive (bcc) address: suppressed, no candidate to tell about
        if record.get("invitation_id") is not None:
            _mark_invitation(int(record["invitation_id"]), now, reason)
        events.publish(
            f"{EMAIL_BOUNCED}:{mail_id}:{address.casefold()}",
            EMAIL_BOUNCED,
            record["unit_id"],
            record["unit_path"],
            {
                "email": address,
                "reason": reason,
                "detail": detail,
                "notification": record.get("template"),
                "invitation-id": record.get("invitation_id"),
                "candidate-id": record.get("candidate_id"),
                "test-id": record.get("test_id"),
                "at": now,
            },
        )
    return "suppressed"


def _mark_invitation(invitation_id: int, now: str, reason: str) -> None:
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().candidates_table,
            Key=to_item({"pk": f"INV#{invitation_id}", "sk": "INV"}),
            UpdateExpression="SET email_bounced = :true, email_bounced_at = :now, email_bounce_reason = :why",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values({":true": True, ":now": now, ":why": reason}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(exc) from exc
