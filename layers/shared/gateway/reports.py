"""XLSX results reports (issue 6): one sheet of results (a row per candidate, test and result version)
and one of item responses where the engine sent them.

openpyxl (write-only mode, rows streamed to a temporary file) is imported here only, when a report is
written: it is a dependency of the candidates function alone. A small report is returned as the reply
body; a large one is put under `reports/candidates/<unit>/` in the bucket and handed out as a presigned
GET link.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import candidates, crypto
from gateway.auth import Caller
from gateway.candidate_contracts import CandidateDetail, ReportLink
from gateway.repo import objects

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DIRECT_LIMIT = 2 * 1024 * 1024  # bytes returned in the reply itself; larger reports go through S3
LINK_SECONDS = 3600
MAX_CANDIDATES = 20_000  # a results report covers at most this many candidates (narrow the filters)
RESULT_FIELDS = (
    "TotalScore", "CandidateScore", "Overall_Level", "Overall_cefr",
    "Grammar_Level", "Listening_Level", "Reading_Level", "Writing_Level", "Speaking_Level",
    "Grammar_cefr", "Listening_cefr", "Reading_cefr", "Writing_cefr", "Speaking_cefr",
    "TestDate", "AttemptedOn", "Duration", "score_report_url", "ReportPDFUrl",
)  # fmt: skip
RESULT_HEADER = (
    "Candidate ID", "E-mail", "Full name", "Org unit", "Kind", "Test", "Test type", "Status",
    "Version", "Received at", *RESULT_FIELDS,
)  # fmt: skip
ITEM_FIELDS = ("item-id", "skill", "level", "correct", "answer", "statement")
ITEM_HEADER = ("Candidate ID", "E-mail", "Test", "Version", *ITEM_FIELDS)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bool)):
        return value if not isinstance(value, str) else value[:32_000]
    return str(value)[:32_000]


def _rows(details: Iterable[CandidateDetail]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """("results" | "items", row) for every result version of every test of every candidate."""
    for d in details:
        tests: list[tuple[str, str, str, str, list[dict[str, Any]]]] = [
            ("v2", str(i.test_invitation_id), str(i.test_id), i.status, i.results) for i in d.invitations
        ] + [("itep", t.test_id, t.test_type, t.status, t.results) for t in d.test_ids]
        for kind, test, test_type, status, versions in tests:
            if not versions:
                yield "results", (d.id, d.email, d.full_name, d.org_unit, kind, test, test_type, status,
                                  None, None, *([None] * len(RESULT_FIELDS)))  # fmt: skip
            for v in versions:
                result = v.get("result") or {}
                yield "results", (
                    d.id, d.email, d.full_name, d.org_unit, kind, test, test_type, v.get("status"),
                    v.get("version"), v.get("received-at"), *(_cell(result.get(f)) for f in RESULT_FIELDS),
                )  # fmt: skip
                items = v.get("items") or result.get("items") or []
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict):
                        row = (_cell(item.get(f, item.get(f.replace("-", "_")))) for f in ITEM_FIELDS)
                        yield "items", (d.id, d.email, test, v.get("version"), *row)


def write_xlsx(details: Iterable[CandidateDetail], out: Any) -> int:
    """Write the workbook to the binary file `out`; returns the number of result rows."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    results = book.create_sheet("Results")
    results.append(RESULT_HEADER)
    items = book.create_sheet("Item responses")
    items.append(ITEM_HEADER)
    count = 0
    for sheet, row in _rows(details):
        if sheet == "results":
            results.append(row)
            count += 1
        else:
            items.append(row)
    book.save(out)
    return count


def _deliver(caller: Caller, details: Iterable[CandidateDetail], name: str) -> tuple[bytes | ReportLink, int]:
    with tempfile.TemporaryFile() as out:
        rows = write_xlsx(details, out)
        size = out.tell()
        out.seek(0)
        if size <= DIRECT_LIMIT:
            return out.read(), rows
        key = f"reports/candidates/{caller.unit_id}/{crypto.random_hex(12)}/{name}"
        objects.put_file(key, out, XLSX)
    expires = datetime.now(UTC) + timedelta(seconds=LINK_SECONDS)
    return ReportLink(
        report_url=objects.presign_get(key, LINK_SECONDS, name),
        expires_at=expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
        rows=rows,
    ), rows


def candidate_report(caller: Caller, candidate_id: str) -> tuple[bytes | ReportLink, int]:
    detail = candidates.detail(caller, candidate_id)
    return _deliver(caller, [detail], f"candidate-{candidate_id}.xlsx")


def _all_details(caller: Caller, f: candidates.SearchFilters) -> Iterator[CandidateDetail]:
    cursor: str | None = None
    seen = 0
    while True:
        records, cursor, _ = candidates.search_page(caller, f, candidates.MAX_PAGE, cursor)
        for record in records:
            seen += 1
            if seen > MAX_CANDIDATES:
                return
            yield candidates.detail_of(record, caller)
        if cursor is None:
            return


def results_report(caller: Caller, f: candidates.SearchFilters) -> tuple[bytes | ReportLink, int]:
    return _deliver(caller, _all_details(caller, f), "results.xlsx")
