"""Institutional reports on outcomes (issue 8 section 4, issue 6 section 3), for a unit and its subtree over
a date range (the day each test was taken):

- "can't do" statements (ETAPI-32): per skill, level and statement, how many distinct candidates missed it;
- the CT log per level (ETAPI-48): attempts, passes, failures (and incomplete results) per test type and
  level.

Both read OutcomeIndex, one query per month of the range restricted to the subtree's path, so the cost
follows the outcomes in range, not the table. XLSX copies go to S3 (reports/<unit>/..., kept 90 days by the
bucket's lifecycle) and come back as a presigned link; openpyxl is imported only for them.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway import orgs
from gateway.auth import Caller
from gateway.errors import InvalidInput
from gateway.repo import objects
from gateway.repo import outcomes as repo
from gateway.statements import CEFR_RANK, SKILL_RANK

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day(field: str, value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise InvalidInput(field, f"must be a date YYYY-MM-DD (got '{value}')") from exc


def date_range(since: str | None, until: str | None) -> tuple[str, str, list[str]]:
    """(from, to, months) of a range; default the last 90 days; at most three years."""
    today = datetime.now(UTC).date()
    end = _day("to", until, today)
    start = _day("from", since, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise InvalidInput("from", f"must not be after to ({end.isoformat()})")
    if (end - start).days > MAX_DAYS:
        raise InvalidInput("from", f"the range must be at most {MAX_DAYS} days")
    months: list[str] = []
    cursor = start.replace(day=1)
    while cursor <= end:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return start.isoformat(), end.isoformat(), months


def _outcomes(caller: Caller, unit_id: str | None, since: str | None, until: str | None) -> Any:
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    start, end, months = date_range(since, until)
    return unit, start, end, repo.in_subtree(unit.tree, unit.path, months, start, end)


def cant_do(caller: Caller, unit_id: str | None, since: str | None, until: str | None) -> dict[str, Any]:
    unit, start, end, found = _outcomes(caller, unit_id, since, until)
    missed_by: dict[tuple[str, str, str], set[str]] = {}
    candidates: set[str] = set()
    for outcome in found:
        candidates.add(outcome["candidate_id"])
        for entry in outcome.get("missed", []):
            key = (entry["skill"], entry["level"], entry["statement"])
            missed_by.setdefault(key, set()).add(outcome["candidate_id"])
    rows = sorted(
        missed_by.items(), key=lambda kv: (SKILL_RANK[kv[0][0]], CEFR_RANK[kv[0][1]], -len(kv[1]), kv[0][2])
    )
    return {
        "org-unit": unit.id,
        "from": start,
        "to": end,
        "candidates": len(candidates),
        "items": [
            {"skill": s, "level": lv, "statement": text, "candidates": len(who)}
            for (s, lv, text), who in rows
        ],
    }


def ct_log(caller: Caller, unit_id: str | None, since: str | None, until: str | None) -> dict[str, Any]:
    unit, start, end, found = _outcomes(caller, unit_id, since, until)
    log: dict[tuple[str, str], dict[str, int]] = {}
    for outcome in found:
        if outcome.get("test_kind") != "certification":
            continue
        entry = log.setdefault(
            (outcome["test_type"], outcome.get("level") or ""),
            {"attempts": 0, "passes": 0, "failures": 0, "incomplete": 0},
        )
        entry["attempts"] += 1
        result = outcome.get("result")
        entry[{"passed": "passes", "failed": "failures"}.get(str(result), "incomplete")] += 1
    rows = sorted(log.items(), key=lambda kv: (CEFR_RANK.get(kv[0][1], -1), kv[0][0]))
    return {
        "org-unit": unit.id,
        "from": start,
        "to": end,
        "items": [{"test-type": t, "level": lv, **counts} for (t, lv), counts in rows],
    }


def xlsx(title: str, header: list[str], rows: list[list[Any]], about: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    for line in about:
        sheet.append(line)
    sheet.append([])
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for column, width in zip("ABCDEFG", (14, 10, 70, 12, 12, 12, 12), strict=False):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def publish_xlsx(report: dict[str, Any], name: str, header: list[str], keys: list[str]) -> dict[str, Any]:
    """The report as an XLSX in S3 and a presigned link to it (valid one hour)."""
    about = [["Organisation unit", report["org-unit"]], ["From", report["from"]], ["To", report["to"]]]
    data = xlsx(name, header, [[item[k] for k in keys] for item in report["items"]], about)
    digest = hashlib.sha256(data).hexdigest()[:16]
    key = f"reports/{report['org-unit']}/{name}-{report['from']}-{report['to']}-{digest}.xlsx"
    objects.put(key, data, XLSX)
    expires = datetime.now(UTC) + timedelta(hours=1)
    return {
        "org-unit": report["org-unit"],
        "from": report["from"],
        "to": report["to"],
        "rows": len(report["items"]),
        "download-url": objects.presign_get(key, 3600, f"{name}-{report['from']}-{report['to']}.xlsx"),
        "expires-at": expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def cant_do_xlsx(report: dict[str, Any]) -> dict[str, Any]:
    return publish_xlsx(
        report, "cant-do", ["Skill", "Level", "Can't do statement", "Candidates"],
        ["skill", "level", "statement", "candidates"],
    )  # fmt: skip


def ct_log_xlsx(report: dict[str, Any]) -> dict[str, Any]:
    return publish_xlsx(
        report, "ct-log", ["Test type", "Level", "Attempts", "Passes", "Failures", "Incomplete"],
        ["test-type", "level", "attempts", "passes", "failures", "incomplete"],
    )  # fmt: skip


def history(caller: Caller, candidate_id: str, base: str) -> dict[str, Any]:
    """A candidate's outcomes (every unit they took a test from: ETAPI-55) and CT status per level, with the
    score report link of each outcome and the certificate of each pass. A caller sees the outcomes taken
    in its subtree."""
    from gateway import certification
    from gateway.errors import NotFound

    records = repo.of_candidate(candidate_id)
    outcomes = [r for r in records if r.get("entity") == "outcome" and caller.can_see(r["unit_path"])]
    if not outcomes:
        raise NotFound(f"candidate-id: no outcomes of candidate '{candidate_id}' in your organisation units")
    items = []
    for record in sorted(outcomes, key=lambda r: (r["date"], r["decided_at"])):
        token = certification.score_report_token(candidate_id, record["kind"], record["subject"])
        items.append(
            {
                "subject": record["subject"],
                "dialect": record["kind"],
                "version": record["version"],
                "org-unit": record["unit_id"],
                "test-type": record["test_type"],
                "kind": record["test_kind"],
                "date": record["date"],
                "outcome": record["outcome"],
                "certificate": record.get("certificate"),
                "score-report-url": (
                    f"{base or record.get('links_base', '')}{certification.SCORE_REPORTS}/{token}"
                ),
            }
        )
    status = {
        r["level"]: {
            "status": r["status"],
            "test-type": r.get("test_type"),
            "certificate": r.get("certificate"),
            "updated-at": r.get("updated_at"),
        }
        for r in records
        if r.get("entity") == "ct-status"
    }
    return {"candidate-id": candidate_id, "ct-status": status, "outcomes": items}
