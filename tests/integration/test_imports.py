"""Inventory imports through the real functions on moto: upload URL, S3 event, segments, status, report."""

from __future__ import annotations

import json

import boto3
import pytest
from moto.s3 import models as moto_s3

from gateway import imports, tabular
from gateway.config import get_settings
from gateway.repo import batch, objects
from gateway.repo import imports as imports_repo
from tests.helpers import xlsx_shared_strings_file
from tests.integration.harness import DynamoFaults, Importer, csv_file, xlsx_file

HEADER = ["Test ID", "Password", "Test Type", "Status", "Assigned To"]


@pytest.fixture
def importer(stack, monkeypatch):
    monkeypatch.setattr(batch, "sleep", lambda _seconds: None)  # backoff without waiting
    return Importer(stack)


@pytest.fixture
def faults():
    injected = DynamoFaults().install()
    yield injected
    injected.remove()


def rows(n, prefix="T", test_type="Academic-Plus", start=0):
    return [[f"{prefix}{i:05d}", f"pw{i}", test_type, "Ready", ""] for i in range(start, start + n)]


def test_the_upload_url_is_a_presigned_put_for_the_callers_unit(stack, importer):
    # When an admin asks for an upload URL
    created = importer.create()
    # Then it gets an import id and a presigned PUT for imports/<unit>/<import id>, and the import is pending
    assert set(created) == {"import-id", "upload-url", "upload-method", "expires-at", "org-unit", "status"}
    assert created["import-id"].startswith("imp_") and created["status"] == "pending"
    assert f"/imports/{stack.root}/{created['import-id']}?" in created["upload-url"]
    assert "X-Amz-Signature=" in created["upload-url"] and created["upload-method"] == "PUT"
    status = importer.status(created["import-id"])
    assert status["status"] == "pending" and status["rows-read"] == 0 and status["report-url"] is None


def test_upload_urls_need_an_admin_and_a_unit_in_scope(stack):
    unit = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    key = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": "integration"}).json()["api-key"]
    refused = stack.api.as_key(key).post("/v1/inventory/imports")
    assert refused.status == 403 and refused.json()["statuscode"] == "403.1"
    admin = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": "admin"}).json()["api-key"]
    assert stack.api.as_key(admin).post("/v1/inventory/imports", {"org-unit": stack.root}).status == 403
    missing = stack.api.post("/v1/inventory/imports", {"org-unit": "ou_nope"})
    assert missing.status == 404 and missing.description == "org-unit: no organisation unit 'ou_nope'"
    assert stack.api.post("/v1/inventory/imports", {"file-name": ""}).status == 400
    assert stack.api.get("/v1/inventory/imports/imp_0000000000000000").status == 404
    assert stack.api.get("/v1/inventory/imports/not-an-id").status == 404


def test_another_units_import_is_out_of_scope(stack, importer):
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    south = stack.api.post("/v1/org-units", {"name": "South"}).json()["id"]
    south_admin = stack.api.post("/v1/api-keys", {"org-unit": south, "role": "admin"}).json()["api-key"]
    import_id = importer.create(body={"org-unit": north})["import-id"]
    reply = stack.api.as_key(south_admin).get(f"/v1/inventory/imports/{import_id}")
    assert reply.status == 403 and reply.json()["statuscode"] == "403.2"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(csv_file(rows(30)), id="csv-comma"),
        pytest.param(csv_file(rows(30), delimiter=";", bom=True), id="csv-semicolon-bom"),
        pytest.param(csv_file(rows(30), bom=True), id="csv-comma-bom"),  # Excel's "CSV UTF-8"
        pytest.param(csv_file(rows(30), delimiter="\t"), id="csv-tab"),
        pytest.param(
            csv_file(rows(30), header=["test_id", "PASSWORD", "TestType", "status", "assigned_to"]),
            id="headers",
        ),
        pytest.param(xlsx_file(rows(30)), id="xlsx"),
    ],
)
def test_a_file_is_imported_into_the_units_inventory(stack, importer, data):
    # When a vendor export is uploaded
    status = importer.run(data)
    # Then every row is imported, available, and reported
    assert status["status"] == "completed", status
    assert (status["rows-read"], status["imported"], status["added"], status["unchanged"]) == (30, 30, 30, 0)
    assert status["skipped"] == [] and status["skipped-total"] == 0 and status["error"] is None
    inventory = stack.api.get("/v1/inventory").json()
    assert inventory["available"] == 30
    stored = stack.api.get("/v1/test-ids/T00007").json()
    assert stored["password"] == "pw7" and stored["available"] is True
    assert [h["event"] for h in stored["history"]] == ["imported"]
    report = importer.report(status["import-id"])
    assert report[0] == ["row", "test-id", "outcome", "reason"]
    assert report[1] == ["2", "T00000", "added", ""] and len(report) == 31
    # And a fulfilment can hand them out
    assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).status == 201


def test_xlsx_numbers_dates_and_blank_rows(stack, importer):
    data = xlsx_file(
        [
            [123982, "k9Qx7", "Academic-Plus", "Ready", None],
            [None, None, None, None, None],
            ["AB-1", 4711.0, "Academic-Plus", None, '{"student-name": "Mary", "expire": "2099-01-01"}'],
        ]
    )
    status = importer.run(data)
    assert (status["status"], status["added"], status["rows-read"]) == ("completed", 2, 2), status
    assert stack.api.get("/v1/test-ids/123982").json()["password"] == "k9Qx7"
    assigned = stack.api.get("/v1/test-ids/AB-1").json()
    assert assigned["password"] == "4711" and assigned["available"] is False
    assert assigned["assigned-to"] == {"student-name": "Mary", "expire": "2099-01-01"}
    assert importer.report(status["import-id"])[2][0] == "4"  # the blank row keeps its number


BAD_ROWS = [
    (["", "pw", "Academic-Plus", "", ""], "", "test-id: is required"),
    (["a b", "pw", "Academic-Plus", "", ""], "a b", "test-id: must be 3-40 letters, digits, '-' or '_'"),
    (["B00002", "", "Academic-Plus", "", ""], "B00002", "password: must be 1-64 characters"),
    (["B00003", "x" * 65, "Academic-Plus", "", ""], "B00003", "password: must be 1-64 characters"),
    (
        ["B00004", "pw", "", "", ""],
        "B00004",
        "test-type: must be 1-63 letters, digits, '-' or '_' (e.g. Academic-Plus)",
    ),
    (
        ["B00005", "pw", "Academic-Plus", "Lost", ""],
        "B00005",
        "status: unknown status 'Lost' (one of Ready, Started, Finished, Review, Technical Difficulty, "
        "Invalidated, Completed, Disabled)",
    ),
    (["B00006", "pw", "Academic-Plus", "", "{not json"], "B00006", "assigned-to: is not valid JSON"),
    (["B00007", "pw", "Academic-Plus", "", "[1, 2]"], "B00007", "assigned-to: must be a JSON object"),
    (
        ["B00008", "pw", "Academic-Plus", "", '{"expire": "soon"}'],
        "B00008",
        "assigned-to.expire: must be an ISO date or date-time, not 'soon'",
    ),
    (
        ["B00009", "pw", "Academic-Plus", "", "x" * 5000],
        "B00009",
        "assigned-to: must be at most 4096 characters of JSON",
    ),
    (
        ["G00001", "pw", "Academic-Plus", "", ""],
        "G00001",
        "test-id: appears twice in this file (first on row 2)",
    ),
]


def test_every_bad_row_is_reported_with_its_number_and_reason_and_the_rest_is_imported(stack, importer):
    # Given a file whose first row is good and every other row is bad in its own way
    data = csv_file([["G00001", "pw", "Academic-Plus", "ready", ""]] + [row for row, _, _ in BAD_ROWS])
    # When it is imported
    status = importer.run(data)
    # Then the good row is imported and each bad one is skipped with its row number, test ID and reason
    assert status["status"] == "completed" and status["imported"] == 1, status
    expected = [
        {"row": n, "test-id": test_id or None, "reason": reason}
        for n, (_, test_id, reason) in enumerate(BAD_ROWS, start=3)
    ]
    assert status["skipped"] == expected
    assert status["skipped-total"] == len(BAD_ROWS) and status["rows-read"] == len(BAD_ROWS) + 1
    report = importer.report(status["import-id"])
    assert report[1] == ["2", "G00001", "added", ""]
    assert report[3] == ["4", "a b", "skipped", "test-id: must be 3-40 letters, digits, '-' or '_'"]
    assert stack.api.get("/v1/inventory").json()["total"] == 1


def test_a_row_that_is_not_utf8_past_the_first_64_kib_is_skipped(stack, importer):
    # The first 64 KiB decide whether the file is UTF-8 at all (else it fails as a whole, see below)
    data = csv_file(rows(2100)) + b"Q00009,caf\xe9,Academic-Plus,Ready,\r\n"
    assert len(data) > 64 * 1024
    status = importer.run(data)
    assert status["added"] == 2100 and status["skipped"] == [
        {"row": 2102, "test-id": "Q00009", "reason": "row: is not valid UTF-8 text"}
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "file: the file is empty"),
        (b"\xef\xbb\xbf\r\n  \r\n", "file: the file is empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "file: this is a legacy Excel .xls workbook"),
        (b"%PDF-1.7\n\x00\x01\x02binary", "file: not a CSV or XLSX file (binary content)"),
        (
            "Test ID,Password,Test Type\nT1é,p,A\n".encode("latin-1"),
            "file: not a CSV or XLSX file, or a CSV that is not UTF-8",
        ),
        (b"PK\x03\x04" + b"not really a zip" * 10, "file: a ZIP file but not a readable XLSX workbook"),
        (
            b"Test ID,Password\nT00001,pw\n",
            "header: required column(s) missing: test-type (the first row has: 'Test ID', 'Password')",
        ),
        (b"ID;Code;Kind\nT00001;pw;A\n", "header: required column(s) missing: test-id, password, test-type"),
        (
            b"Test ID,TestID,Password,Test Type\n",
            "header: two columns name the test-id ('Test ID' and 'TestID')",
        ),
        (b"Test ID,Password,Test Type\r\n", "file: there are no data rows under the header"),
        (b"just some words\n", "header: required column(s) missing"),
    ],
    ids=[
        "empty",
        "blank",
        "xls",
        "binary",
        "latin-1",
        "zip",
        "no-type",
        "no-columns",
        "twice",
        "header-only",
        "prose",
    ],
)
def test_a_file_that_cannot_be_imported_fails_as_a_whole_with_a_clear_reason(stack, importer, data, error):
    before = stack.snapshot(ignore=("InventoryTable",))
    status = importer.run(data)
    assert status["status"] == "failed" and status["error"].startswith(error), status
    assert status["imported"] == 0 and stack.api.get("/v1/inventory").json()["total"] == 0
    assert stack.snapshot(ignore=("InventoryTable",)) == before


def test_an_xlsx_without_the_required_columns_fails(stack, importer):
    status = importer.run(xlsx_file([["T1", "x"]], header=["Test ID", "Notes"]))
    assert status["status"] == "failed"
    assert status["error"].startswith("header: required column(s) missing: password, test-type")


def test_importing_the_same_file_twice_changes_nothing_the_second_time(stack, importer):
    data = csv_file([*rows(40), ["A00001", "pw", "Academic-Plus", "", '{"expire": "2099-01-01"}']])
    first = importer.run(data)
    assert first["added"] == 41
    before = stack.snapshot(ignore=())
    items_before = [i for i in before["InventoryTable"] if i["pk"]["S"].startswith("TID#")]
    second = importer.run(data)
    assert (second["status"], second["imported"], second["unchanged"], second["skipped-total"]) == (
        "completed",
        0,
        41,
        0,
    )
    after = [i for i in stack.snapshot()["InventoryTable"] if i["pk"]["S"].startswith("TID#")]
    assert after == items_before


def test_available_rows_are_updated_and_assigned_or_started_tests_are_never_overwritten(stack, importer):
    # Given three imported test IDs, of which one is then assigned and one started
    importer.run(csv_file(rows(3)))
    taken = stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).json()["test-id"]
    others = [t for t in ("T00000", "T00001", "T00002") if t != taken]
    started, free = others
    boto3.client("dynamodb").update_item(
        TableName=stack.table("InventoryTable"),
        Key={"pk": {"S": f"TID#{started}"}, "sk": {"S": "TID"}},
        UpdateExpression="SET #s = :s REMOVE avail_pk, avail_sk",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "Started"}},
    )
    # When a file with new passwords for all three is imported
    status = importer.run(
        csv_file([[t, "new-password", "Academic-Plus", "Ready", ""] for t in ("T00000", "T00001", "T00002")])
    )
    # Then only the available one changes; the others are reported, untouched
    assert (status["updated"], status["imported"], status["skipped-total"]) == (1, 1, 2), status
    reasons = {s["test-id"]: s["reason"] for s in status["skipped"]}
    assert reasons[taken] == "test-id: the test is assigned; an import never overwrites it"
    assert reasons[started] == "test-id: the test has status Started; an import never overwrites it"
    assert stack.api.get(f"/v1/test-ids/{free}").json()["password"] == "new-password"
    assert stack.api.get(f"/v1/test-ids/{taken}").json()["password"] != "new-password"
    assert stack.api.get(f"/v1/test-ids/{free}").json()["history"][-1]["event"] == "updated by import"


def test_a_row_whose_test_was_claimed_meanwhile_is_not_overwritten(stack, importer, monkeypatch):
    # Given an available test ID that a fulfilment claims right after the import read it
    importer.run(csv_file(rows(1)))
    read = imports_repo.existing

    def read_then_claim(test_ids, stats):
        found = read(test_ids, stats)
        assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).status == 201
        return found

    monkeypatch.setattr(imports_repo, "existing", read_then_claim)
    # When the import changes its password, the claim wins and the row is reported
    status = importer.run(csv_file([["T00000", "changed", "Academic-Plus", "Ready", ""]]))
    assert status["updated"] == 0 and status["skipped"][0]["reason"].startswith(
        "test-id: the test changed meanwhile"
    )
    assert stack.api.get("/v1/test-ids/T00000").json()["available"] is False


def test_a_test_id_held_by_another_unit_is_not_changed(stack, importer):
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    importer.run(csv_file(rows(2)), unit=north)
    status = importer.run(csv_file(rows(3)))
    assert status["added"] == 1 and status["skipped"] == [
        {"row": 2, "test-id": "T00000", "reason": "test-id: held by another organisation unit; not changed"},
        {"row": 3, "test-id": "T00001", "reason": "test-id: held by another organisation unit; not changed"},
    ]


def test_the_same_object_event_twice_imports_once(stack, importer):
    created = importer.create()
    obj = importer.put(f"imports/{stack.root}/{created['import-id']}", csv_file(rows(5)))
    importer.notify(obj)
    importer.notify(obj)  # S3 delivers at least once
    assert importer.drain() == 1
    importer.notify(obj)
    assert importer.drain() == 0
    status = importer.status(created["import-id"])
    assert (status["added"], status["rows-read"]) == (5, 5)
    records = [i for i in stack.items("InventoryTable") if i["pk"]["S"].startswith("IMPORT#")]
    assert len(records) == 1


def test_an_event_whose_first_delivery_failed_before_queueing_is_queued_by_the_retry(
    stack, importer, monkeypatch
):
    created = importer.create()
    obj = importer.put(f"imports/{stack.root}/{created['import-id']}", csv_file(rows(3)))
    real = imports_repo.enqueue

    def lost(*_args, **_kwargs):
        raise imports.Unavailable("imports: the continuation queue is unavailable; retry")

    monkeypatch.setattr(imports_repo, "enqueue", lost)
    with pytest.raises(imports.Unavailable):
        importer.notify(obj)
    monkeypatch.setattr(imports_repo, "enqueue", real)
    importer.notify(obj)  # a retry within the minute: the first delivery may still be queueing
    assert importer.drain() == 0
    monkeypatch.setattr(imports, "REQUEUE_AFTER_SECONDS", 0.0)
    importer.notify(obj)  # Lambda's retry, a minute later
    assert importer.drain() == 1
    assert importer.status(created["import-id"])["added"] == 3


def test_a_second_upload_to_the_same_key_and_a_file_dropped_directly_are_imports_of_their_own(
    stack, importer
):
    created = importer.create()
    key = f"imports/{stack.root}/{created['import-id']}"
    importer.notify(importer.put(key, csv_file(rows(2))))
    second = importer.put(key, csv_file(rows(3)))
    third = importer.put(f"imports/{stack.root}/from-the-console.csv", csv_file(rows(4)))
    assert importer.notify(second)["imports"][0] != created["import-id"]
    dropped = importer.notify(third)["imports"][0]
    importer.drain()
    assert importer.status(created["import-id"])["added"] == 2
    assert importer.status(dropped)["file-name"] == "from-the-console.csv"
    assert (importer.status(dropped)["added"], importer.status(dropped)["unchanged"]) == (1, 3)


def test_objects_outside_a_known_unit_are_ignored(stack, importer):
    assert importer.notify(importer.put("imports/ou_nope/file.csv", csv_file(rows(1))))["imports"] == [None]
    assert importer.notify(importer.put("imports/stray.csv", csv_file(rows(1))))["imports"] == [None]
    assert importer.drain() == 0


def test_writes_go_in_batches_of_25_and_survive_throttling_and_unprocessed_items(stack, importer, faults):
    # Given DynamoDB throttling some calls and leaving items and keys unprocessed in others
    faults.throttle_writes, faults.unprocessed_writes = 3, 5
    faults.throttle_gets, faults.unprocessed_gets = 2, 2
    # When 260 rows are imported
    status = importer.run(csv_file(rows(260)))
    # Then every row is written exactly once, no batch carries more than 25 items
    assert (status["status"], status["added"]) == ("completed", 260), status
    assert max(faults.write_sizes) <= 25
    assert stack.api.get("/v1/inventory").json()["available"] == 260
    # And the calls are ceil(260 / 25) plus one per throttled call or unprocessed remainder
    assert faults.calls["BatchWriteItem"] == 11 + 3 + 5
    assert faults.calls["BatchGetItem"] == 3 + 2 + 2


def test_a_26_item_batch_is_never_sent(stack, faults):
    # moto would accept one; the writer must never send it (DynamoDB refuses it)
    items = [{"pk": {"S": f"TID#Z{i:03d}"}, "sk": {"S": "TID"}} for i in range(26)]
    stats = batch.write(stack.table("InventoryTable"), items)
    assert faults.write_sizes == [25, 1] and stats.write_calls == 2


def test_throttling_that_does_not_stop_is_a_retry_later_not_a_lost_row(stack, importer, faults, monkeypatch):
    monkeypatch.setattr(batch, "MAX_ATTEMPTS", 3)
    importer.run(csv_file(rows(1, prefix="W")))
    faults.throttle_writes = 10**6
    import_id = importer.upload(csv_file(rows(250)))
    with pytest.raises(Exception, match="busy"):
        importer.drain()
    assert importer.status(import_id)["status"] == "running"
    faults.throttle_writes = 0
    importer.drain()
    status = importer.status(import_id)
    assert (status["status"], status["added"], status["rows-read"]) == ("completed", 250, 250)


def test_a_big_file_is_split_into_segments_and_never_truncated(stack, importer, monkeypatch):
    # Given segments of 100 rows and a file of 1,050 rows with duplicates across segment boundaries
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    data = [*rows(1000), ["T00005", "pw", "Academic-Plus", "", ""], ["T00950", "pw", "Academic-Plus", "", ""]]
    data += rows(48, start=1000)
    import_id = importer.upload(csv_file(data))
    # When the continuation queue runs
    runs = importer.drain()
    # Then it took one segment per 100 rows and imported everything, duplicates reported once each
    status = importer.status(import_id)
    assert runs == 11, runs
    assert (status["status"], status["rows-read"], status["added"], status["skipped-total"]) == (
        "completed",
        1050,
        1048,
        2,
    )
    assert [s["reason"] for s in status["skipped"]] == [
        "test-id: appears twice in this file (first on row 7)",
        "test-id: appears twice in this file (first on row 952)",
    ]
    report = importer.report(import_id)
    assert [int(line[0]) for line in report[1:]] == list(range(2, 1052))


def test_a_segment_that_crashes_is_redone_without_doubling_anything(stack, importer, faults, monkeypatch):
    # Given a crash after two batches of the second segment
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    data = csv_file([*rows(300), ["T00150", "pw", "Academic-Plus", "", ""]])
    import_id = importer.upload(data)
    importer.drain(limit=1)
    faults.fail_after_writes = 2
    with pytest.raises(Exception, match="injected crash"):
        importer.drain(limit=1)
    assert importer.status(import_id)["rows-read"] == 100  # nothing of the crashed segment counted
    # When the message comes back and the segment runs again
    faults.fail_after_writes = None
    importer.drain()
    # Then the rows the crashed run wrote are recognised, counted once, and reported once
    status = importer.status(import_id)
    assert (status["status"], status["rows-read"], status["added"], status["skipped-total"]) == (
        "completed",
        301,
        300,
        1,
    )
    assert status["skipped"][0]["reason"] == "test-id: appears twice in this file (first on row 152)"
    report = importer.report(import_id)
    assert len(report) == 302 and len({line[0] for line in report[1:]}) == 301
    assert stack.api.get("/v1/inventory").json()["total"] == 300


def test_a_duplicate_continuation_message_commits_nothing_twice(stack, importer, monkeypatch):
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    import_id = importer.upload(csv_file(rows(250)))
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=importer.queue_url, MessageBody=json.dumps({"import-id": import_id, "offset": 0})
    )
    sqs.send_message(QueueUrl=importer.queue_url, MessageBody="not json")
    importer.drain()
    status = importer.status(import_id)
    assert (status["rows-read"], status["added"]) == (250, 250)


def test_a_segment_failing_on_its_last_delivery_fails_the_import(stack, importer, faults):
    import_id = importer.upload(csv_file(rows(10)))
    faults.fail_after_writes = 0
    for _ in range(imports.MAX_RECEIVES):
        with pytest.raises(Exception, match="injected crash"):
            importer.drain(limit=1)
    status = importer.status(import_id)
    assert (
        status["status"] == "failed"
        and status["error"] == "internal error at row 0; the rows before it were imported"
    )


def test_a_large_report_goes_to_s3_in_parts_across_segments(stack, importer, monkeypatch):
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "200")
    get_settings.cache_clear()
    monkeypatch.setattr(objects, "MIN_PART", 2048)
    monkeypatch.setattr(moto_s3, "S3_UPLOAD_PART_MIN_SIZE", 1024)
    import_id = importer.upload(csv_file(rows(700)))
    importer.drain()
    record = next(i for i in stack.items("InventoryTable") if i["pk"]["S"] == f"IMPORT#{import_id}")
    assert len(record["report_parts"]["L"]) > 2
    report = importer.report(import_id)
    assert len(report) == 701 and report[-1] == ["701", "T00699", "added", ""]
    leftovers = (
        boto3.client("s3").list_objects_v2(Bucket=importer.bucket, Prefix="reports/").get("Contents", [])
    )
    assert [o["Key"] for o in leftovers] == [f"reports/{stack.root}/{import_id}.csv"]


def test_assigned_rows_with_an_expire_enter_the_expiry_index(stack, importer):
    data = csv_file(
        [["X00001", "pw", "Academic-Plus", "Ready", '{"expire": "2020-01-01", "email": "a@example.com"}']]
    )
    importer.run(data)
    expired = stack.api.post("/v1/jobs/expire-assignments")
    assert expired.json() == {"examined": 1, "released": 1, "skipped": 0, "complete": True}
    assert stack.api.get("/v1/test-ids/X00001").json()["available"] is True


# ------------------------------------------------------------------------ memory and continuation cost
def _traced_peak_of_an_import(importer, data: bytes, tmp_path) -> int:
    """Peak Python memory (tracemalloc, bytes) of importing `data` in one segment, from the file's first
    byte to the completed status."""
    import tracemalloc

    obj = importer.put(f"imports/{importer.stack.root}/peak-{len(data)}.bin", b"x")
    obj["size"] = len(data)
    (tmp_path / obj["key"].rsplit("/", 1)[-1]).write_bytes(data)
    import_id = importer.notify(obj)["imports"][0]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        assert imports.run_segment(import_id, 0, lambda: 900_000) == "completed"
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.fixture
def local_files(monkeypatch, tmp_path):
    """Uploads read from local files and reports sent nowhere, test IDs all new and written nowhere: what
    is left is the importer's own memory (moto's in-process S3 hands out whole objects and keeps every
    part; its tables keep every item)."""

    def path(source):
        return tmp_path / source.key.rsplit("/", 1)[-1]

    def stream(source, start=0):
        handle = path(source).open("rb")
        handle.seek(start)
        return handle

    monkeypatch.setattr(objects, "stream", stream)
    monkeypatch.setattr(objects, "RangeReader", lambda source: path(source).open("rb"))
    def read_range(source, start, end):
        with stream(source, start) as handle:
            return handle.read(end + 1 - start)

    monkeypatch.setattr(objects, "read_range", read_range)
    monkeypatch.setattr(objects, "put", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(objects, "start_multipart", lambda *_args, **_kwargs: "upload")
    monkeypatch.setattr(objects, "upload_part", lambda *_args, **_kwargs: "etag")
    monkeypatch.setattr(objects, "complete_multipart", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(imports_repo, "existing", lambda _test_ids, _stats: {})
    monkeypatch.setattr(imports_repo, "put_all", lambda _items, _stats: None)
    return tmp_path


@pytest.mark.parametrize("make", [csv_file, xlsx_shared_strings_file], ids=["csv", "xlsx-shared-strings"])
def test_an_imports_memory_does_not_grow_with_the_file(stack, importer, local_files, make):
    # Given a file of N rows and one of 4N (text in the shared-strings table for XLSX, as Excel writes it)
    n = 5_000
    small, big = make(rows(n, prefix="S")), make(rows(4 * n, prefix="B"))
    _traced_peak_of_an_import(importer, make(rows(200, prefix="W")), local_files)  # warm: imports, caches
    # When each is imported
    peak_small = _traced_peak_of_an_import(importer, small, local_files)
    peak_big = _traced_peak_of_an_import(importer, big, local_files)
    # Then the bigger one takes no more memory (an in-memory duplicate tracker, shared-strings table or
    # report buffer would take ~1-3 MB more for the 15,000 extra rows)
    assert peak_big - peak_small < 256 * 1024, (peak_small, peak_big)


def test_a_continuation_segment_reads_on_from_where_the_last_one_stopped(stack, importer, monkeypatch):
    # Given segments of 100 rows, and the CSV rows parsed and S3 reads counted
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    parsed, starts = [], []
    row, stream = tabular.Row, objects.stream

    def counted_row(number, *args, **kwargs):
        parsed.append(number)
        return row(number, *args, **kwargs)

    def counted_stream(source, *args):
        starts.append(args[0] if args else 0)
        return stream(source, *args)

    monkeypatch.setattr(tabular, "Row", counted_row)
    monkeypatch.setattr(objects, "stream", counted_stream)
    data = csv_file([*rows(300), ["T00150", "pw", "Academic-Plus", "", ""], *rows(49, start=300)])
    # When a file of 350 rows is imported in 4 segments
    import_id = importer.upload(data)
    assert importer.drain() == 4
    # Then every row was parsed once, each segment reading on from the byte after the last one's rows
    assert parsed == list(range(2, 352))
    ends = [len(b"".join(data.splitlines(keepends=True)[:k])) for k in (101, 201, 301)]
    assert starts == [0, *ends]
    # And duplicates across segments are still found
    status = importer.status(import_id)
    assert (status["status"], status["added"], status["skipped"]) == (
        "completed",
        349,
        [
            {
                "row": 302,
                "test-id": "T00150",
                "reason": "test-id: appears twice in this file (first on row 152)",
            }
        ],
    )


def test_an_xlsx_continuation_converts_only_its_own_rows(stack, importer, monkeypatch):
    from collections import Counter

    from openpyxl.worksheet._reader import WorkSheetParser

    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    converted: Counter[str] = Counter()
    parse_row = WorkSheetParser.parse_row

    def counted(parser, element):
        converted[element.get("r")] += 1
        return parse_row(parser, element)

    monkeypatch.setattr(WorkSheetParser, "parse_row", counted)
    import_id = importer.upload(xlsx_shared_strings_file([*rows(250), ["T00010", "pw", "Academic-Plus"]]))
    assert importer.drain() == 3
    # The header is read by every segment (for the columns); every other row is converted once
    assert converted.pop("1") == 3 and set(converted.values()) == {1} and len(converted) == 251
    status = importer.status(import_id)
    assert (status["added"], status["skipped"][0]["reason"]) == (
        250,
        "test-id: appears twice in this file (first on row 12)",
    )


def test_an_import_started_before_trackers_were_carried_rebuilds_its_own(stack, importer, monkeypatch):
    # Given an import whose first segment ran, then lost its carried tracker and resume point (an import
    # in flight when this version was deployed)
    monkeypatch.setenv("IMPORT_SEGMENT_ROWS", "100")
    get_settings.cache_clear()
    import_id = importer.upload(csv_file([*rows(150), ["T00020", "pw", "Academic-Plus", "", ""]]))
    assert importer.drain(limit=1) == 1
    boto3.client("dynamodb").update_item(
        TableName=stack.table("InventoryTable"),
        Key={"pk": {"S": f"IMPORT#{import_id}"}, "sk": {"S": "IMPORT"}},
        UpdateExpression="REMOVE seen_key, next_byte, #c",
        ExpressionAttributeNames={"#c": "columns"},
    )
    # When the rest runs, it reads the file from the top again and still finds the duplicate
    importer.drain()
    status = importer.status(import_id)
    assert (status["added"], status["skipped"][0]["reason"]) == (
        150,
        "test-id: appears twice in this file (first on row 22)",
    )


def test_a_handover_after_a_throttled_chunk_does_not_count_its_rows_as_duplicates(
    stack, importer, monkeypatch
):
    # Given a second chunk whose writes stay throttled: its rows went into the duplicate tracker, then the
    # segment handed over what it had done (the first chunk) with that tracker
    monkeypatch.setattr(imports, "RETRY_DELAY_SECONDS", 0)
    writes, put_all = [], imports_repo.put_all

    def busy_once(items, stats):
        writes.append(len(items))
        if len(writes) == 2:
            raise imports.Unavailable("DynamoDB is busy; retry")
        return put_all(items, stats)

    monkeypatch.setattr(imports_repo, "put_all", busy_once)
    data = csv_file([*rows(250), ["T00160", "pw", "Academic-Plus", "", ""]])
    import_id = importer.upload(data)
    # When the retry redoes the second chunk
    assert importer.drain() == 2
    # Then its rows are imported, not reported as duplicates of themselves; the real duplicate is
    status = importer.status(import_id)
    assert (status["status"], status["added"], status["rows-read"]) == ("completed", 250, 251)
    assert status["skipped"] == [
        {"row": 252, "test-id": "T00160", "reason": "test-id: appears twice in this file (first on row 162)"}
    ]
