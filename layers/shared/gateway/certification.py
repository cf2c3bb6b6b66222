"""Outcomes where results are taken in (issue 8, sections 3 and 4).

The results function decides the outcome of a result the moment it takes it in: in the SAME DynamoDB
transaction as the result version and the test's state, it stores the outcome (keyed by candidate, with the
unit it was taken from) and, for a certification test, the candidate's CT status for that level. So the
status is always updated before any certificate exists (ETAPI-16), a retried or duplicated result can
never produce a second outcome, and a rejected result leaves nothing behind.

What follows is at least once, keyed so that repeating it changes nothing:
- a pass queues one message on CertificateQueue; the certificates function issues the PDF there (fpdf2 is
  its dependency alone, off the intake's path). The certificate code is derived from the result, and the
  certificate record is a conditional put: one certificate per passing result, however often it runs;
- a fail publishes one `certification.failed` event (id `certification.failed:<kind>:<subject>:<version>`)
  with the "can't do" statements and the review list, for the failure e-mail.
A duplicate of the latest result (the engine retrying after a 503) repeats both.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway import aws, catalogue, crypto, events, outcomes
from gateway.catalogue_models import Catalogue, TestType
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import outcomes as repo
from gateway.results import Result

CERTIFICATION_FAILED = "certification.failed"
SCORE_REPORTS = "/score-reports"
CERTIFICATES = "/certificates"


@dataclass(frozen=True)
class Prepared:
    record: dict[str, Any]
    items: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------ identities
def candidate_of(kind: str, subject: dict[str, Any]) -> dict[str, Any]:
    """The candidate a test belongs to: id, e-mail and name as the subject knows them."""
    from gateway.registration import candidate_id

    if kind == "v2":
        return {
            "candidate_id": subject["candidate_id"],
            "email": subject.get("email"),
            "full_name": subject.get("full_name"),
        }
    registration = subject.get("registration") or {}
    assigned = subject.get("assigned_to") or {}
    email = subject.get("email") or registration.get("Email")
    name = " ".join(
        str(registration[k]).strip() for k in ("First_Name", "Last_Name") if registration.get(k)
    ) or assigned.get("student-name")
    if subject.get("candidate_id"):
        cid = subject["candidate_id"]
    elif email:
        cid = candidate_id(subject["unit_id"], str(email))
    else:
        cid = f"cand_tid_{subject['test_id']}"
    return {"candidate_id": cid, "email": email, "full_name": str(name) if name else None}


def test_type_of(kind: str, subject: dict[str, Any]) -> tuple[TestType, Catalogue] | None:
    found = catalogue.for_unit(subject["unit_path"])
    if found is None:
        return None
    if kind == "itep":
        test = found.by_name(str(subject.get("test_type") or ""))
    else:
        test = found.by_test_id(int(subject.get("test_id") or 0))
    return (test, found) if test else None


def _token(purpose: str, text: str) -> str:
    return crypto.b64url(text.encode() + crypto.derive(purpose, text)[:16])


def _untoken(purpose: str, token: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) <= 16:
        return None
    text, mac = raw[:-16], raw[-16:]
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        return None
    return decoded if hmac.compare_digest(mac, crypto.derive(purpose, decoded)[:16]) else None


def score_report_token(candidate_id: str, kind: str, subject: str) -> str:
    """An unguessable token naming one outcome (its 128-bit MAC under the master key)."""
    return _token("score-report", f"{candidate_id}|{kind}|{subject}")


def outcome_of_token(token: str) -> tuple[str, str, str] | None:
    text = _untoken("score-report", token)
    if text is None or text.count("|") != 2:
        return None
    candidate_id, kind, subject = text.split("|")
    return candidate_id, kind, subject


def certificate_code(kind: str, subject: str) -> str:
    """The verification code of the certificate of a result: derived, so a retry finds the same one."""
    raw = base64.b32encode(crypto.derive("certificate", f"{kind}:{subject}")[:10]).decode()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def base_url(request_base: str | None = None) -> str:
    return (get_settings().public_base_url or request_base or "").rstrip("/")


# ------------------------------------------------------------------------------------------ intake
def prepare(result: Result, subject: dict[str, Any], version: int, now: str, base: str) -> Prepared | None:
    """The outcome of a stored result version, as transaction entries; None when no catalogue entry
    covers the test (then the result is stored as before, without an outcome)."""
    found = test_type_of(result.kind, subject)
    if found is None:
        return None
    test, applicable = found
    decided = outcomes.decide(result, test, applicable)
    who = candidate_of(result.kind, subject)
    record: dict[str, Any] = {
        **who,
        "kind": result.kind,
        "subject": result.subject,
        "version": version,
        "unit_id": subject["unit_id"],
        "unit_path": subject["unit_path"],
        "test_kind": test.kind,
        "test_type": test.name,
        "level": decided.get("level"),
        "result": decided["outcome"],
        "date": outcomes.test_date(result, now),
        "decided_at": now,
        "outcome": {k: v for k, v in decided.items() if k != "missed"},
        "missed": decided["missed"],
        "links_base": base,
    }
    items = [repo.outcome_put(record)]
    if test.kind == "certification" and decided["outcome"] in ("passed", "failed") and test.level:
        items.append(
            repo.ct_status_update(
                who["candidate_id"],
                test.level,
                decided["outcome"] == "passed",
                {
                    "candidate_id": who["candidate_id"],
                    "level": test.level,
                    "test_type": test.name,
                    "last_result": decided["outcome"],
                    "last_subject": f"{result.kind}:{result.subject}",
                    "last_unit_id": subject["unit_id"],
                    "updated_at": now,
                },
            )
        )
    return Prepared(record, items)


def follow_up(record: dict[str, Any]) -> None:
    """What an outcome sets off (at least once; both keyed so repeats change nothing)."""
    if record.get("test_kind") != "certification":
        return
    if record["result"] == "passed":
        message = {k: record[k] for k in ("candidate_id", "kind", "subject", "version")}
        try:
            aws.client("sqs").send_message(
                QueueUrl=get_settings().certificate_queue_url, MessageBody=json.dumps(message)
            )
        except ClientError as exc:
            raise Unavailable("certificates: the certificate queue is unavailable; retry") from exc
    elif record["result"] == "failed":
        outcome = record["outcome"]
        token = score_report_token(record["candidate_id"], record["kind"], record["subject"])
        events.publish(
            f"{CERTIFICATION_FAILED}:{record['kind']}:{record['subject']}:{record['version']}",
            CERTIFICATION_FAILED,
            record["unit_id"],
            record["unit_path"],
            {
                "candidate-id": record["candidate_id"],
                "email": record.get("email"),
                "full-name": record.get("full_name"),
                "test-type": record["test_type"],
                "level": record.get("level"),
                "cant-do": list(outcome.get("cant-do", [])),
                "review": list(outcome.get("review", [])),
                "score-percent": outcome.get("score-percent"),
                "pass-mark": outcome.get("pass-mark"),
                "score-report-url": f"{record.get('links_base', '')}{SCORE_REPORTS}/{token}",
            },
        )


def repeat_follow_up(result: Result, subject: dict[str, Any]) -> None:
    """A duplicate of the latest result: set off its outcome's follow-up again (a lost one is recovered)."""
    if not result.stores_version:
        return
    who = candidate_of(result.kind, subject)
    record = repo.get(repo.outcome_key(who["candidate_id"], result.kind, result.subject))
    if record is not None and int(record.get("version", 0)) == int(subject.get("result_version", 0)):
        follow_up(record)
