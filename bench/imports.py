"""Imports: 100,000-row CSV and XLSX files through the local stack, and the importer's memory at 10k vs 100k.

BENCH_IMPORT_ROWS (default 100,000) and BENCH_IMPORT_SMALL_ROWS (default 10,000) set the two sizes. The XLSX
files are written as Excel writes them: cell text in the shared-strings table.

Throughput (through the local stack, in this process): presigned PUT -> S3 event -> import function ->
continuation queue -> status completed. Reported as rows per second divided by the throughput of bare
BatchWriteItem calls (25 items each) writing the same rows (other IDs) to the same moto in the same run
(goal >= 0.7), and the BatchWriteItem calls the import made (goal <= ceil(rows / 25) plus retries).

Memory: each file is imported by a fresh process (a Lambda instance) against a moto server, and its peak
RSS growth during the import is reported (goal <= 50 MB whatever the size; 10k vs 100k rows). Those runs
accept DynamoDB writes at the botocore layer without a backend (the requests are still built and
serialised): moto's in-memory tables would otherwise take minutes to fill, and they hold nothing of the
importer's memory. S3 (reads of the file, the report) is the real moto server.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))  # the big file (throughput and memory)
SMALL = int(os.environ.get("BENCH_IMPORT_SMALL_ROWS", "10000"))  # the small one (memory only)
BARE_ROWS = 10_000  # per baseline run: before the CSV import, between the two, after the XLSX import
TEST_TYPE = "Bench-Plus"


def _row(prefix: str, i: int) -> list[str]:
    return [f"{prefix}{i:07d}", f"Pw{(i * 7919) % 1000003:07d}", TEST_TYPE, "Ready", ""]


def write_csv(path: Path, prefix: str, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(_row(prefix, i))
    return path


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEADER = ["Test ID", "Password", "Test Type", "Status", "Assigned To"]


def write_xlsx(path: Path, prefix: str, rows: int) -> Path:
    """The rows as Excel writes a workbook: text in the shared-strings table (two new strings a row), a
    declared dimension, deflated parts. (openpyxl writes inline strings, which would leave the importer's
    shared-strings table out of the measure.)"""
    import zipfile

    fixed = [*HEADER[:4], TEST_TYPE, "Ready"]  # header text (the empty 5th header cell aside) and repeats
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            '<sheet name="Available Tests" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:D{rows + 1}"/><sheetData><row r="1">'.encode()
            )
            sheet.write("".join(f'<c r="{c}1" t="s"><v>{i}</v></c>' for i, c in enumerate("ABCD")).encode())
            sheet.write(b"</row>")
            for i in range(rows):
                n, own = i + 2, len(fixed) + 2 * i
                sheet.write(
                    f'<row r="{n}"><c r="A{n}" t="s"><v>{own}</v></c><c r="B{n}" t="s"><v>{own + 1}</v></c>'
                    f'<c r="C{n}" t="s"><v>4</v></c><c r="D{n}" t="s"><v>5</v></c></row>'.encode()
                )
            sheet.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w") as strings:
            count = len(fixed) + 2 * rows
            strings.write(f'<sst xmlns="{_MAIN}" count="{count}" uniqueCount="{count}">'.encode())
            strings.write("".join(f"<si><t>{text}</t></si>" for text in fixed).encode())
            for i in range(rows):
                test_id, password, *_ = _row(prefix, i)
                strings.write(f"<si><t>{test_id}</t></si><si><t>{password}</t></si>".encode())
            strings.write(b"</sst>")
    return path


# ------------------------------------------------------------------------------------ throughput
def _import_through_stack(stack: Any, path: Path, calls: Counter[str]) -> dict[str, Any]:
    headers = {"x-api-key": stack.admin_key}
    created = requests.post(f"{stack.base_url}/v1/inventory/imports", headers=headers, timeout=60).json()
    before = calls["BatchWriteItem"]
    started = time.perf_counter()
    with path.open("rb") as body:
        put = requests.put(created["upload-url"], data=body, timeout=600)
    assert put.status_code == 200, put.text
    while True:
        status = requests.get(
            f"{stack.base_url}/v1/inventory/imports/{created['import-id']}", headers=headers, timeout=60
        ).json()
        if status["status"] in ("completed", "failed"):
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    assert status["status"] == "completed" and status["added"] == ROWS, status
    writes = calls["BatchWriteItem"] - before
    return {
        "rows": status["rows-read"],
        "added": status["added"],
        "seconds": round(elapsed, 2),
        "rows_per_second": round(ROWS / elapsed, 1),
        "batch_write_item_calls": writes,
        "batch_write_item_goal": math.ceil(ROWS / 25),
        "file_bytes": path.stat().st_size,
    }


def _bare_batch_writes(stack: Any, first: int) -> float:
    """BatchWriteItem of the same rows (BARE_ROWS of them from `first`, other IDs), built as the importer
    builds them, 25 per call, from one client in this process: items per second of the calls alone (the
    items are built between calls, outside the clock)."""
    from gateway import imports
    from gateway.repo import batch as batches
    from gateway.repo import inventory as inventory_repo
    from local.aws import client

    dynamodb = client("dynamodb", stack.moto_url)
    table = stack.template.physical_name("InventoryTable")
    unit = inventory_repo.Unit(stack.root_unit, f"/{stack.root_unit}/", stack.root_unit)
    now = "2026-01-01T00:00:00.000Z"
    spent = 0.0
    for start in range(first, first + BARE_ROWS, 25):
        batch = []
        for i in range(start, min(start + 25, first + BARE_ROWS)):
            test_id, password, test_type, status, _assigned = _row("B", i)
            parsed = imports.Parsed(test_id, password, test_type, status, None)
            item = imports.new_item(
                unit, parsed, i + 2, "imp_0123456789abcdef", now
            )  # what the importer writes
            batch.append({"PutRequest": {"Item": batches.item(item)}})
        began = time.perf_counter()
        dynamodb.batch_write_item(RequestItems={table: batch})
        spent += time.perf_counter() - began
    return BARE_ROWS / spent


def throughput(files: dict[str, Path], tmp: Path) -> dict[str, Any]:
    from gateway import aws
    from local import LocalStack

    stack = LocalStack(port=0, state_dir=tmp / ".local", snapshot_delay=0)
    stack.start()
    try:
        calls: Counter[str] = Counter()
        lock = threading.Lock()

        def count(model: Any, **_: Any) -> None:
            with lock:
                calls[model.name] += 1

        aws.dynamodb().meta.events.register("before-call.dynamodb", count)
        # The baseline runs next to each import (before, between, after), so a machine that is busier
        # during one phase does not tilt the ratio; each import is compared with the runs around it.
        bare = [_bare_batch_writes(stack, 0)]
        results: dict[str, Any] = {"bare_batch_write_rows_per_run": BARE_ROWS}
        for index, name in enumerate(("csv", "xlsx")):
            result = _import_through_stack(stack, files[name], calls)
            bare.append(_bare_batch_writes(stack, (index + 1) * BARE_ROWS))
            around = (bare[index] + bare[index + 1]) / 2
            result["bare_batch_write_items_per_second"] = round(around, 1)
            result["ratio_to_bare_batch_write"] = round(result["rows_per_second"] / around, 2)
            results[name] = result
        results["bare_batch_write_runs_items_per_second"] = [round(b, 1) for b in bare]
        aws.dynamodb().meta.events.unregister("before-call.dynamodb", count)
        return results
    finally:
        stack.stop(snapshot=False)


# ---------------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure(env: dict[str, str], key: str, unit: str, results: Any) -> None:
    """In a fresh process: import the object at `key` once; report peak RSS growth (MB) and seconds."""
    os.environ.update(env)
    import openpyxl  # noqa: F401 - warm, as in a Lambda instance that imported it at cold start

    from gateway import aws, imports
    from gateway.repo import imports as imports_repo
    from gateway.repo import now_iso, objects

    def accept(model: Any, params: Any, **_: Any) -> Any:  # DynamoDB writes accepted, no backend
        from botocore.awsrequest import AWSResponse

        response = AWSResponse("http://bench", 200, {}, None)
        if model.name == "BatchWriteItem":
            return response, {"UnprocessedItems": {}}
        if model.name == "BatchGetItem":
            return response, {"Responses": {}, "UnprocessedKeys": {}}
        return None

    s3 = aws.client("s3")
    head = s3.head_object(Bucket=objects.bucket(), Key=key)
    import_id = f"imp_{os.getpid():016x}"
    imports_repo.put_new(
        {
            "import_id": import_id,
            "status": imports_repo.RUNNING,
            "unit_id": unit,
            "unit_path": f"/{unit}/",
            "tree": unit,
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "next_row": 0,
            "started_row": -1,
            "object_bucket": objects.bucket(),
            "object_key": key,
            "object_version": head.get("VersionId"),
            "object_etag": head["ETag"].strip('"'),
            "object_size": head["ContentLength"],
        }
    )
    aws.dynamodb().meta.events.register("before-call.dynamodb.BatchWriteItem", accept)
    aws.dynamodb().meta.events.register("before-call.dynamodb.BatchGetItem", accept)
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    outcome = imports.run_segment(import_id, 0, lambda: 900_000, max_rows=0)
    elapsed = time.perf_counter() - started
    after = _status_kb("VmHWM")
    record = imports_repo.get(import_id) or {}
    results.put(
        {
            "outcome": outcome,
            "rows": int(record.get("rows_read", 0)),
            "peak_rss_growth_mb": round((after - before) / 1024, 1),
            "seconds": round(elapsed, 1),
        }
    )


def memory(files: dict[str, Path]) -> dict[str, Any]:
    import boto3

    from local.aws import MotoServer, aws_environment, reset_moto
    from local.cfn import Template
    from local.resources import create_resources
    from local.stack import DEFAULT_TEMPLATE

    reset_moto()
    server = MotoServer()
    server.start()
    try:
        template = Template.load(DEFAULT_TEMPLATE)
        template.endpoint_url = server.url
        create_resources(
            template,
            lambda service: boto3.session.Session().client(
                service,
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            ),
        )
        env = {k: v for k, v in aws_environment(server.url).items() if v is not None}
        env.update(template.lambda_environment())
        env.update(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_TRACE_DISABLED="true")
        context = multiprocessing.get_context("spawn")
        out: dict[str, Any] = {}
        s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        for name, path in files.items():
            key = f"imports/ou_bench/{path.name}"
            s3.upload_file(str(path), env["IMPORTS_BUCKET"], key)
            results = context.Queue()
            child = context.Process(target=_measure, args=(env, key, "ou_bench", results))
            child.start()
            out[name] = results.get(timeout=900)
            child.join(timeout=60)
        return out
    finally:
        server.stop()
        reset_moto()


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        big = {
            "csv": write_csv(tmp / "import-big.csv", "C", ROWS),
            "xlsx": write_xlsx(tmp / "import-big.xlsx", "X", ROWS),
        }
        small = {
            "csv": write_csv(tmp / "import-small.csv", "c", SMALL),
            "xlsx": write_xlsx(tmp / "import-small.xlsx", "x", SMALL),
        }
        generated = time.perf_counter() - started
        flow = throughput(big, tmp)
        measured = memory(
            {
                f"csv_{SMALL // 1000}k": small["csv"],
                f"csv_{ROWS // 1000}k": big["csv"],
                f"xlsx_{SMALL // 1000}k": small["xlsx"],
                f"xlsx_{ROWS // 1000}k": big["xlsx"],
            }
        )
    return {
        "rows": ROWS,
        "files_generated_seconds": round(generated, 1),
        "through_local_stack": flow,
        "peak_memory_growth": measured,
        "goals": {
            "ratio_to_bare_batch_write": ">= 0.7",
            "batch_write_item_calls": "<= ceil(rows / 25) plus retries",
            "peak_memory_growth_mb": "<= 50 whatever the file size",
        },
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
