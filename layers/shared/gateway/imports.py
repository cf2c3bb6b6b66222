"""Inventory imports: a CSV or XLSX export (the seed's "AVAILABLE TESTS" spreadsheet) dropped in S3 under
`imports/<org unit id>/` is imported into that unit's inventory.

1. `POST /v1/inventory/imports` creates a pending import and hands out a presigned PUT URL for the key
   `imports/<unit>/<import id>`. Files put there by other means (console, CLI) are imported too.
2. The S3 event (at least once) binds the object (bucket, key, version or ETag) to the import: the same
   object twice imports once. It queues the first segment on the continuation queue.
3. A segment streams the file from its offset, 100 rows at a time: validates each row, reads the stored
   test IDs of the chunk (BatchGetItem), writes new ones 25 per BatchWriteItem (unprocessed items retried
   with backoff), changes available ones with a conditional update, and reports every row. When its time
   (or IMPORT_SEGMENT_ROWS) runs out it commits its progress once (conditional on the offset) and queues
   the next segment: a big file is split, never truncated. The next segment starts where this one stopped:
   a CSV at the byte after its last row (a ranged GET), an XLSX from the top of the sheet's XML (a deflate
   stream cannot be entered midway) with the rows before the offset passed over without converting them;
   the duplicate tracker comes with it (a copy in S3, `<report>.seen-<row>`), so no row is read twice.
4. The last segment writes the per-row report (`reports/<unit>/<import id>.csv`) and completes.

Rows are upserts keyed by test ID: the same file twice changes nothing the second time; a test that is
assigned or past Ready, or held by another unit, is never overwritten (the row is reported instead). A bad
row (missing ID, unknown status, a duplicate inside the file, malformed assigned-to JSON, ...) is skipped
with its row number and reason; a file that is not CSV/XLSX, is empty or lacks the required columns fails
as a whole with a clear reason.

Memory is flat in the file size: the file is streamed (CSV) or read through ranged GETs (XLSX, with its
shared-strings table in a temporary file), duplicates are tracked in an SQLite file in /tmp with a fixed
page cache (tabular.SeenIds), and the report goes out in 5 MiB multipart parts.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from aws_lambda_powertools import Logger

from gateway import expiry, inventory, tabular
from gateway.auth import Caller
from gateway.errors import InvalidInput, NotFound, Unavailable
from gateway.inventory_contracts import CreateImport, ImportCreated, ImportStatus, SkippedRow
from gateway.repo import batch, directory, now_iso, objects
from gateway.repo import imports as repo
from gateway.repo import inventory as inventory_repo
from gateway.validation import UNSTORABLE_NUMBER, JsonRefused, loads_json, storable_numbers

logger = Logger(child=True)
CHUNK = 100
UPLOAD_SECONDS = 900
REPORT_URL_SECONDS = 3600
SKIPPED_IN_STATUS = 100
MAX_ASSIGNED_TO = 4096
SPOOL_BYTES = 64 * 1024  # the report's buffer moves from memory to a temporary file past this
SEGMENT_MARGIN_SECONDS = 60.0
RETRY_DELAY_SECONDS = 60
REQUEUE_AFTER_SECONDS = 60.0
MAX_RECEIVES = 5  # the continuation queue's maxReceiveCount (template.yaml)
IMPORT_ID = re.compile(r"^imp_[0-9a-f]{16}$")
KEY = re.compile(r"^imports/(?P<unit>[A-Za-z0-9_-]{1,64})/(?P<name>[^/]+)$")
REPORT_HEADER = ["row", "test-id", "outcome", "reason"]
_STATUS_BY_NAME = {s.casefold(): s for s in inventory.STATUSES}


# ------------------------------------------------------------------------------------------------ API
def create(caller: Caller, request: CreateImport | None) -> ImportCreated:
    request = request or CreateImport()
    unit = inventory.unit_for(caller, request.org_unit)
    import_id = f"imp_{secrets.token_hex(8)}"
    key = f"imports/{unit.id}/{import_id}"
    now = now_iso()
    repo.put_new(
        {
            "import_id": import_id,
            "status": repo.PENDING,
            "unit_id": unit.id,
            "unit_path": unit.path,
            "tree": unit.tree,
            "upload_key": key,
            "file_name": request.file_name,
            "created_by": caller.key_id,
            "created_at": now,
            "updated_at": now,
        }
    )
    expires = datetime.now(UTC) + timedelta(seconds=UPLOAD_SECONDS)
    return ImportCreated(
        import_id=import_id,
        upload_url=objects.presign_put(key, UPLOAD_SECONDS),
        expires_at=expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
        org_unit=unit.id,
        status="pending",
    )


def status(caller: Caller, import_id: str) -> ImportStatus:
    record = repo.get(import_id) if IMPORT_ID.match(import_id) else None
    if record is None or record.get("tree") != caller.tree:
        raise NotFound(f"importId: no import '{import_id}'")
    caller.require_scope(record["unit_path"], "importId")
    report_url = None
    if record.get("report_key") and record["status"] in (repo.COMPLETED, repo.FAILED):
        report_url = objects.presign_get(record["report_key"], REPORT_URL_SECONDS, f"{import_id}-report.csv")
    fmt = record.get("format")
    return ImportStatus(
        import_id=import_id,
        status=record["status"],
        org_unit=record["unit_id"],
        file_name=record.get("file_name"),
        format=tabular.Format(fmt, record.get("delimiter", ",")).label if fmt else None,
        rows_read=int(record.get("rows_read", 0)),
        imported=int(record.get("added", 0)) + int(record.get("updated", 0)),
        added=int(record.get("added", 0)),
        updated=int(record.get("updated", 0)),
        unchanged=int(record.get("unchanged", 0)),
        skipped=[
            SkippedRow(row=s["row"], test_id=s.get("test-id"), reason=s["reason"])
            for s in record.get("skipped", [])
        ],
        skipped_total=int(record.get("skipped_total", 0)),
        report_url=report_url,
        error=record.get("error"),
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        finished_at=record.get("finished_at"),
    )


# ------------------------------------------------------------------------------------- the S3 event
def object_created(bucket: str, key: str, version: str | None, etag: str, size: int) -> str | None:
    """An object arrived under imports/: bind it to its import (once per bucket, key and version or ETag)
    and queue the first segment. Returns the import id (None when the object is not an import)."""
    match = KEY.match(key)
    if match is None:
        logger.warning("object outside imports/<unit>/<name> ignored", extra={"key": key})
        return None
    unit_id, name = match.group("unit"), match.group("name")
    identity = f"{bucket}/{key}#{version or etag}"
    source = {
        "source": identity,
        "object_bucket": bucket,
        "object_key": key,
        "object_version": version,
        "object_etag": etag.strip('"'),
        "object_size": size,
    }
    source = {k: v for k, v in source.items() if v is not None}
    now = now_iso()
    stem = name.split(".", 1)[0]
    if IMPORT_ID.match(stem):
        claimed = repo.claim(stem, unit_id, source, now)
        if claimed is not None:
            repo.enqueue(stem, 0)
            return stem
        record = repo.get(stem)
        if record is not None and record.get("source") == identity:
            return _duplicate(record)
    # A file put there directly, or a second object under a presigned key: an import of its own, whose id
    # is derived from the object's identity (so the same event twice finds it).
    import_id = "imp_" + hashlib.sha256(identity.encode()).hexdigest()[:16]
    record = repo.get(import_id)
    if record is not None:
        return _duplicate(record)
    unit = directory.get_unit(unit_id)
    if unit is None:
        logger.warning("import for an unknown organisation unit ignored", extra={"key": key})
        return None
    created = repo.put_new(
        {
            "import_id": import_id,
            "status": repo.RUNNING,
            "unit_id": unit.id,
            "unit_path": unit.path,
            "tree": unit.tree,
            "file_name": name,
            "created_by": "s3",
            "created_at": now,
            "updated_at": now,
            "started_at": now,
            "next_row": 0,
            "started_row": -1,
            **source,
        }
    )
    if created:
        repo.enqueue(import_id, 0)
    else:
        record = repo.get(import_id)
        if record is not None:
            _duplicate(record)
    return import_id


def _duplicate(record: dict[str, Any]) -> str:
    """The same object event again: nothing to do, unless the first delivery failed before queueing the
    first segment (no segment started a while after the claim: Lambda retries a failed S3 event a minute
    or more later). Then queue it; a duplicate segment would commit nothing twice anyway."""
    waiting = int(record.get("started_row", -1)) < int(record.get("next_row", 0))
    if (
        record.get("status") == repo.RUNNING
        and waiting
        and _age(record["updated_at"]) > REQUEUE_AFTER_SECONDS
    ):
        repo.enqueue(record["import_id"], int(record.get("next_row", 0)))
    return str(record["import_id"])


def _age(stamp: str) -> float:
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - then).total_seconds()


# ----------------------------------------------------------------------------------------- segments
@dataclass
class Parsed:
    test_id: str
    password: str
    test_type: str
    status: str
    assigned_to: dict[str, Any] | None


def parse_row(row: tabular.Row) -> Parsed:
    """The row's values, checked as POST /v1/test-ids checks them; InvalidInput naming the column."""
    values = row.values
    if not values.get("test-id"):
        raise InvalidInput("test-id", "is required")
    if any("\ufffd" in v for v in values.values()):
        raise InvalidInput("row", "is not valid UTF-8 text")
    test_id, password, test_type = inventory.check_new(
        {
            "test-id": values["test-id"],
            "password": values.get("password", ""),
            "test-type": values.get("test-type", ""),
        }
    )
    raw_status = values.get("status", "")
    state = _STATUS_BY_NAME.get(raw_status.strip().casefold()) if raw_status else inventory_repo.READY
    if state is None:
        raise InvalidInput(
            "status", f"unknown status '{raw_status}' (one of {', '.join(inventory.STATUSES)})"
        )
    assigned: dict[str, Any] | None = None
    raw_assigned = values.get("assigned-to", "")
    if raw_assigned:
        if len(raw_assigned) > MAX_ASSIGNED_TO:
            raise InvalidInput("assigned-to", f"must be at most {MAX_ASSIGNED_TO} characters of JSON")
        try:
            assigned = loads_json(raw_assigned, parse_constant=_no_constant)
        except JsonRefused as exc:
            where = f"assigned-to.{exc.field}" if exc.field else "assigned-to"
            raise InvalidInput(where, exc.reason) from exc
        if not isinstance(assigned, dict):
            raise InvalidInput("assigned-to", "must be a JSON object")
        if not storable_numbers(assigned):
            raise InvalidInput("assigned-to", UNSTORABLE_NUMBER)
        if "expire" in assigned:
            expiry.parse_expire(assigned["expire"])
        assigned = assigned or None
    return Parsed(test_id, password, test_type, state, assigned)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _valid_id(row: tabular.Row) -> str | None:
    text = row.values.get("test-id", "").strip()
    return text if inventory.TEST_ID.match(text) else None


@dataclass
class _Report:
    """The per-row report: buffered (in memory up to SPOOL_BYTES, then in a temporary file), sent in parts
    of at least 5 MiB (S3 multipart), the tail carried between segments in a small object."""

    key: str
    upload_id: str | None
    parts: list[dict[str, Any]]
    buffer: IO[bytes] = field(default_factory=lambda: _spool())

    def write(self, lines: list[list[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(lines)
        self.buffer.write(text.getvalue().encode())

    def rewound(self) -> IO[bytes]:
        """The buffer from its start (to upload it)."""
        self.buffer.seek(0)
        return self.buffer

    def flush_parts(self, final: bool) -> None:
        if not final and self.buffer.tell() < objects.MIN_PART:
            return
        if final and self.upload_id is None:
            objects.put(self.key, self.rewound())
        else:
            if self.upload_id is None:
                self.upload_id = objects.start_multipart(self.key)
            number = len(self.parts) + 1
            etag = objects.upload_part(self.key, self.upload_id, number, self.rewound())
            self.parts.append({"n": number, "etag": etag})
            if final:
                objects.complete_multipart(self.key, self.upload_id, self.parts)
        self.buffer.close()
        self.buffer = _spool()

    def close(self) -> None:
        self.buffer.close()


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


def row_state(
    unit: inventory_repo.Unit, parsed: Parsed, row: int, import_id: str, outcome: str, now: str
) -> dict[str, Any]:
    """Attributes a row sets, whatever the item was: values, availability, expiry, import marks."""
    fields: dict[str, Any] = {
        "password": parsed.password,
        "test_type": parsed.test_type,
        "status": parsed.status,
        "updated_at": now,
        "import_id": import_id,
        "import_row": row,
        "import_outcome": outcome,
    }
    if parsed.status == inventory_repo.READY and not parsed.assigned_to:
        fields.update(inventory_repo.available_keys(unit.id, parsed.test_type))
    if parsed.assigned_to:
        fields["assigned_to"] = parsed.assigned_to
        fields["assigned_at"] = now
        if parsed.status == inventory_repo.READY:
            fields.update(expiry.index_keys(parsed.test_id, parsed.assigned_to))
    return fields


def new_item(unit: inventory_repo.Unit, parsed: Parsed, row: int, import_id: str, now: str) -> dict[str, Any]:
    """The test-ID item an import writes for a new row (the benchmark builds the same ones)."""
    by = f"import:{import_id}"
    item = inventory_repo.new_test_id(unit, parsed.test_id, parsed.password, parsed.test_type, now, by)
    for name in ("avail_pk", "avail_sk"):
        item.pop(name, None)
    item["history"] = [{"at": now, "event": "imported", "by": by, "detail": {"row": row}}]
    item.update(row_state(unit, parsed, row, import_id, "added", now))
    return item


class _Segment:
    """One invocation's share of an import: rows after `offset`, until the file ends or time runs out."""

    def __init__(self, record: dict[str, Any], offset: int, deadline: float, max_rows: int) -> None:
        self.record = record
        self.import_id: str = record["import_id"]
        self.unit = inventory_repo.Unit(record["unit_id"], record["unit_path"], record["tree"])
        self.offset = offset
        self.deadline = deadline
        self.max_rows = max_rows
        self.last_row = offset
        self.counts = {"rows_read": 0, "added": 0, "updated": 0, "unchanged": 0, "skipped_total": 0}
        self.skipped: list[dict[str, Any]] = list(record.get("skipped", []))
        self.types: set[str] = set()
        self.stats = batch.Stats()
        self.columns = {str(k): int(v) for k, v in (record.get("columns") or {}).items()}
        self.last_end = int(record.get("next_byte", 0))  # CSV: the byte after row `last_row`
        self.now = now_iso()
        self.report = _Report(
            record.get("report_key") or f"reports/{self.unit.id}/{self.import_id}.csv",
            record.get("report_upload"),
            list(record.get("report_parts", [])),
        )
        if record.get("report_carry"):
            objects.download(record["report_carry"], self.report.buffer)
        if offset == 0:
            self.report.write([REPORT_HEADER])
        self.seen, self.rebuild = _tracker(record, offset)

    def close(self) -> None:
        """Drop the local copy of the duplicate tracker (a copy in S3 carries it to the next segment)."""
        self.report.close()
        self.seen.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.seen.path)

    # -- rows ------------------------------------------------------------------------------------------

    def run(self, rows: Iterator[tabular.Row]) -> bool:
        """Process rows after the offset; True when the file ended, False when the segment must hand over."""
        chunk: list[tabular.Row] = []
        done = 0
        for row in rows:
            if row.number <= self.offset:  # read again only when no tracker was carried (see _tracker)
                test_id = _valid_id(row)
                if test_id and self.rebuild:
                    self.seen.add(test_id, row.number)
                continue
            chunk.append(row)
            if len(chunk) >= CHUNK:
                self.chunk(chunk)
                done += len(chunk)
                chunk = []
                if time.monotonic() >= self.deadline or (self.max_rows and done >= self.max_rows):
                    return False
        if chunk:
            self.chunk(chunk)
        return True

    def skip(self, outcomes: list[list[Any]], row: tabular.Row, test_id: str | None, reason: str) -> None:
        self.counts["skipped_total"] += 1
        if len(self.skipped) < SKIPPED_IN_STATUS:
            self.skipped.append({"row": row.number, "test-id": test_id, "reason": reason})
        outcomes.append([row.number, test_id or "", "skipped", reason])

    def chunk(self, rows: list[tabular.Row]) -> None:
        """Validate, compare with what is stored, write; the counts and report lines of the chunk are kept
        only when all of it is done (a chunk that fails is redone whole by the next segment)."""
        saved = (dict(self.counts), list(self.skipped))
        outcomes: list[list[Any]] = []
        valid: list[tuple[tabular.Row, Parsed]] = []
        try:
            for row in rows:
                self.counts["rows_read"] += 1
                try:
                    parsed = parse_row(row)
                except InvalidInput as exc:
                    test_id = _valid_id(row)
                    if test_id:
                        self.seen.add(test_id, row.number)
                    self.skip(outcomes, row, test_id or row.values.get("test-id") or None, exc.description)
                    continue
                first = self.seen.add(parsed.test_id, row.number)
                if first is not None:
                    self.skip(
                        outcomes,
                        row,
                        parsed.test_id,
                        f"test-id: appears twice in this file (first on row {first})",
                    )
                    continue
                valid.append((row, parsed))
            self.write(valid, outcomes)
        except BaseException:
            self.counts, self.skipped = saved
            raise
        outcomes.sort(key=lambda line: int(line[0]))
        self.report.write(outcomes)
        self.report.flush_parts(final=False)  # the buffer never holds more than a part (5 MiB)
        self.last_row = rows[-1].number
        self.last_end = rows[-1].end

    def write(self, valid: list[tuple[tabular.Row, Parsed]], outcomes: list[list[Any]]) -> None:
        stored = repo.existing([p.test_id for _, p in valid], self.stats) if valid else {}
        new: list[dict[str, Any]] = []
        new_rows: list[tuple[tabular.Row, Parsed]] = []
        changes: list[tuple[tabular.Row, Parsed, dict[str, Any]]] = []
        for row, parsed in valid:
            found = stored.get(parsed.test_id)
            if found is None:
                new.append(self.new_item(row, parsed))
                new_rows.append((row, parsed))
            elif found.get("import_id") == self.import_id and found.get("import_row") == row.number:
                outcome = str(
                    found.get("import_outcome", "added")
                )  # written by an earlier run of this segment
                self.counts[outcome if outcome in ("added", "updated") else "added"] += 1
                outcomes.append([row.number, parsed.test_id, outcome, ""])
                self.types.add(parsed.test_type)
            elif found.get("tree") != self.unit.tree or found.get("unit_id") != self.unit.id:
                self.skip(
                    outcomes, row, parsed.test_id, "test-id: held by another organisation unit; not changed"
                )
            elif _same(found, parsed):
                self.counts["unchanged"] += 1
                outcomes.append([row.number, parsed.test_id, "unchanged", ""])
            elif found.get("status") != inventory_repo.READY or found.get("assigned_to"):
                what = "is assigned" if found.get("assigned_to") else f"has status {found.get('status')}"
                self.skip(
                    outcomes, row, parsed.test_id, f"test-id: the test {what}; an import never overwrites it"
                )
            else:
                changes.append((row, parsed, found))
        if new:
            repo.put_all(new, self.stats)
            for row, parsed in new_rows:
                self.counts["added"] += 1
                outcomes.append([row.number, parsed.test_id, "added", ""])
                self.types.add(parsed.test_type)
        for row, parsed, found in changes:
            if self.change(row, parsed, found):
                self.counts["updated"] += 1
                outcomes.append([row.number, parsed.test_id, "updated", ""])
                self.types.add(parsed.test_type)
            else:
                self.skip(
                    outcomes,
                    row,
                    parsed.test_id,
                    "test-id: the test changed meanwhile (assigned?); not overwritten",
                )

    def _state(self, parsed: Parsed, row: tabular.Row, outcome: str) -> dict[str, Any]:
        return row_state(self.unit, parsed, row.number, self.import_id, outcome, self.now)

    def new_item(self, row: tabular.Row, parsed: Parsed) -> dict[str, Any]:
        return new_item(self.unit, parsed, row.number, self.import_id, self.now)

    def change(self, row: tabular.Row, parsed: Parsed, found: dict[str, Any]) -> bool:
        fields = self._state(parsed, row, "updated")
        remove = [] if "avail_pk" in fields else ["avail_pk", "avail_sk"]
        entry = {
            "at": self.now,
            "event": "updated by import",
            "by": f"import:{self.import_id}",
            "detail": {"row": row.number},
        }
        return repo.overwrite(parsed.test_id, self.unit.id, found, fields, remove, entry)

    # -- commit ----------------------------------------------------------------------------------------

    def commit(self, final: bool, final_status: str = repo.COMPLETED, error: str | None = None) -> bool:
        self.report.flush_parts(final)
        changes: dict[str, Any] = {
            "next_row": self.last_row,
            "updated_at": now_iso(),
            "skipped": self.skipped,
            "report_key": self.report.key,
            "report_parts": self.report.parts,
        }
        if self.report.upload_id:
            changes["report_upload"] = self.report.upload_id
        if self.record.get("format") == "csv" and self.columns:
            changes["columns"] = self.columns
            changes["next_byte"] = self.last_end
        if final:
            changes["finished_at"] = changes["updated_at"]
            changes["report_carry"] = None
            changes["seen_key"] = None
            if error:
                changes["error"] = error
        else:
            carry_key = f"{self.report.key}.carry-{self.last_row}"
            objects.put(carry_key, self.report.rewound())
            self.report.buffer.seek(0, io.SEEK_END)
            changes["report_carry"] = carry_key
            self.seen.save()
            changes["seen_key"] = f"{self.report.key}.seen-{self.last_row}"
            objects.upload(changes["seen_key"], self.seen.path)
        for test_type in self.types - set(self.record.get("types") or set()):
            inventory_repo.remember_type(self.unit.tree, test_type)  # "sold out", not "unknown", from now on
        adds: dict[str, Any] = {k: v for k, v in self.counts.items() if v}
        adds["segments"] = 1
        if self.types:
            adds["types"] = set(self.types)
        committed = repo.commit(
            self.import_id,
            self.offset,
            {k: v for k, v in changes.items() if v is not None},
            adds,
            final_status if final else None,
        )
        if committed is None:
            logger.info("segment already committed by another run", extra={"import_id": self.import_id})
            return False
        for name in ("report_carry", "seen_key"):  # what the previous segment left for this one
            if self.record.get(name) and self.record[name] != changes[name]:
                objects.delete(self.record[name])
        return True


def _tracker(record: dict[str, Any], offset: int) -> tuple[tabular.SeenIds, bool]:
    """The duplicate tracker as the rows up to `offset` left it, in a local file: an empty one for the first
    segment, else the copy the previous segment put in S3. Without one (an import started before trackers
    were carried, or its copy is gone) it is rebuilt (True): the segment reads the rows before its offset
    again, as every segment once did."""
    handle, path = tempfile.mkstemp(prefix=f"{record['import_id']}-", suffix=".seen")
    os.close(handle)
    try:
        carried = bool(record.get("seen_key")) and objects.download(record["seen_key"], path)
        return tabular.SeenIds(path), offset > 0 and not carried
    except BaseException:
        os.unlink(path)
        raise


def _same(found: dict[str, Any], parsed: Parsed) -> bool:
    return (
        found.get("password") == parsed.password
        and found.get("test_type") == parsed.test_type
        and found.get("status") == parsed.status
        and (found.get("assigned_to") or None) == (parsed.assigned_to or None)
    )


@contextmanager
def _rows(source: objects.Head, fmt: tabular.Format, segment: _Segment) -> Iterator[Iterator[tabular.Row]]:
    """The rows after the segment's offset. A CSV continues at the byte where the previous segment stopped
    (a ranged GET); an XLSX is read from the top of the sheet (a deflate stream cannot be entered midway)
    with the rows before the offset passed over unconverted. A segment rebuilding its tracker gets every
    row."""
    after = 0 if segment.rebuild else segment.offset
    if fmt.kind == "xlsx":
        reader = objects.RangeReader(source)
        columns, rows, workbook = tabular.xlsx_rows(reader, after)  # type: ignore[arg-type]
        segment.columns = columns
        try:
            yield rows
        finally:
            workbook.close()
    elif after and segment.columns and segment.last_end:
        stream = objects.stream(source, segment.last_end)
        try:
            yield tabular.csv_rows_from(stream, fmt.delimiter, segment.columns, after, segment.last_end)
        finally:
            stream.close()
    else:
        segment.rebuild = segment.rebuild or bool(segment.offset)  # no resume point: read from the top
        stream = objects.stream(source)
        try:
            segment.columns, rows = tabular.csv_rows(stream, fmt.delimiter)
            yield rows
        finally:
            stream.close()


def run_segment(
    import_id: str, offset: int, remaining_ms: Callable[[], int], max_rows: int | None = None
) -> str:
    """Import the rows after `offset`; commits once and queues the next segment. Returns what happened:
    "completed", "failed", "continued", "retry" (throttled: queued again later) or "stale"."""
    from gateway.config import get_settings

    record = repo.get(import_id)
    if record is None or record.get("status") != repo.RUNNING:
        return "stale"
    if int(record.get("next_row", 0)) != offset:
        # A duplicate or late message. If the segment after the committed offset never started (its
        # message was lost after the commit), queue it again.
        if int(record.get("next_row", 0)) > offset and int(record.get("started_row", -1)) < int(
            record["next_row"]
        ):
            repo.enqueue(import_id, int(record["next_row"]))
        return "stale"
    repo.segment_started(import_id, offset, now_iso())
    budget = remaining_ms() / 1000
    deadline = time.monotonic() + budget - min(SEGMENT_MARGIN_SECONDS, budget * 0.2)
    limit = get_settings().import_segment_rows if max_rows is None else max_rows
    source = objects.Head(
        record["object_bucket"],
        record["object_key"],
        int(record["object_size"]),
        record.get("object_etag", ""),
        record.get("object_version"),
    )
    try:
        if record.get("format"):
            fmt = tabular.Format(record["format"], record.get("delimiter", ","))
        else:
            fmt = tabular.sniff(objects.read_range(source, 0, tabular.HEAD_BYTES - 1), source.size)
            repo.commit(import_id, offset, {"format": fmt.kind, "delimiter": fmt.delimiter}, {}, None)
            record["format"] = fmt.kind
    except tabular.FileRejected as exc:
        repo.fail(import_id, exc.reason, now_iso())
        logger.info("import refused", extra={"import_id": import_id, "reason": exc.reason})
        return "failed"
    except NotFound:
        repo.fail(
            import_id, "file: the uploaded object is gone (deleted or replaced before it was read)", now_iso()
        )
        return "failed"
    segment = _Segment(record, offset, deadline, limit)
    try:
        return _run(segment, source, fmt)
    finally:
        segment.close()


def _run(segment: _Segment, source: objects.Head, fmt: tabular.Format) -> str:
    record, import_id, offset = segment.record, segment.import_id, segment.offset
    try:
        with _rows(source, fmt, segment) as rows:
            ended = segment.run(rows)
    except tabular.FileRejected as exc:
        reason = exc.reason
        if segment.counts["rows_read"] or offset:
            reason += "; the rows before it were imported (see the report)"
        segment.commit(True, repo.FAILED, reason)
        return "failed"
    except Unavailable:
        # Throttled beyond the backoff, or S3 unavailable: keep what is done, try the rest a bit later.
        if segment.last_row > offset and segment.commit(False):
            repo.enqueue(import_id, segment.last_row, RETRY_DELAY_SECONDS)
            return "retry"
        raise
    if ended and int(record.get("rows_read", 0)) + segment.counts["rows_read"] == 0:
        segment.commit(True, repo.FAILED, "file: there are no data rows under the header")
        return "failed"
    if ended:
        if segment.commit(True):
            _rearm(record, segment)
        return "completed"
    if segment.commit(False):
        repo.enqueue(import_id, segment.last_row)
    return "continued"


def give_up(import_id: str, error: str) -> None:
    """The segment kept failing (last delivery before the dead-letter queue): the import failed."""
    repo.fail(import_id, error, now_iso())


def _rearm(record: dict[str, Any], segment: _Segment) -> None:
    from gateway import stock

    for test_type in set(record.get("types") or set()) | segment.types:
        stock.check_quietly(segment.unit.id, segment.unit.path, segment.unit.tree, test_type, refilled=True)


def handle_message(body: str, receive_count: int, remaining_ms: Callable[[], int]) -> str:
    """One continuation message ({"import-id", "offset"}); a malformed one is dropped (logged)."""
    try:
        message = json.loads(body)
        import_id, offset = str(message["import-id"]), int(message["offset"])
    except (ValueError, KeyError, TypeError):
        logger.error("malformed continuation message dropped", extra={"body": body[:500]})
        return "dropped"
    try:
        return run_segment(import_id, offset, remaining_ms)
    except Exception:
        if receive_count >= MAX_RECEIVES:
            give_up(import_id, f"internal error at row {offset}; the rows before it were imported")
        raise
