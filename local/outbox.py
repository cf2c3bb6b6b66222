"""The SES outbox: every e-mail sent through moto, like a mail catcher.

Messages come from moto's SES backend (``sesv2`` sends land there too). moto keeps only one body of
a Simple message (HTML when there is one), so the outbox also watches ``sesv2`` ``SendEmail`` requests
and keeps their full content (text *and* HTML) by message id. The outbox keeps its own list, which
is persisted with the rest of the state and survives restarts while moto's list does not.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from local.aws import ACCOUNT_ID, MOTO_LOCK, REGION, MotoExchange

_SESV2_SEND_PATH = "/v2/email/outbound-emails"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ses_backend() -> Any:
    from moto.ses.models import ses_backends

    return ses_backends[ACCOUNT_ID][REGION]


def accept_any_sender() -> None:
    """Let the local SES send from any address, as a mail catcher does.

    In AWS the sending identity is verified once per account, outside this template; moto would
    reject every unverified sender. Only this process's moto backend instance is changed.
    """
    with MOTO_LOCK:
        backend = _ses_backend()
        backend._is_verified_address = lambda source: True


class Outbox:
    """E-mails sent through the local SES, newest last internally, newest first from :meth:`messages`."""

    def __init__(self, saved: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = list(saved or [])
        self._known_ids = {m["id"] for m in self._messages if m.get("id")}
        self._simple_content: dict[str, dict[str, Any]] = {}

    # -- moto observer ---------------------------------------------------------------------------

    def observe(self, exchange: MotoExchange) -> None:
        """:class:`local.aws.SerialisedApp` observer: keep sesv2 content, pick up new messages."""
        if exchange.method != "POST" or exchange.status != 200:
            return
        if exchange.path == _SESV2_SEND_PATH:
            try:
                request = json.loads(exchange.request_body or b"{}")
                message_id = json.loads(exchange.response_body or b"{}").get("MessageId")
            except ValueError:
                return
            simple = (request.get("Content") or {}).get("Simple")
            if message_id and simple:
                with self._lock:
                    self._simple_content[message_id] = {
                        "subject": (simple.get("Subject") or {}).get("Data", ""),
                        "text": ((simple.get("Body") or {}).get("Text") or {}).get("Data"),
                        "html": ((simple.get("Body") or {}).get("Html") or {}).get("Data"),
                    }
            self.sync()
        elif exchange.operation and exchange.operation.startswith("Send"):
            self.sync()  # SES v1 (query protocol)

    def sync(self) -> None:
        """Add messages moto accepted that the outbox does not have yet."""
        with MOTO_LOCK:
            sent = list(_ses_backend().sent_messages)
        with self._lock:
            for message in sent:
                message_id = getattr(message, "id", None) or ",".join(getattr(message, "ids", []) or [])
                if not message_id or message_id in self._known_ids:
                    continue
                self._known_ids.add(message_id)
                self._messages.append(self._entry(message_id, message))

    def _entry(self, message_id: str, message: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": message_id, "time": _now()}
        if hasattr(message, "raw_data"):
            entry.update(_from_raw(message.source, list(message.destinations), message.raw_data))
            return entry
        destinations = message.destinations if isinstance(message.destinations, dict) else {}
        entry.update(
            {
                "from": message.source,
                "to": list(destinations.get("ToAddresses", [])),
                "cc": list(destinations.get("CcAddresses", [])),
                "bcc": list(destinations.get("BccAddresses", [])),
            }
        )
        if hasattr(message, "template"):
            entry.update(
                {"subject": f"(template {message.template})", "text": message.template_data, "html": None}
            )
            return entry
        content = self._simple_content.pop(message_id, None)
        if content is not None:
            entry.update(content)
        else:
            body = str(message.body)
            looks_html = body.lstrip().startswith("<")
            entry.update(
                {
                    "subject": message.subject,
                    "text": None if looks_html else body,
                    "html": body if looks_html else None,
                }
            )
        return entry

    # -- reading ---------------------------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        """Every message, newest first."""
        self.sync()
        with self._lock:
            return [dict(message) for message in reversed(self._messages)]

    def saved(self) -> list[dict[str, Any]]:
        """Every message, oldest first (the persisted form)."""
        with self._lock:
            return [dict(message) for message in self._messages]

    def render_html(self) -> str:
        messages = self.messages()
        cards = "\n".join(_card(message) for message in messages) or "<p class=empty>No e-mail sent yet.</p>"
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Local outbox ({len(messages)})</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }}
article {{ border: 1px solid #ccc; border-radius: 6px; margin: 0 0 1.5rem; padding: 1rem; }}
h2 {{ margin: 0 0 .5rem; font-size: 1.1rem; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 0 0 .5rem; }}
dt {{ font-weight: 600; }} dd {{ margin: 0; }}
pre {{ background: #f6f6f6; padding: .75rem; white-space: pre-wrap; }}
iframe {{ width: 100%; height: 20rem; border: 1px solid #ddd; }}
.empty {{ color: #777; }}
</style></head>
<body><h1>Local outbox</h1>
<p>{len(messages)} e-mail(s), newest first. <a href="/local/outbox">Refresh</a> ·
<a href="/local/outbox.json">JSON</a></p>
{cards}
</body></html>
"""


def _card(message: dict[str, Any]) -> str:
    def row(label: str, value: Any) -> str:
        if isinstance(value, list):
            value = ", ".join(value)
        return f"<dt>{label}</dt><dd>{html.escape(str(value or ''))}</dd>" if value else ""

    parts = [
        f"<h2>{html.escape(message.get('subject') or '(no subject)')}</h2><dl>",
        row("Time", message.get("time")),
        row("From", message.get("from")),
        row("To", message.get("to")),
        row("Cc", message.get("cc")),
        row("Bcc", message.get("bcc")),
        "</dl>",
    ]
    if message.get("html"):
        parts.append(f'<iframe sandbox srcdoc="{html.escape(message["html"], quote=True)}"></iframe>')
    if message.get("text"):
        parts.append(f"<pre>{html.escape(message['text'])}</pre>")
    return "<article>" + "".join(parts) + "</article>"


def _from_raw(source: str | None, destinations: list[str], raw: str) -> dict[str, Any]:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)

    def addresses(header: str) -> list[str]:
        values = parsed.get_all(header) or []
        return [address for _name, address in getaddresses([str(v) for v in values]) if address]

    to, cc = addresses("To"), addresses("Cc")
    visible = {address.lower() for address in to + cc}
    bcc = addresses("Bcc") or [
        address for _name, address in getaddresses(destinations) if address and address.lower() not in visible
    ]

    def body(subtype: str) -> str | None:
        part = parsed.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        content = part.get_content()
        return content if isinstance(content, str) else content.decode("utf-8", "replace")

    return {
        "from": str(parsed.get("From") or source or ""),
        "to": to,
        "cc": cc,
        "bcc": list(dict.fromkeys(bcc)),
        "subject": str(parsed.get("Subject", "")),
        "text": body("plain"),
        "html": body("html"),
    }
