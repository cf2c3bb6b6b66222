"""Warned once: concurrent fulfilments crossing a low-stock threshold over HTTP publish one `inventory.low`
event and send one e-mail per recipient (the local stack serialises conditional writes as DynamoDB does)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from gateway import events

CLIENTS = 16
PER_CLIENT = 3
POOL = 60
THRESHOLD = 55  # crossed by the 6th of 48 fulfilments: the other 42 all find the stock below it


@pytest.fixture
def low_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every `inventory.low` event the stack's functions publish (they run in this process)."""
    seen: list[dict[str, Any]] = []
    publish = events.publish

    def recording(event_id: str, kind: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        event = publish(event_id, kind, *args, **kwargs)
        if kind == events.INVENTORY_LOW:
            seen.append(event)
        return event

    monkeypatch.setattr(events, "publish", recording)
    return seen


def test_fulfilments_racing_across_the_threshold_warn_once(local_stack, low_events):
    # Given a unit of its own whose admins are set in its notification settings, a pool of 60 test IDs of
    # a fresh type and a threshold of 55 that names one more address
    base, root = local_stack.base_url, {"x-api-key": local_stack.admin_key}
    tag = uuid.uuid4().hex[:6]
    unit = requests.post(f"{base}/v1/org-units", json={"name": f"Race {tag}"}, headers=root, timeout=30)
    assert unit.status_code == 201, unit.text
    unit_id = unit.json()["id"]
    admins = [f"head-{tag}@school.example.com", f"dean-{tag}@school.example.com"]
    extra = f"ops-{tag}@school.example.com"
    reply = requests.put(
        f"{base}/v1/notifications/settings",
        json={"org-unit": unit_id, "admin-emails": admins},
        headers=root,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    key = requests.post(
        f"{base}/v1/api-keys", json={"org-unit": unit_id, "role": "admin"}, headers=root, timeout=30
    ).json()["api-key"]
    headers = {"x-api-key": key}
    test_type = f"Low-{tag}"
    entries = [
        {"test-id": f"L{uuid.uuid4().hex[:10]}", "password": "pw", "test-type": test_type}
        for _ in range(POOL)
    ]
    added = requests.post(f"{base}/v1/test-ids", json={"test-ids": entries}, headers=headers, timeout=60)
    assert added.status_code == 201 and added.json()["added"] == POOL, added.text
    reply = requests.put(
        f"{base}/v1/inventory/thresholds",
        json={"test-type": test_type, "threshold": THRESHOLD, "notify": [extra]},
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 200 and reply.json()["armed"] is True, reply.text

    # When 16 clients fulfil 3 times each, all at once
    def fulfil(_: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    f"{base}/v1/fulfillments",
                    json={"product-code": f"GTX-{test_type}"},
                    headers=headers,
                    timeout=60,
                ).status_code
                for _ in range(PER_CLIENT)
            ]

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for client in pool.map(fulfil, range(CLIENTS)) for s in client]
    assert statuses == [201] * CLIENTS * PER_CLIENT

    # Then one inventory.low event went out and the threshold counts one warning
    assert [e["id"] for e in low_events] == [f"inventory.low:{unit_id}:{test_type}:1"]
    state = requests.get(f"{base}/v1/inventory/thresholds", headers=headers, timeout=30).json()["items"]
    assert [(t["armed"], t["warnings"]) for t in state] == [(False, 1)]
    # And each recipient gets exactly one warning (the mailer runs on the stack's queue pollers: wait for
    # the three, then a little longer to see that no second one follows)
    recipients = [*admins, extra]

    def warnings() -> Counter[str]:
        return Counter(
            address
            for message in local_stack.outbox()
            if message["subject"].startswith("Low stock")
            for address in message["to"]
            if address in recipients
        )

    deadline = time.monotonic() + 30
    while len(warnings()) < len(recipients) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    assert warnings() == Counter(recipients)
