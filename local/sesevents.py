"""SES event publishing, as a configuration set's SNS event destination does it.

moto accepts ``sesv2`` sends but publishes no events. For every ``AWS::SES::ConfigurationSetEventDestination``
of the template with an ``SnsDestination``, a message sent with that configuration set makes this module
publish SES's event JSON (``eventType``, ``mail`` with ``messageId``, ``destination`` and ``tags``) to the
topic, for the event types the destination matches:

- ``send`` for every message SES accepted;
- ``bounce`` (permanent) for recipients at ``bounce@simulator.amazonses.com`` (SES's mailbox simulator;
  any ``bounce+label@`` too), ``complaint`` for ``complaint@simulator.amazonses.com``;
- ``delivery`` for the other recipients.

The template's SNS subscriptions (created by :mod:`local.resources`) carry them on, e.g. to an SQS queue
that a function consumes. Publishing happens on a worker thread: observers run while moto is serialised.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.aws import MotoExchange
from local.cfn import Template

CONFIGURATION_SET_EVENT_DESTINATION = "AWS::SES::ConfigurationSetEventDestination"
SIMULATOR = "simulator.amazonses.com"
_SESV2_SEND_PATH = "/v2/email/outbound-emails"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def destinations(template: Template) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Configuration set name -> [(topic ARN, matching event types, lower case)] from the template."""
    found: dict[str, list[tuple[str, frozenset[str]]]] = {}
    for logical_id in template.resources(CONFIGURATION_SET_EVENT_DESTINATION):
        props = template.properties(logical_id)
        target = props.get("EventDestination") or {}
        topic = (target.get("SnsDestination") or {}).get("TopicARN")
        if not topic or str(target.get("Enabled", True)).lower() == "false":
            continue
        kinds = frozenset(str(k).lower() for k in target.get("MatchingEventTypes") or [])
        found.setdefault(str(props["ConfigurationSetName"]), []).append((str(topic), kinds))
    return found


def _mailbox_kind(address: str) -> str:
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR:
        return "delivery"
    local = local.split("+", 1)[0]
    return {"bounce": "bounce", "complaint": "complaint"}.get(local, "delivery")


def ses_events(request: dict[str, Any], message_id: str) -> list[dict[str, Any]]:
    """The events SES would publish for one sesv2 SendEmail request it accepted."""
    dest = request.get("Destination") or {}
    recipients = [
        str(a) for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in dest.get(key) or []
    ]
    now = _now()
    mail = {
        "timestamp": now,
        "source": request.get("FromEmailAddress", ""),
        "messageId": message_id,
        "destination": recipients,
        "tags": {str(t["Name"]): [str(t["Value"])] for t in request.get("EmailTags") or []}
        | {"ses:configuration-set": [str(request.get("ConfigurationSetName", ""))]},
    }
    found: list[dict[str, Any]] = [{"eventType": "Send", "mail": mail, "send": {}}]
    by_kind: dict[str, list[str]] = {}
    for address in recipients:
        by_kind.setdefault(_mailbox_kind(address), []).append(address)
    if by_kind.get("bounce"):
        found.append(
            {
                "eventType": "Bounce",
                "mail": mail,
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [{"emailAddress": a} for a in by_kind["bounce"]],
                    "timestamp": now,
                },
            }
        )
    if by_kind.get("complaint"):
        found.append(
            {
                "eventType": "Complaint",
                "mail": mail,
                "complaint": {
                    "complainedRecipients": [{"emailAddress": a} for a in by_kind["complaint"]],
                    "complaintFeedbackType": "abuse",
                    "timestamp": now,
                },
            }
        )
    if by_kind.get("delivery"):
        found.append(
            {
                "eventType": "Delivery",
                "mail": mail,
                "delivery": {"recipients": by_kind["delivery"], "timestamp": now},
            }
        )
    return found


class SesEventPublisher:
    """A moto observer: sesv2 sends with a configuration set -> SES events on the destination's topic."""

    def __init__(self, template: Template, sns_client: Callable[[], Any]) -> None:
        self._destinations = destinations(template)
        self._sns_client = sns_client
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    @property
    def wired(self) -> bool:
        return bool(self._destinations)

    def start(self) -> None:
        if self.wired and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ses-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def observe(self, exchange: MotoExchange) -> None:
        if exchange.method != "POST" or exchange.status != 200 or exchange.path != _SESV2_SEND_PATH:
            return
        try:
            request = json.loads(exchange.request_body or b"{}")
            message_id = str(json.loads(exchange.response_body or b"{}").get("MessageId", ""))
        except ValueError:
            return
        targets = self._destinations.get(str(request.get("ConfigurationSetName") or ""))
        if not targets or not message_id:
            return
        for event in ses_events(request, message_id):
            for topic, kinds in targets:
                if event["eventType"].lower() in kinds:
                    self._queue.put((topic, json.dumps(event)))

    def _run(self) -> None:
        sns = self._sns_client()
        while True:
            item = self._queue.get()
            if item is None:
                return
            topic, message = item
            try:
                sns.publish(TopicArn=topic, Message=message)
            except Exception as exc:  # the local stack must keep running
                print(f"local stack: SES event not published to {topic}: {exc!r}")
