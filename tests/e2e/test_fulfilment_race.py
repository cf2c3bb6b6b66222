"""Nothing doubled: concurrent fulfilments against one pool over HTTP hand out each test ID exactly once."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

CLIENTS = 16
POOL = 200


def test_sixteen_clients_drain_a_pool_without_a_duplicate(local_stack):
    # Given a pool of 200 test IDs of a type nobody else uses
    test_type = f"Race-{uuid.uuid4().hex[:6]}"
    headers = {"x-api-key": local_stack.admin_key}
    entries = [
        {"test-id": f"R{uuid.uuid4().hex[:10]}", "password": "pw", "test-type": test_type}
        for _ in range(POOL)
    ]
    added = requests.post(
        f"{local_stack.base_url}/v1/test-ids", json={"test-ids": entries}, headers=headers, timeout=60
    )
    assert added.status_code == 201 and added.json()["added"] == POOL

    def drain(_: int) -> tuple[list[str], int, list[int]]:
        got, exhausted, other = [], 0, []
        with requests.Session() as session:
            while True:
                reply = session.post(
                    f"{local_stack.base_url}/v1/fulfillments",
                    headers=headers,
                    timeout=60,
                    json={"product-code": f"GTX-{test_type}"},
                )
                if reply.status_code == 201:
                    got.append(reply.json()["test-id"])
                elif reply.status_code == 409:
                    return got, exhausted + 1, other
                else:
                    other.append(reply.status_code)
                    if len(other) > 5:
                        return got, exhausted, other

    # When 16 clients fulfil concurrently until the pool is empty
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(drain, range(CLIENTS)))
    handed_out = [test_id for got, _, _ in results for test_id in got]
    # Then every test ID was handed out exactly once, and every client ended on a 409
    duplicates = [t for t, n in Counter(handed_out).items() if n > 1]
    assert duplicates == []
    assert sorted(handed_out) == sorted(e["test-id"] for e in entries)
    assert [exhausted for _, exhausted, _ in results] == [1] * CLIENTS
    assert [other for _, _, other in results] == [[]] * CLIENTS
    # And the inventory agrees: nothing available, each assigned once
    listing = requests.get(f"{local_stack.base_url}/v1/inventory", headers=headers, timeout=60).json()
    mine = [c for c in listing["counts"] if c["test-type"] == test_type]
    assert mine == [
        {"test-type": test_type, "status": "Ready", "total": POOL, "assigned": POOL, "available": 0}
    ]
