"""Expiry: an inventory of 100,000 test IDs of which 500 assignments are due (and 1,000 assigned ones are
not yet due), released through the local stack's POST /v1/jobs/expire-assignments.

Reports items read (every item a DynamoDB read returned or scanned: Query ScannedCount, GetItem,
BatchGetItem, Scan) divided by items released (goal <= 1.1): the sparse expiry index keeps the job's cost
with the due assignments, whatever the inventory's size. The inventory is loaded straight into moto's
tables (in this process) so the benchmark does not spend minutes writing it over HTTP.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

INVENTORY = 100_000
DUE = 500
NOT_DUE = 1_000


def _seed(stack: Any) -> float:
    from moto.dynamodb.models import dynamodb_backends

    from gateway import expiry
    from gateway.repo import batch
    from gateway.repo import inventory as inventory_repo
    from local.aws import ACCOUNT_ID, MOTO_LOCK, REGION

    started = time.perf_counter()
    table = stack.template.physical_name("InventoryTable")
    unit = inventory_repo.Unit(stack.root_unit, f"/{stack.root_unit}/", stack.root_unit)
    backend = dynamodb_backends[ACCOUNT_ID][REGION]
    now = "2026-01-01T00:00:00.000Z"
    with MOTO_LOCK:
        for i in range(INVENTORY):
            test_id = f"EXP{i:07d}"
            item = inventory_repo.new_test_id(unit, test_id, f"pw{i}", "Bench-Plus", now, "bench")
            if i < DUE + NOT_DUE:
                expire = "2020-01-01" if i < DUE else "2999-01-01"
                assigned_to = {"student-name": f"Candidate {i}", "expire": expire}
                item.pop("avail_pk")
                item.pop("avail_sk")
                claim = f"{i:016x}"
                item.update(
                    assigned_to=assigned_to,
                    assigned_at=now,
                    product_code="GTX-Bench-Plus",
                    claim_id=claim,
                    **expiry.index_keys(claim, assigned_to),
                )
            backend.put_item(table, batch.item(item))
    return time.perf_counter() - started


def run() -> dict[str, Any]:
    from gateway import aws
    from local import LocalStack

    with tempfile.TemporaryDirectory() as folder:
        stack = LocalStack(port=0, state_dir=Path(folder) / ".local", snapshot_delay=0)
        stack.start()
        try:
            seeded = _seed(stack)
            calls: Counter[str] = Counter()
            read: Counter[str] = Counter()
            lock = threading.Lock()

            def count(parsed: dict[str, Any], model: Any, **_: Any) -> None:
                with lock:
                    calls[model.name] += 1
                    if model.name in ("Query", "Scan"):
                        read[model.name] += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
                    elif model.name == "GetItem" and "Item" in parsed:
                        read[model.name] += 1
                    elif model.name == "BatchGetItem":
                        read[model.name] += sum(len(v) for v in parsed.get("Responses", {}).values())

            # The events the job publishes would be consumed (and their DynamoDB calls counted) by the
            # events queue's consumer in this same process: pause the queue consumers while measuring.
            for poller in stack.triggers.pollers:
                poller.stop()
            headers = {"x-api-key": stack.admin_key}
            requests.get(
                f"{stack.base_url}/v1/inventory/thresholds", headers=headers, timeout=60
            )  # warm the key
            aws.dynamodb().meta.events.register("after-call.dynamodb", count)
            totals: Counter[str] = Counter()
            runs = 0
            started = time.perf_counter()
            while True:
                runs += 1
                reply = requests.post(
                    f"{stack.base_url}/v1/jobs/expire-assignments", headers=headers, timeout=120
                )
                assert reply.status_code == 200, reply.text
                result = reply.json()
                totals.update({k: result[k] for k in ("examined", "released", "skipped")})
                if result["complete"]:
                    break
            elapsed = time.perf_counter() - started
            aws.dynamodb().meta.events.unregister("after-call.dynamodb", count)
            items_read = sum(read.values())
        finally:
            stack.stop(snapshot=False)
    return {
        "inventory_ids": INVENTORY,
        "due": DUE,
        "assigned_not_yet_due": NOT_DUE,
        "seeded_seconds": round(seeded, 1),
        "runs": runs,
        "seconds": round(elapsed, 2),
        **dict(totals),
        "items_read": items_read,
        "items_read_by_operation": dict(read),
        "items_read_per_released": round(items_read / max(totals["released"], 1), 3),
        "dynamodb_calls_by_operation": dict(calls),
        "goals": {"released": DUE, "items_read_per_released": "<= 1.1"},
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
