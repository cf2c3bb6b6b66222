"""Candidate search: DynamoDB items read per search page divided by items returned (goal <= 1.5) on a
table of 100,000 candidates (BENCH_CANDIDATES), i.e. index queries, not scans.

The candidates are written straight into moto's tables in this process with BatchWriteItem (25 items a
call), spread over 111 units (a root, 10 children, 100 grandchildren), 3 % hidden, with mixed statuses,
levels, test types and registration sources. Then typical searches are paged through with the domain's
own search (as the API runs it), by a root admin, a campus (child unit, 11 units) and a class (a leaf),
counting what every DynamoDB Query read (ScannedCount: every item an index read, whether or not a filter
kept it; the directory query that lists a small subtree's units for a merged text search included).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from typing import Any

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "100000"))
PAGES = 5  # pages read per search (at most)
LIMIT = 50


def _setup() -> tuple[Any, Any, list[Any], list[Any]]:
    import boto3

    from gateway import aws, bootstrap, orgs
    from gateway.auth import Caller
    from gateway.config import get_settings
    from gateway.contracts import Role
    from local.cfn import Template
    from local.resources import create_resources
    from tests.helpers import TEMPLATE

    template = Template.load(TEMPLATE)
    create_resources(template, lambda service: boto3.client(service))
    for name, value in template.lambda_environment().items():
        os.environ[name] = value
    get_settings.cache_clear()
    aws.reset()
    root_id = bootstrap.seed_root(api_key="bench-admin-key")["org_unit"]
    root = Caller("bench", Role.ADMIN, root_id, f"/{root_id}/", root_id)
    root_unit = orgs.unit_in_scope(root, root_id, "org-unit")
    children = [orgs.create_unit(root, f"Campus {i}", None) for i in range(10)]
    grandchildren = [
        orgs.create_unit(root, f"Class {i}-{j}", c.id) for i, c in enumerate(children) for j in range(10)
    ]
    return root, Caller, [root_unit, *children], grandchildren


def _seed(root: Any, units: list[Any]) -> tuple[float, int]:
    """Write the candidates with BatchWriteItem; returns (seconds, BatchWriteItem calls)."""
    from gateway import aws
    from gateway.config import get_settings
    from gateway.repo import batch
    from gateway.repo import candidates as repo

    rng = random.Random(7)
    table = get_settings().candidates_table
    client = aws.dynamodb()
    statuses = ["Registered"] * 5 + ["Started", "Finished", "Completed", "Completed", "Completed"]
    levels = ["A1", "A2", "B1", "B2", "C1", None]
    sources = ["api"] * 7 + ["dashboard", "dashboard", "import"]
    started = time.perf_counter()
    calls = 0
    buffer: list[dict[str, Any]] = []
    for i in range(CANDIDATES):
        unit = units[i % len(units)]
        created = f"2026-{1 + i * 12 // CANDIDATES:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00.{i % 1000:03d}Z"
        cid = f"cand_{i:020d}"
        record: dict[str, Any] = {
            "pk": f"CAND#{cid}",
            "sk": "PROFILE",
            "entity": "candidate",
            "id": cid,
            "email": f"user{i:06d}@school{i % 37}.example.com",
            "email_lower": f"user{i:06d}@school{i % 37}.example.com",
            "full_name": f"{rng.choice(['Ana', 'Budi', 'Chen', 'Dewi', 'Eko', 'Fatima'])} Person {i}",
            "unit_id": unit.id,
            "unit_path": unit.path,
            "tree": root.tree,
            "created_at": created,
            "updated_at": created,
            "hidden": rng.random() < 0.03,
            "status": rng.choice(statuses),
            "level": rng.choice(levels),
            "test_type": str(1000 + i % 5),
            "source": rng.choice(sources),
            "username": f"u{i}" if i % 4 == 0 else None,
        }
        record |= {k: v for k, v in repo.search_keys(record).items() if v is not None}
        buffer.append({"PutRequest": {"Item": batch.item(record)}})
        if len(buffer) == 25 or i == CANDIDATES - 1:
            request = {table: buffer}
            while request:
                calls += 1
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            buffer = []
    return time.perf_counter() - started, calls


def run() -> dict[str, Any]:
    from moto import mock_aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        from gateway import aws, candidates
        from gateway.contracts import Role

        root, caller_type, tops, grandchildren = _setup()
        seeded, batch_calls = _seed(root, [*tops, *grandchildren])
        child = tops[4]
        campus = caller_type("bench-child", Role.SUPPORT, child.id, child.path, root.tree)
        leaf = grandchildren[42]
        klass = caller_type("bench-class", Role.SUPPORT, leaf.id, leaf.path, root.tree)
        F = candidates.SearchFilters
        probe = CANDIDATES // 2 + 1
        searches: list[tuple[str, Any, Any]] = [
            ("root: everything", root, F()),
            ("root: e-mail exact", root, F(email=f"USER{probe:06d}@school{probe % 37}.example.COM")),
            ("root: e-mail prefix", root, F(email_prefix=f"user{probe // 100:04d}")),
            ("root: name prefix", root, F(name="dewi person 1")),
            ("root: username", root, F(username=f"U{probe - probe % 4}")),
            ("root: status Completed", root, F(status="Completed")),
            ("root: level B2", root, F(level="B2")),
            ("root: source dashboard", root, F(source="dashboard")),
            ("root: test type 1003", root, F(test_type="1003")),
            ("root: a class (org-unit)", root, F(unit=grandchildren[57].id)),
            ("campus: everything", campus, F()),
            ("campus: status Completed", campus, F(status="Completed")),
            ("campus: source import", campus, F(source="import")),
            ("campus: e-mail prefix", campus, F(email_prefix="user0")),
            ("campus: name prefix", campus, F(name="ana")),
            ("class: e-mail prefix", klass, F(email_prefix="user")),
        ]
        read: Counter[str] = Counter()

        def count(parsed: dict[str, Any], model: Any, **_: Any) -> None:
            if model.name == "Query":
                read["items"] += int(parsed.get("ScannedCount", 0))
                read["queries"] += 1

        aws.dynamodb().meta.events.register("after-call.dynamodb", count)
        rows = []
        total_read = total_returned = 0
        started = time.perf_counter()
        for label, caller, filters in searches:
            before = dict(read)
            returned = pages = 0
            cursor = None
            search_started = time.perf_counter()
            while pages < PAGES:
                items, cursor, _ = candidates.search_page(caller, filters, LIMIT, cursor)
                returned += len(items)
                pages += 1
                if cursor is None:
                    break
            items_read = read["items"] - before.get("items", 0)
            total_read += items_read
            total_returned += returned
            rows.append(
                {
                    "search": label,
                    "pages": pages,
                    "returned": returned,
                    "items_read": items_read,
                    "queries": read["queries"] - before.get("queries", 0),
                    "items_read_per_returned": round(items_read / max(returned, 1), 3),
                    "seconds": round(time.perf_counter() - search_started, 2),
                }
            )
        elapsed = time.perf_counter() - started
    worst = max(r["items_read_per_returned"] for r in rows if r["returned"])
    return {
        "candidates": CANDIDATES,
        "units": 111,
        "page_size": LIMIT,
        "seeded_seconds": round(seeded, 1),
        "batch_write_calls": batch_calls,
        "searches": rows,
        "items_read": total_read,
        "items_returned": total_returned,
        "items_read_per_returned": round(total_read / max(total_returned, 1), 3),
        "worst_search_items_read_per_returned": worst,
        "search_seconds": round(elapsed, 1),
        "goals": {"items_read_per_returned": "<= 1.5"},
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
