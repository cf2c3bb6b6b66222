"""Nothing doubled: the same Idempotency-Key sent concurrently and again later yields one assignment, one e-mail."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests


def test_concurrent_retries_with_one_key_assign_once_and_mail_once(local_stack):
    # Given a small pool of a fresh test type
    test_type = f"Idem-{uuid.uuid4().hex[:6]}"
    headers = {"x-api-key": local_stack.admin_key}
    entries = [
        {"test-id": f"I{uuid.uuid4().hex[:10]}", "password": "pw", "test-type": test_type} for _ in range(5)
    ]
    assert (
        requests.post(
            f"{local_stack.base_url}/v1/test-ids", json={"test-ids": entries}, headers=headers, timeout=60
        ).status_code
        == 201
    )
    email = f"idem-{uuid.uuid4().hex[:6]}@example.com"
    body = {"product-code": f"STX-{test_type}", "email": email}
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}", **headers}

    # When a client fires the same request 8 times at once, then once more after they all finished
    def send(_: int) -> requests.Response:
        return requests.post(f"{local_stack.base_url}/v1/fulfillments", json=body, headers=key, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(send, range(8)))
    replies.append(send(0))
    # Then each reply is the first reply or "still in progress", never a second assignment
    done = [r for r in replies if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in replies), [r.text for r in replies]
    assert len({r.json()["test-id"] for r in done}) == 1 and replies[-1].status_code == 201
    for r in replies:
        if r.status_code == 409:
            assert r.json()["description"].startswith(
                "Idempotency-Key: a request with this key is still in progress"
            )
    # And exactly one test ID is assigned and exactly one e-mail went out
    inventory = requests.get(f"{local_stack.base_url}/v1/inventory", headers=headers, timeout=60).json()
    mine = [c for c in inventory["counts"] if c["test-type"] == test_type]
    assert mine[0]["assigned"] == 1 and mine[0]["available"] == 4
    # (the e-mail leaves through the notifications queue: give the mailer a moment, then make sure no
    # second one follows)
    deadline = time.monotonic() + 30
    while not [m for m in local_stack.outbox() if email in m["to"]] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    assert [m["to"] for m in local_stack.outbox() if email in m["to"]] == [[email]]
