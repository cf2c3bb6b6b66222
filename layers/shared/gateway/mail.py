"""E-mail through SES (v2). Locally the messages land in moto's SES and show on /local/outbox."""

from __future__ import annotations

from html import escape

from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import Unavailable


def send(to: str | list[str], subject: str, text: str, html: str, bcc: list[str] | None = None) -> str:
    """Send one message (to one address or several); returns SES's message id. A failure is a 503 (the
    caller undoes its work)."""
    destination: dict[str, list[str]] = {"ToAddresses": [to] if isinstance(to, str) else list(to)}
    if bcc:
        destination["BccAddresses"] = bcc
    try:
        resp = aws.client("sesv2").send_email(
            FromEmailAddress=get_settings().sender_email,
            Destination=destination,
            Content={
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": text, "Charset": "UTF-8"},
                        "Html": {"Data": html, "Charset": "UTF-8"},
                    },
                }
            },
        )
    except ClientError as exc:
        raise Unavailable(
            "email: the message could not be sent; nothing was assigned, retry the request"
        ) from exc
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
