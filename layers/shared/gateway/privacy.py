"""A candidate's personal data: everything held about them (export) and its erasure.

A candidate is `CAND#<id>` in CandidatesTable: one e-mail address in one organisation unit. Their
personal data lives in these places, all found from the profile (e-mail, name, unit, the units a transfer
moved them from, their invitation ids):

1. CandidatesTable `CAND#<id>/PROFILE`: e-mail, full name, transfer history, and the keys of the 11 search
   indexes (e-mail, name, username...: they live on this item alone). Erased: deleted (last, see below),
   so no search (GET /v1/candidates by e-mail, name, anything) finds them any more.
2. CandidatesTable `INV#<invitation>/INV` (their invitations: the profile's `invitation_ids`, and the
   UnitIndex of every unit they were in; a transfer moves them): e-mail, full name, callback and redirect
   URLs, the registering key, bounce marks. Erased: deleted.
3. CandidatesTable `RES#v2#<invitation>/V#<n>` and `RES#itep#<test id>/V#<n>` (result versions of their
   invitations and test IDs): the engine's raw message (OID = the customer's external id, writing answers,
   report URL). Erased: anonymised: the raw message, OID, writing questions and answers, report URLs and
   AttemptedOn go; status, levels, CEFR, scores, the date and the unit stay (anonymous figures).
4. InventoryTable `TID#<test id>/TID` (test IDs of the subtrees of every unit they were in whose item names
   their e-mail: fulfilment or import): `assigned-to`, `registration`, e-mail, bcc, and history entries
   whose details name them. Erased: assigned-to becomes `{"erased-at": ...}` (the test stays assigned, so it
   never turns available again by the seed's rule), the rest is removed; the test ID, its type, status and
   dates stay.
5. DeliveriesTable `DLV#<id>` and `ATT#...` (callbacks out: the V2 callback object carries
   CandidateEmailId, the iTEP form carries the result of their test ID, `certification.failed` and
   `invitation.email_bounced` events name them): every delivery of the candidate's tree whose endpoint is
   one of their invitations or whose body names them, one of their test IDs or invitations. Erased: deleted
   with its attempts.
6. IdempotencyTable (powertools records keep a fulfilment's reply, with assigned-to, for 24 h): records
   naming them are deleted (a retry with the same Idempotency-Key after the erasure is a new request).
7. ImportsBucket: uploads `imports/<unit>/...` (CSV / XLSX exports with Assigned To) and per-row reports
   `reports/<unit>/...` of the units involved (theirs, their test IDs', their test IDs' imports), and large
   candidate XLSX reports `reports/candidates/<unit>/...` of their units and the units above. An upload
   naming them is deleted, every version (re-writing it would re-run the import); a CSV report naming them
   is re-written without those rows, and its older versions deleted; an XLSX report naming them (a
   generated download, made again from the data on request) is deleted, every version.
8. NotificationsTable, e-mail history: `MAIL#<id>/MAIL` records of every e-mail to their address (the
   recipient, the RecipientIndex keys `RCPT#<unit>#<address>`, invitation / candidate / test ids), found
   through RecipientIndex in every unit they were in and their test IDs' units. Erased: deleted (the
   records expire after 30 days anyway). E-mails to admins about their test (`completed` to admin
   addresses) name neither their address nor their name in the record and stay until they expire.
9. NotificationsTable, suppressions `SUPP#<unit>/H#<hash>` of their address (a bounce or a complaint).
   DECISION: kept, as a keyed hash only. A suppression is a record of legal interest: it is what stops the
   service from mailing an address that bounced or complained again (say the same address is registered
   anew after the erasure). Its key is an HMAC of (unit, address) under the master key, so the
   erasure removes the address (and the mail id, the bounce detail) and keeps the key, the reason and the
   date: a send still looks the hash up and finds the address suppressed, an admin who knows the address
   can still lift it (DELETE /v1/notifications/suppressions?email=...), and the listing shows "(erased)".
   Nobody without the master key can tell which address it is.
10. CandidatesTable, certification: outcomes `CAND#<id>/OUT#<kind>#<subject>` (name, e-mail, unit, score
   report link), CT status `CAND#<id>/CT#<level>`, certificates `CERT#<code>` (the name printed on it) and
   their PDFs `certificates/<code>.pdf` in the bucket. Also the outcomes of their test IDs kept under
   another candidate id (a test ID taken in another unit), with that id's CT status when no profile stands
   behind it. Erased: each outcome is replaced, in one transaction, by an anonymous copy `ANON#<random>/
   OUT#<random>` holding only what the can't-do and CT-log reports count (unit, test date, test type,
   level, result, missed statements) under a random candidate id shared by their copies (so "distinct
   candidates" stays right) and unknown to everything else: the reports give the same figures after the
   erasure, and the score report links and GET /v1/outcomes find nothing. CT status items are deleted.
   A certificate becomes a tombstone `{code, status: erased}`: DECISION: the public verification route
   `GET /certificates/{code}` answers `"status": "erased"` and nothing else (no name, unit, test, level,
   date): a verifier learns the certificate cannot be confirmed, without being told it is forged
   (`unknown`) or withdrawn for cause (`revoked`). Every version of its PDF is deleted.
11. E-mail sending: SES keeps no copy for the service; the local stack's outbox is the local SES
   emulation, not part of the service. Logs never carry e-mail addresses or names (house rule).

An `assignment.expired` event the expiry job has yet to send (`pending_event` on the test ID) is
anonymised the same way before it goes out. Not reachable: messages in flight on the events / delivery /
notification queues (SQS cannot delete by content); an event already queued may still create a delivery
or an e-mail record after the erasure. Deleted items also stay in point-in-time-recovery backups for their
35-day window, and old S3 versions are deleted explicitly (the bucket is versioned).

What stays: anonymous figures only: the anonymised result versions (unit, status, levels, scores), the
anonymous outcome copies, `STATS#<unit>/ERASURES` counting erased candidates per unit, hashed
suppressions and certificate tombstones.

Erasure is idempotent: each step is, and the profile goes last, so a run that fails half way is finished
by the next DELETE; once the profile is gone, DELETE answers 404 (as GET /export does).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from gateway import crypto
from gateway.auth import Caller
from gateway.config import get_settings
from gateway.errors import NotFound
from gateway.repo import directory, now_iso
from gateway.repo import erasure as repo
from gateway.repo import notifications as mail_repo
from gateway.repo import outcomes as outcome_repo

logger = Logger(child=True)
CANDIDATE_ID = r"^cand_[0-9a-f]{1,64}$"
# Result fields that identify or describe the person (the rest are anonymous figures).
_RESULT_IDENTIFYING = ("OID", "score_report_url", "ReportPDFUrl", "AttemptedOn", "TestID", "TestInvitationId")
_STATS_SK = "ERASURES"
_CERTIFICATES = "certificates/"  # gateway.certificates.PREFIX (not imported: it brings pydantic models)


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
        self.invitation_ids = sorted(int(i) for i in profile.get("invitation_ids") or set())
        self.transfers = [h for h in profile.get("history") or [] if h.get("event") == "transferred"]
        # Every unit the candidate was in (a transfer leaves mail, test IDs and reports behind), with paths.
        self.units: dict[str, str] = {self.unit_id: self.unit_path}
        for entry in self.transfers:
            for unit_id in (entry.get("detail") or {}).values():
                if isinstance(unit_id, str) and unit_id not in self.units:
                    unit = directory.get_unit(unit_id)
                    if unit is not None:
                        self.units[unit_id] = unit.path

    def named_in(self, value: Any) -> bool:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        folded = text.casefold()
        return any(n in folded for n in self.needles)


def _settings() -> Any:
    return get_settings()


def _subject(caller: Caller, candidate_id: str) -> _Subject:
    profile = repo.get(_settings().candidates_table, f"CAND#{candidate_id}", "PROFILE")
    if profile is None:
        raise NotFound(f"candidateId: no candidate '{candidate_id}'")
    caller.require_scope(str(profile["unit_path"]), "id")
    return _Subject(profile)


def _profile(subject: _Subject) -> dict[str, Any] | None:
    return repo.get(_settings().candidates_table, f"CAND#{subject.id}", "PROFILE")


def _invitations(subject: _Subject) -> list[dict[str, Any]]:
    """Their invitations: those the profile lists, and any other of their units' naming them (UnitIndex)."""
    found: dict[int, dict[str, Any]] = {}
    for inv_id in subject.invitation_ids:
        item = repo.get(_settings().candidates_table, f"INV#{inv_id}", "INV")
        if item is not None and item.get("candidate_id") == subject.id:
            found[inv_id] = item
    for unit_id in subject.units:
        for item in repo.query(
            _settings().candidates_table, "gsi1pk = :pk", {":pk": f"UNIT#{unit_id}"}, index="UnitIndex"
        ):
            if item.get("entity") == "invitation" and item.get("candidate_id") == subject.id:
                found[int(item["invitation_id"])] = item
    return [found[i] for i in sorted(found)]


def _test_ids(subject: _Subject) -> list[dict[str, Any]]:
    """Test IDs of the candidate's subtree whose item names their e-mail (top level or inside assigned-to /
    registration: an import's Assigned To may carry it)."""
    email = subject.email.casefold()
    found: dict[str, dict[str, Any]] = {}
    for path in _roots(subject.units.values()):
        for item in repo.query(
            _settings().inventory_table,
            "tree_pk = :pk AND begins_with(tree_sk, :path)",
            {":pk": f"TIDS#{subject.tree}", ":path": path},
            index="TreeIndex",
        ):
            personal = {
                k: item.get(k)
                for k in ("email_lower", "email", "assigned_to", "registration", "bcc", "pending_event")
            }
            if email in json.dumps(personal, default=str).casefold():
                found[str(item["test_id"])] = item
    return [found[t] for t in sorted(found)]


def _roots(paths: Any) -> list[str]:
    """The paths that are not inside another of them (each subtree read once)."""
    ordered = sorted(set(paths), key=len)
    kept: list[str] = []
    for path in ordered:
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return kept


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


# ------------------------------------------------------------------------------- notifications, outcomes
def _mail_units(subject: _Subject, tests: list[dict[str, Any]]) -> list[str]:
    """Units that may have mailed them: every unit they were in, and their test IDs' units."""
    return sorted(set(subject.units) | {str(t["unit_id"]) for t in tests if t.get("unit_id")})


def _mails(subject: _Subject, units: list[str]) -> list[dict[str, Any]]:
    return [m for unit in units for m in mail_repo.history_of(unit, subject.email)]


def _suppressions(subject: _Subject, units: list[str]) -> list[dict[str, Any]]:
    return [s for unit in units if (s := mail_repo.suppressed(unit, subject.email)) is not None]


@dataclass
class _Outcomes:
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # every code that may have a PDF (issued or derived)


def _outcomes(subject: _Subject, tests: list[dict[str, Any]]) -> _Outcomes:
    """Their outcomes, CT status and certificates: those under their candidate id, and the outcomes of
    their test IDs kept under another id (a test ID of another unit: `certification.candidate_of`), with
    that id's CT status of those tests when no candidate profile stands behind it."""
    from gateway import certification

    found = _Outcomes()
    for item in outcome_repo.of_candidate(subject.id):
        if item.get("entity") == "outcome":
            found.outcomes.append(item)
        elif item.get("entity") == "ct-status":
            found.statuses.append(item)
    for test in tests:
        cid = str(certification.candidate_of("itep", test)["candidate_id"])
        if cid == subject.id:
            continue
        outcome = outcome_repo.get(outcome_repo.outcome_key(cid, "itep", str(test["test_id"])))
        if outcome is None:
            continue
        found.outcomes.append(outcome)
        if outcome_repo.get({"pk": f"CAND#{cid}", "sk": "PROFILE"}) is None:
            found.statuses.extend(
                s
                for s in outcome_repo.of_candidate(cid)
                if s.get("entity") == "ct-status" and s.get("last_subject") == f"itep:{test['test_id']}"
            )
    codes = {str(i["certificate"]) for i in (*found.outcomes, *found.statuses) if i.get("certificate")}
    codes |= {certification.certificate_code(str(o["kind"]), str(o["subject"])) for o in found.outcomes}
    found.codes = sorted(codes)
    found.certificates = [c for code in found.codes if (c := outcome_repo.certificate(code)) is not None]
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
    units = _mail_units(subject, tests)
    held = _outcomes(subject, tests)
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
        "emails": [_public(m, drop=("attempt", "lease_until")) for m in _mails(subject, units)],
        "suppressions": [_public(s, drop=("mail_id",)) for s in _suppressions(subject, units)],
        "outcomes": [_public(o, drop=("links_base",)) for o in held.outcomes],
        "ct-status": [_public(s) for s in held.statuses],
        "certificates": [
            {
                "code": c["code"],
                "status": "revoked" if c.get("revoked_at") else str(c.get("status") or "valid"),
                "name": c.get("name"),
                "test-type": c.get("test_type"),
                "level": c.get("level"),
                "issued-on": c.get("issued_on"),
                "revoked-at": c.get("revoked_at"),
            }
            for c in held.certificates
        ],
        "transfers": [_public(t) for t in subject.transfers],
    }


_INTERNAL = {"pk", "sk", "gsi1pk", "gsi1sk", "avail_pk", "avail_sk", "tree_pk", "tree_sk", "exp_pk", "exp_sk",
             "seen_digests", "dedupe_key", "email_lower", "claim_id", "result_digest", "out_pk", "out_sk",
             "ct_pk", "ct_sk", "ce_pk", "ce_sk", "cn_pk", "cn_sk", "cu_pk", "cu_sk", "ceu_pk", "cnu_pk",
             "cuu_pk", "cs_pk", "cl_pk", "cy_pk", "cr_pk", "erasure_anon"}  # fmt: skip


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
              "objects": 0, "emails": 0, "suppressions": 0, "outcomes": 0, "ct-statuses": 0,
              "certificates": 0}  # fmt: skip
    invitations = _invitations(subject)
    tests = _test_ids(subject)
    inv_ids = [str(i["invitation_id"]) for i in invitations]
    test_ids = [str(t["test_id"]) for t in tests]
    held = _outcomes(subject, tests)  # before the test IDs lose the e-mail their outcomes are keyed by
    mail_units = _mail_units(subject, tests)

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
    _erase_outcomes(subject, held, now, counts)
    for mail in _mails(subject, mail_units):
        mail_repo.delete_mail(str(mail["mail_id"]))
        counts["emails"] += 1
    for unit in mail_units:
        counts["suppressions"] += mail_repo.forget_suppressed_address(unit, subject.email, now)
    units = set(subject.units)
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


def _anonymous_id(subject: _Subject) -> str:
    """A random id for the candidate's anonymous outcomes (distinct-candidate counts stay right), kept on
    the profile until it goes so that an erasure finished by a second DELETE uses the same one."""
    settings = _settings()
    repo.update(
        settings.candidates_table,
        {"pk": f"CAND#{subject.id}", "sk": "PROFILE"},
        "SET erasure_anon = if_not_exists(erasure_anon, :anon)",
        {":anon": crypto.random_hex(10)},
    )
    profile = _profile(subject) or {}
    return str(profile.get("erasure_anon") or crypto.random_hex(10))


def _erase_outcomes(subject: _Subject, held: _Outcomes, now: str, counts: dict[str, int]) -> None:
    """Outcomes become anonymous copies (the can't-do and CT-log reports keep counting them), CT status
    goes, certificates become tombstones and their PDFs go, every version."""
    anon = _anonymous_id(subject) if held.outcomes else ""
    for outcome in held.outcomes:
        sk = f"OUT#{crypto.random_hex(8)}"
        copy: dict[str, Any] = {
            "pk": f"ANON#{anon}",
            "sk": sk,
            "entity": "anonymous-outcome",
            "candidate_id": f"anon_{anon}",
            "anonymised_at": now,
            **{k: outcome[k] for k in _OUTCOME_FIGURES if outcome.get(k) is not None},
        }
        if outcome.get("out_pk"):
            copy["out_pk"] = outcome["out_pk"]
            copy["out_sk"] = f"{outcome['unit_path']}{outcome['date']}#anon_{anon}#{sk}"
        if outcome_repo.anonymise_outcome(outcome, copy):
            counts["outcomes"] += 1
    for status in held.statuses:
        repo.delete(_settings().candidates_table, {"pk": status["pk"], "sk": status["sk"]})
        counts["ct-statuses"] += 1
    for certificate in held.certificates:
        if certificate.get("status") != outcome_repo.ERASED:  # (a tombstone already: a finishing DELETE)
            outcome_repo.erase_certificate(str(certificate["code"]), now)
            counts["certificates"] += 1
    bucket = _settings().imports_bucket
    if bucket:
        for code in held.codes:
            key = f"{_CERTIFICATES}{code}.pdf"
            for found, version in list(repo.object_versions(bucket, key)):
                if found == key:
                    repo.delete_object(bucket, key, version or "null")


# What an anonymous outcome keeps: what the can't-do and CT-log reports count, nothing about the person.
_OUTCOME_FIGURES = ("unit_id", "unit_path", "test_kind", "test_type", "level", "result", "date", "missed")


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
    prefixes = [p for unit in units for p in (f"imports/{unit}/", f"reports/{unit}/")]
    # Large candidate XLSX reports, kept under the requesting key's unit: the candidate's units or above.
    ancestors = {u for path in subject.units.values() for u in path.strip("/").split("/") if u}
    prefixes += [f"reports/candidates/{unit}/" for unit in sorted(ancestors)]
    changed = 0
    for prefix in prefixes:
        versions: dict[str, list[str | None]] = {}
        for key, version in repo.object_versions(bucket, prefix):
            versions.setdefault(key, []).append(version)
        for key, ids in versions.items():
            named = [v for v in ids if _mentions(subject, repo.read_object(bucket, key, v))]
            if not named:
                continue
            changed += 1
            latest = repo.read_object(bucket, key, ids[0])
            if prefix.startswith("reports/") and not _is_xlsx(key, latest):
                # A CSV report keeps its other rows: the newest version re-written without theirs.
                repo.write_object(bucket, key, _without_rows(subject, latest), "text/csv")
                for version in ids:  # every older version goes for good
                    if version is not None:
                        repo.delete_object(bucket, key, version)
            else:
                # An upload (re-writing it would re-run the import) or an XLSX report (a generated
                # download, made again from the data on request): every version goes.
                for version in ids:
                    repo.delete_object(bucket, key, version or "null")
    return changed


def _is_xlsx(key: str, data: bytes) -> bool:
    return key.endswith(".xlsx") or data[:2] == b"PK"


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
