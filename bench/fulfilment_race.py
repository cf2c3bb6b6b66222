"""Race: 16 concurrent HTTP clients fulfil against 2,000 test IDs on the local stack until the pool is empty.

Reports duplicates (goal 0), successes (goal exactly the pool), 409s after exhaustion, allocations per second
divided by the throughput of bare conditional updates on the same local backend in the same run (goal >= 0.5),
and DynamoDB calls per successful fulfilment, authentication included (goal <= 3 on average).

Two baselines, both 16 threads of a separate process with their own clients, each thread on its own items
(no contention), straight to the local backend (no HTTP front, no handler):

- **the claim's own conditional update** (the goal's baseline): the exact UpdateItem a fulfilment sends
  (captured from a warm-up fulfilment: update and condition expressions, values, ReturnValues) applied to
  other available test IDs of the same shape. It isolates what the service and the contention cost on top
  of the storage write a fulfilment has to make;
- **a minimal conditional update** (one attribute on a one-attribute item), reported beside it: moto
  parses and checks expressions in Python, so on this backend a twelve-clause update of a test ID costs
  about three times a one-clause one, which says nothing about the service.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import requests

from local import LocalStack

CLIENTS = 16
POOL = 2000


# The clients of both measurements run in a separate process (a load generator), so the backend process
# is not also paying for the clients' own work.


def _updates_per_second(moto_url: str, chunks: list[list[dict[str, Any]]]) -> float:
    """UpdateItem calls (one list of call parameters per thread) by 16 threads with their own clients."""

    def work(calls: list[dict[str, Any]]) -> int:
        client = boto3.client(
            "dynamodb",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        for params in calls:
            client.update_item(**params)
        return len(calls)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        done = sum(pool.map(work, chunks))
    return done / (time.perf_counter() - started)


def _bare_clients(moto_url: str, table: str) -> float:
    """Conditional claims of distinct items (one attribute each), no contention: updates per second."""
    minimal = {
        "TableName": table,
        "UpdateExpression": "SET claimed_by = :me",
        "ConditionExpression": "attribute_not_exists(claimed_by)",
        "ExpressionAttributeValues": {":me": {"S": "bench"}},
    }
    calls = [{**minimal, "Key": {"pk": {"S": f"BARE#{i}"}, "sk": {"S": "BARE"}}} for i in range(POOL)]
    return _updates_per_second(moto_url, [calls[c::CLIENTS] for c in range(CLIENTS)])


def _claim_clients(moto_url: str, params: dict[str, Any], keys: list[dict[str, Any]]) -> float:
    """The captured claim UpdateItem applied to distinct available test IDs by 16 threads: updates/second."""
    calls = [{**params, "Key": key} for key in keys]
    return _updates_per_second(moto_url, [calls[c::CLIENTS] for c in range(CLIENTS)])


def _fulfilment_clients(
    base_url: str, key: str, test_type: str
) -> tuple[list[list[str]], list[int], list[int], float]:
    """16 HTTP clients fulfil until each gets a 409: what each got, its 409s and other errors, seconds."""
    headers = {"x-api-key": key}

    def drain(_: int) -> tuple[list[str], int, int]:
        got, conflicts, errors = [], 0, 0
        with requests.Session() as session:
            while True:
                reply = session.post(
                    f"{base_url}/v1/fulfillments",
                    headers=headers,
                    timeout=120,
                    json={"product-code": f"GTX-{test_type}"},
                )
                if reply.status_code == 201:
                    got.append(reply.json()["test-id"])
                elif reply.status_code == 409:
                    return got, conflicts + 1, errors
                else:
                    errors += 1
                    if errors > 10:
                        return got, conflicts, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(drain, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results], elapsed


def _in_child(function: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as child:
        return child.apply(function, args)


def _bare_updates(stack: LocalStack, table: str) -> float:
    seed = boto3.client("dynamodb", endpoint_url=stack.moto_url)
    for start in range(0, POOL, 25):
        seed.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"BARE#{i}"}, "sk": {"S": "BARE"}}}}
                    for i in range(start, min(start + 25, POOL))
                ]
            }
        )
    return float(_in_child(_bare_clients, stack.moto_url, table))


def _add(stack: LocalStack, prefix: str, test_type: str, count: int) -> None:
    for start in range(0, count, 500):
        entries = [
            {"test-id": f"{prefix}{i:06d}", "password": "pw", "test-type": test_type}
            for i in range(start, min(start + 500, count))
        ]
        reply = requests.post(
            f"{stack.base_url}/v1/test-ids",
            json={"test-ids": entries},
            headers={"x-api-key": stack.admin_key},
            timeout=600,
        )
        assert reply.status_code == 201 and reply.json()["added"] == len(entries), reply.text


def _captured_claim(stack: LocalStack, test_type: str) -> dict[str, Any]:
    """The UpdateItem parameters of one real fulfilment (of a warm-up test ID of `test_type`)."""
    from gateway import aws

    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        if "ConditionExpression" in params and "assigned_to" in params.get("UpdateExpression", ""):
            seen.append(dict(params))

    events = aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", capture)
    try:
        reply = requests.post(
            f"{stack.base_url}/v1/fulfillments",
            headers={"x-api-key": stack.admin_key},
            json={"product-code": f"GTX-{test_type}"},
            timeout=120,
        )
        assert reply.status_code == 201, reply.text
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", capture)
    assert len(seen) == 1, seen
    return seen[0]


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, LocalStack(port=0, state_dir=Path(tmp) / ".local") as stack:
        from gateway import aws

        headers = {"x-api-key": stack.admin_key}
        test_type, bare_type = "Bench-Plus", "Bare-Plus"
        _add(stack, "B", test_type, POOL)
        _add(stack, "C", bare_type, POOL + 1)  # the same shape, for the claim baseline (+1 for the warm-up)
        # Warm the provisioning function and the caller's key, as a steady-state instance would be, and
        # capture the conditional update one fulfilment sends.
        requests.get(f"{stack.base_url}/v1/inventory", headers=headers, timeout=60)
        claim = _captured_claim(stack, bare_type)
        claimed = claim["Key"]["pk"]["S"]
        claim_keys = [
            {"pk": {"S": f"TID#C{i:06d}"}, "sk": {"S": "TID"}}
            for i in range(POOL + 1)
            if f"TID#C{i:06d}" != claimed
        ]

        calls: Counter[str] = Counter()
        lock = threading.Lock()

        def count(model: Any, **_: Any) -> None:
            with lock:
                calls[model.name] += 1

        aws.dynamodb().meta.events.register("before-call.dynamodb", count)

        got, conflicts, errors, elapsed = _in_child(
            _fulfilment_clients, stack.base_url, stack.admin_key, test_type
        )
        aws.dynamodb().meta.events.unregister("before-call.dynamodb", count)
        handed = [t for each in got for t in each]
        successes = len(handed)
        bare_claim = float(_in_child(_claim_clients, stack.moto_url, claim, claim_keys))
        bare = _bare_updates(stack, stack.template.physical_name("InventoryTable"))
    rate = successes / elapsed
    return {
        "clients": CLIENTS,
        "pool": POOL,
        "successes": successes,
        "duplicates": sum(n - 1 for n in Counter(handed).values() if n > 1),
        "conflicts_409_after_exhaustion": sum(conflicts),
        "other_errors": sum(errors),
        "seconds": round(elapsed, 2),
        "fulfilments_per_second": round(rate, 1),
        "bare_claim_updates_per_second": round(bare_claim, 1),
        "ratio_to_bare_updates": round(rate / bare_claim, 2),
        "minimal_conditional_updates_per_second": round(bare, 1),
        "ratio_to_minimal_updates": round(rate / bare, 2),
        "dynamodb_calls_per_success": round(sum(calls.values()) / max(successes, 1), 2),
        "dynamodb_calls_by_operation": dict(calls),
        "goals": {
            "duplicates": 0,
            "successes": POOL,
            "ratio_to_bare_updates": ">= 0.5",
            "dynamodb_calls_per_success": "<= 3",
        },
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
