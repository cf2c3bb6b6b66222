"""E-mail through SES (v2). Locally the messages land in moto's SES and show on /local/outbox."""

from __future__ import annotations

from html import escape
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable

# SES errors that say "not now" (throttling, outage): the message is retried through its queue. Any other
# refusal (MessageRejected, a bad address) is final for that message.
RETRYABLE = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
}


class Ambiguous(Unavailable):
    """SES's answer never came (read timeout, connection dropped): the message may or may not be sent."""


class Refused(Exception):
    """SES refused this message for good (it will not succeed on retry)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def send(
    to: str | list[str],
    subject: str,
    text: str,
    html: str,
    bcc: list[str] | None = None,
    *,
    sender: str | None = None,
    reply_to: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Send one message (to one address or several); returns SES's message id. A failure SES may recover
    from is a 503 (Unavailable: retry); a final refusal raises Refused. The configuration set (when set)
    makes SES report send, bounce and complaint events for the message, with `tags`."""
    destination: dict[str, list[str]] = {"ToAddresses": [to] if isinstance(to, str) else list(to)}
    if bcc:
        destination["BccAddresses"] = bcc
    request: dict[str, Any] = {
        "FromEmailAddress": sender or get_settings().sender_email,
        "Destination": destination,
        "Content": {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": text, "Charset": "UTF-8"},
                    "Html": {"Data": html, "Charset": "UTF-8"},
                },
            }
        },
    }
    if reply_to:
        request["ReplyToAddresses"] = reply_to
    if get_settings().mail_configuration_set:
        request["ConfigurationSetName"] = get_settings().mail_configuration_set
    if tags:
        request["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
    try:
        resp = aws.client("sesv2").send_email(**request)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in RETRYABLE or status >= 500 or status == 429 or not code:
            raise Unavailable(
                "email: the message could not be sent; nothing was assigned, retry the request"
            ) from exc
        raise Refused(code) from exc
    except (ConnectTimeoutError, EndpointConnectionError) as exc:  # never reached SES
        raise Unavailable("email: SES could not be reached; retry") from exc
    except (BotoCoreError, OSError) as exc:  # sent, but no answer: SES may have accepted it
        raise Ambiguous("email: SES did not answer; retry") from exc
    return str(resp.get("MessageId", ""))


def test_id_message(test_id: str, password: str, test_type: str) -> tuple[str, str, str]:
    """Subject, text and HTML of the STX e-mail: the test ID, its password and how to start."""
    start = get_settings().test_engine_base_url.rstrip("/")
    subject = f"Your {test_type} test ID"
    text = (
        f"Hello,\n\nYou have been given a {test_type} test.\n\n"
        f"Test ID:  {test_id}\nPassword: {password}\n\n"
        f"To start, open {start} and sign in with the test ID and password above. Use a computer with a "
        "working microphone and speakers, and allow about two hours.\n\nGood luck!\n"
    )
    html = (
        f"<p>Hello,</p><p>You have been given a <strong>{escape(test_type)}</strong> test.</p>"
        f"<table><tr><td>Test ID</td><td><strong>{escape(test_id)}</strong></td></tr>"
        f"<tr><td>Password</td><td><strong>{escape(password)}</strong></td></tr></table>"
        f'<p>To start, open <a href="{escape(start)}">{escape(start)}</a> and sign in with the test ID and '
        "password above. Use a computer with a working microphone and speakers, and allow about two "
        "hours.</p>"
        "<p>Good luck!</p>"
    )
    return subject, text, html
