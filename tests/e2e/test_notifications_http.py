"""E-mail through the local stack: registration -> notifications queue -> mailer -> SES (moto) -> outbox, and
SES's bounce event -> SNS -> feedback queue -> suppression and `emailBounced`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import requests


def wait_for(check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def outbox_to(base_url: str, address: str) -> list[dict[str, Any]]:
    messages = requests.get(f"{base_url}/local/outbox.json", timeout=10).json()
    return [m for m in messages if address in m["to"]]


def register(local_stack, email: str) -> dict[str, Any]:
    reply = requests.post(
        f"{local_stack.base_url}/v2/tests/1001/register",
        json={
            "emailId": email,
            "fullName": "Amit Mishra",
            "callbackURL": "",
            "redirectURL": "",
            "sendEmail": True,
        },
        headers={"x-api-key": local_stack.admin_key},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["result"])


def test_registering_with_send_email_puts_one_email_in_the_outbox(local_stack):
    # Given a new candidate registered with "sendEmail": true
    email = f"amit-{uuid.uuid4().hex[:8]}@example.com"
    result = register(local_stack, email)
    # When the mailer has run (the local stack polls the notifications queue)
    found = wait_for(lambda: outbox_to(local_stack.base_url, email))
    # Then /local/outbox.json shows the invitation with the take-test URL, in text and HTML
    assert len(found) == 1, found
    assert result["takeTestURL"] in found[0]["text"] and result["takeTestURL"] in found[0]["html"]
    # And registering again sends no second one
    register(local_stack, email)
    time.sleep(3)
    assert len(outbox_to(local_stack.base_url, email)) == 1


def test_a_bounce_from_the_ses_simulator_marks_the_invitation_and_suppresses_the_address(local_stack):
    # Given a candidate whose address bounces (SES's mailbox simulator)
    email = f"bounce+{uuid.uuid4().hex[:8]}@simulator.amazonses.com"
    inv = register(local_stack, email)["testInvitationId"]
    headers = {"x-api-key": local_stack.admin_key}

    # When the e-mail is sent and SES's bounce event comes back (SNS -> feedback queue -> function)
    def bounced() -> bool:
        view = requests.get(
            f"{local_stack.base_url}/v2/invitations/{inv}", headers=headers, timeout=10
        ).json()
        return bool(view["result"]["emailBounced"])

    # Then the invitation shows emailBounced and the address is suppressed for the unit
    assert wait_for(bounced), "the invitation never showed emailBounced"
    suppressed = requests.get(
        f"{local_stack.base_url}/v1/notifications/suppressions", headers=headers, timeout=10
    )
    assert email in [s["email"] for s in suppressed.json()["items"]]
    assert len(outbox_to(local_stack.base_url, email)) == 1
