"""A candidate's personal data: everything held about them (export) and its erasure.

A candidate is `CAND#<id>` in CandidatesTable: one e-mail address in one organisation unit. Their
personal data lives in these places, all found from the profile (e-mail, unit, unit path):

1. CandidatesTable `CAND#<id>/PROFILE`: e-mail, full name. Erased: deleted (last, see below).
2. CandidatesTable `INV#<invitation>/INV` (their invitations: UnitIndex of their unit, candidate_id):
   e-mail, full name, callback and redirect URLs, the registering key. Erased: deleted.
3. CandidatesTable `RES#v2#<invitation>/V#<n>` and `RES#itep#<test id>/V#<n>` (result versions of their
   invitations and test IDs): the engine's raw message (OID = the customer's external id, writing answers,
   report URL). Erased: anonymised: the raw message, OID, writing questions and answers, report URLs and
   AttemptedOn go; status, levels, CEFR, scores, the date and the unit stay (anonymous figures).
4. InventoryTable `TID#<test id>/TID` (test IDs of the candidate's subtree whose item names their e-mail:
   fulfilment or import): `assigned-to`, `registration`, e-mail, bcc, and history entries whose details
   name them. Erased: assigned-to becomes `{"erased-at": ...}` (the test stays assigned, so it never turns
   available again by the seed's rule), the rest is removed; the test ID, its type, status and dates stay.
5. DeliveriesTable `DLV#<id>` and `ATT#...` (callbacks out: the V2 callback object carries
   CandidateEmailId, the iTEP form carries the result of their test ID): every delivery of the
   candidate's tree whose endpoint is one of their invitations or whose body names them, one of their
   test IDs or invitations. Erased: deleted with its attempts.
6. IdempotencyTable (powertools records keep a fulfilment's reply, with assigned-to, for 24 h): records
   naming them are deleted (a retry with the same Idempotency-Key after the erasure is a new request).
7. ImportsBucket: uploads `imports/<unit>/...` (CSV / XLSX exports with Assigned To) and per-row reports
   `reports/<unit>/...` of the units involved (the candidate's, their test IDs', their test IDs' imports).
   An upload naming them is deleted, every version (re-writing it would re-run the import); a report
   naming them is re-written without those rows, and its older versions deleted.
8. E-mail: the service keeps no e-mail history of its own (SES sends, nothing is stored; the local
   stack's outbox is the local SES emulation, not part of the service). Logs never carry e-mail addresses
   or names (house rule).

An `assignment.expired` event the expiry job has yet to send (`pending_event` on the test ID) is
anonymised the same way before it goes out. Not reachable: messages in flight on the events / delivery
queues (SQS cannot delete by content); an event already queued may still create a delivery after the
erasure. Deleted items also stay in point-in-time-recovery backups for their 35-day window.

What stays: anonymous figures only: the anonymised result versions (unit, status, levels, scores) and
`STATS#<unit>/ERASURES` counting erased candidates per unit.

Erasure is idempotent: each step is, and the profile goes last, so a run that fails half way is finished
by the next DELETE; once the profile is gone, DELETE answers 404 (as GET /export does).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from typing import Any

from aws_lambda_powertools import Logger

from gateway.auth import Caller
from gateway.config import get_settings
from gateway.errors import NotFound
from gateway.repo import erasure as repo
from gateway.repo import now_iso

logger = Logger(child=True)
CANDIDATE_ID = r"^cand_[0-9a-f]{1,64}$"
# Result fields that identify or describe the person (the rest are anonymous figures).
_RESULT_IDENTIFYING = ("OID", "score_report_url", "ReportPDFUrl", "AttemptedOn", "TestID", "TestInvitationId")
_STATS_SK = "ERASURES"


class _Subject:
    """The candidate's identifiers and how to recognise them in text."""

    def __init__(self, profile: dict[str, Any]) -> None:
        self.id = str(profile["id"])
        self.email = str(profile["email"])
        self.name = str(profile.get("full_name") or "")
        self.unit_id = str(profile["unit_id"])
        self.unit_path = str(profile["unit_path"])
        self.tree = self.unit_path.strip("/").split("/")[0]
        self.needles = [n.casefold() for n in (self.email, self.name) if n.strip()]

    def named_in(self, value: Any) -> bool:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        folded = text.casefold()
        return any(n in folded for n in self.needles)


def _settings() -> Any:
    return get_settings()


def _subject(caller: Caller, candidate_id: str) -> _Subject:
    profile = repo.get(_settings().candidates_table, f"CAND#{candidate_id}", "PROFILE")
    if profile is None:
        raise NotFound(f"id: no candidate '{candidate_id}'")
    caller.require_scope(str(profile["unit_path"]), "id")
    return _Subject(profile)


def _profile(subject: _Subject) -> dict[str, Any] | None:
    return repo.get(_settings().candidates_table, f"CAND#{subject.id}", "PROFILE")


def _invitations(subject: _Subject) -> list[dict[str, Any]]:
    return [
        item
        for item in repo.query(
            _settings().candidates_table,
            "gsi1pk = :pk",
            {":pk": f"UNIT#{subject.unit_id}"},
            index="UnitIndex",
        )
        if item.get("entity") == "invitation" and item.get("candidate_id") == subject.id
    ]


def _test_ids(subject: _Subject) -> list[dict[str, Any]]:
    """Test IDs of the candidate's subtree whose item names their e-mail (top level or inside assigned-to /
    registration: an import's Assigned To may carry it)."""
    email = subject.email.casefold()
    found = []
    for item in repo.query(
        _settings().inventory_table,
        "tree_pk = :pk AND begins_with(tree_sk, :path)",
        {":pk": f"TIDS#{subject.tree}", ":path": subject.unit_path},
        index="TreeIndex",
    ):
        personal = {
            k: item.get(k)
            for k in ("email_lower", "email", "assigned_to", "registration", "bcc", "pending_event")
        }
        if email in json.dumps(personal, default=str).casefold():
            found.append(item)
    return found


def _versions(kind: str, subject_id: str) -> list[dict[str, Any]]:
    return list(
        repo.query(
            _settings().candidates_table,
            "pk = :pk AND begins_with(sk, :v)",
            {":pk": f"RES#{kind}#{subject_id}", ":v": "V#"},
        )
    )


def _deliveries(subject: _Subject, invitations: list[str], test_ids: list[str]) -> list[dict[str, Any]]:
    endpoints = {f"callback:{i}" for i in invitations}
    markers = [m.casefold() for m in (*invitations, *test_ids)]
    found = []
    for item in repo.query(
        _settings().deliveries_table, "gsi1pk = :pk", {":pk": f"DLVS#{subject.tree}"}, index="TreeIndex"
    ):
        body = base64.b64decode(str(item.get("body", ""))).decode("utf-8", "replace")
        if (
            item.get("endpoint") in endpoints
            or subject.named_in(body)
            or any(m in body.casefold() for m in markers if m)
        ):
            item["body"] = body
            found.append(item)
    return found


# ------------------------------------------------------------------------------------------- export
def export(caller: Caller, candidate_id: str) -> dict[str, Any]:
    """Everything held about the candidate, as JSON."""
    subject = _subject(caller, candidate_id)
    profile = _profile(subject) or {}
    invitations = _invitations(subject)
    tests = _test_ids(subject)
    inv_ids = [str(i["invitation_id"]) for i in invitations]
    test_ids = [str(t["test_id"]) for t in tests]
    return {
        "id": subject.id,
        "exported-at": now_iso(),
        "profile": _public(profile),
        "invitations": [
            {**_public(i), "results": [_public(v) for v in _versions("v2", str(i["invitation_id"]))]}
            for i in invitations
        ],
        "test-ids": [
            {
                **_public(t, drop=("password",)),
                "results": [_public(v) for v in _versions("itep", str(t["test_id"]))],
            }
            for t in tests
        ],
        "deliveries": [_public(d) for d in _deliveries(subject, inv_ids, test_ids)],
    }


_INTERNAL = {"pk", "sk", "gsi1pk", "gsi1sk", "avail_pk", "avail_sk", "tree_pk", "tree_sk", "exp_pk", "exp_sk",
             "seen_digests", "dedupe_key", "email_lower", "claim_id", "result_digest"}  # fmt: skip


def _public(item: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        k.replace("_", "-"): (sorted(v) if isinstance(v, set) else v)
        for k, v in item.items()
        if k not in _INTERNAL and k not in drop
    }


# -------------------------------------------------------------------------------------------- erase
def erase(caller: Caller, candidate_id: str) -> dict[str, int]:
    """Erase the candidate's personal data everywhere (see the module docstring); counts of what was done."""
    subject = _subject(caller, candidate_id)
    settings = _settings()
    now = now_iso()
    counts = {"invitations": 0, "test-ids": 0, "results": 0, "deliveries": 0, "idempotency-records": 0,
              "objects": 0}  # fmt: skip
    invitations = _invitations(subject)
    tests = _test_ids(subject)
    inv_ids = [str(i["invitation_id"]) for i in invitations]
    test_ids = [str(t["test_id"]) for t in tests]

    # Deliveries first (they are found through the invitations and test IDs), then results, test IDs, S3.
    for delivery in _deliveries(subject, inv_ids, test_ids):
        for item in repo.query(settings.deliveries_table, "pk = :pk", {":pk": delivery["pk"]}):
            repo.delete(settings.deliveries_table, {"pk": item["pk"], "sk": item["sk"]})
        counts["deliveries"] += 1
    for kind, ids in (("v2", inv_ids), ("itep", test_ids)):
        for subject_id in ids:
            for version in _versions(kind, subject_id):
                _anonymise_result(version, now)
                counts["results"] += 1
    units = {subject.unit_id}
    for test in tests:
        _erase_test_id(subject, test, now)
        counts["test-ids"] += 1
        units.add(str(test["unit_id"]))
        if test.get("import_id"):
            record = repo.get(settings.inventory_table, f"IMPORT#{test['import_id']}", "IMPORT")
            if record and record.get("unit_id"):
                units.add(str(record["unit_id"]))
    counts["objects"] = _erase_objects(subject, sorted(units))
    for record in repo.scan(settings.idempotency_table):
        if subject.named_in({k: v for k, v in record.items() if k != "id"}):
            repo.delete(settings.idempotency_table, {"id": record["id"]})
            counts["idempotency-records"] += 1
    for invitation in invitations:
        repo.delete(settings.candidates_table, {"pk": invitation["pk"], "sk": invitation["sk"]})
        counts["invitations"] += 1
    # The anonymous count, then the profile: once it is gone the erasure is complete (a retry is a 404).
    repo.update(
        settings.candidates_table,
        {"pk": f"STATS#{subject.unit_id}", "sk": _STATS_SK},
        "SET unit_id = :unit, unit_path = :path, updated_at = :now ADD erased_candidates :one",
        {":unit": subject.unit_id, ":path": subject.unit_path, ":now": now, ":one": 1},
    )
    repo.delete(settings.candidates_table, {"pk": f"CAND#{subject.id}", "sk": "PROFILE"})
    logger.info("candidate erased", extra={"candidate": subject.id, **counts})
    return counts


def _anonymise_result(version: dict[str, Any], now: str) -> None:
    result = {
        k: v
        for k, v in (version.get("result") or {}).items()
        if k not in _RESULT_IDENTIFYING and not k.startswith(("Writing_Question_", "Writing_Answer_"))
    }
    repo.update(
        _settings().candidates_table,
        {"pk": version["pk"], "sk": version["sk"]},
        "SET #result = :result, anonymised_at = if_not_exists(anonymised_at, :now) REMOVE #raw",
        {":result": result, ":now": now},
        {"#result": "result", "#raw": "raw"},
    )


def _erase_test_id(subject: _Subject, test: dict[str, Any], now: str) -> None:
    history = [_scrub_entry(subject, entry) for entry in test.get("history") or []]
    history.append({"at": now, "event": "personal-data-erased", "by": "privacy"})
    sets = ["history = :history", "updated_at = :now"]
    vals: dict[str, Any] = {":history": history, ":now": now}
    if test.get("assigned_to"):  # stays non-empty: an assigned test must never turn available
        sets.append("assigned_to = :erased")
        vals[":erased"] = {"erased-at": now}
    pending = test.get("pending_event")
    if isinstance(pending, dict) and subject.named_in(pending):
        # An assignment.expired event the expiry job has still to send: it goes out without them.
        data = dict(pending.get("data") or {})
        data.update({"assigned-to": {"erased-at": now}, "email": None})
        sets.append("pending_event = :pending")
        vals[":pending"] = {**pending, "data": data}
    repo.update(
        _settings().inventory_table,
        {"pk": test["pk"], "sk": "TID"},
        "SET " + ", ".join(sets) + " REMOVE registration, email, email_lower, bcc",
        vals,
    )


def _scrub_entry(subject: _Subject, entry: dict[str, Any]) -> dict[str, Any]:
    if not subject.named_in(entry):
        return entry
    kept = {k: v for k, v in entry.items() if k in ("at", "event", "by") and not subject.named_in(v)}
    return {**kept, "erased": True}


def _erase_objects(subject: _Subject, units: list[str]) -> int:
    bucket = _settings().imports_bucket
    if not bucket:
        return 0
    changed = 0
    for unit in units:
        for prefix in (f"imports/{unit}/", f"reports/{unit}/"):
            versions: dict[str, list[str | None]] = {}
            for key, version in repo.object_versions(bucket, prefix):
                versions.setdefault(key, []).append(version)
            for key, ids in versions.items():
                named = [v for v in ids if _mentions(subject, repo.read_object(bucket, key, v))]
                if not named:
                    continue
                changed += 1
                if prefix.startswith("reports/"):
                    # A report keeps its other rows: the newest version re-written without theirs.
                    latest = repo.read_object(bucket, key, ids[0])
                    repo.write_object(bucket, key, _without_rows(subject, latest), "text/csv")
                for version in ids:  # every older version (and, for an upload, the object) goes for good
                    if version is not None or prefix.startswith("imports/"):
                        repo.delete_object(bucket, key, version)
    return changed


def _mentions(subject: _Subject, data: bytes) -> bool:
    if data[:2] == b"PK":  # XLSX: the cell text is in the workbook's XML parts
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as book:
                text = " ".join(
                    book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml")
                )
        except zipfile.BadZipFile:
            text = data.decode("utf-8", "replace")
        return subject.named_in(text.replace("&quot;", '"').replace("&amp;", "&"))
    return subject.named_in(data.decode("utf-8", "replace"))


def _without_rows(subject: _Subject, data: bytes) -> bytes:
    rows = csv.reader(io.StringIO(data.decode("utf-8", "replace")))
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        if not subject.named_in(",".join(row)):
            writer.writerow(row)
    return out.getvalue().encode()
