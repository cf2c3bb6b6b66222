"""E-mail notifications: domain events in, exactly one e-mail per event and recipient out (SES).

Where events come from: the API queues the ones a request asks for on NotificationsQueue (an invitation
with `"sendEmail": true`, an STX test ID); `functions/dispatch` forwards the others from the events queue
(`completed`, `certification.failed`, `assignment.expired`, `inventory.low`, `endpoint.disabled`).
`functions/mailer` calls
`handle` for each; a record that raises is retried by SQS (partial batch failures) and dead-lettered after
ten receives.

Exactly once per (event, recipient), whatever the retries — the order, and why:

1. **Claim**: a conditional put of the record `MAIL#<hash(event, recipient)>` in status `sending` with a
   lease (LEASE_SECONDS) and a random attempt token. It succeeds only if no record exists, or if the
   record is still `sending` and its lease ran out. A record in any final state (`sent`, `suppressed`,
   `rejected`) means the e-mail was dealt with: a retried or duplicated event sends nothing.
2. **Send** through SES with the configuration set and the tag `mail-id`, so SES reports a `Send` event for
   the message through SNS to `functions/mailfeedback`, which turns the record `sent` (`confirm_sent`).
3. **Record** `sent` with the message id.

- SES refuses for now (throttling, outage, connection refused): nothing was accepted, so the claim is
  released and the SQS record fails: the retry claims it again and sends. Nothing lost, nothing doubled.
- SES refuses for good (MessageRejected, bad address): `rejected`, never retried.
- A crash (or a timeout reading SES's answer) after SES accepted the message and before step 3 leaves the
  record `sending`: SES's own `Send` event (seconds later, well inside the lease) marks it `sent`, and the
  retry that comes after the lease finds it sent. Nothing doubled.
- A crash before SES accepted it leaves the record `sending` with no `Send` event: when the lease runs
  out the retry claims it and sends. Nothing lost. (Only an SES `Send` event later than the lease could
  double a message; SES publishes them within seconds, the lease is ten minutes.)

The lease (10 min) is longer than the mailer's timeout (60 s), so an attempt still running never loses its
claim to a retry; and shorter than the queue's redelivery window (10 receives x 120 s visibility), so a
crashed attempt is redone before the message would be dead-lettered.

Suppressed addresses (bounced or complained, per unit) are never mailed: the record becomes `suppressed`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from gateway import aws, events, mail, mailtexts
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import directory, now_iso
from gateway.repo import notifications as repo

logger = Logger(child=True)
LEASE_SECONDS = 600
RETENTION_SECONDS = 30 * 24 * 3600  # longer than any retry (SQS keeps a message 14 days)
clock: Callable[[], float] = time.time  # tests move time on

# Event types on NotificationsQueue.
INVITATION_EMAIL = "invitation.email"  # queued by V2 registration with "sendEmail": true
TEST_ID_EMAIL = "test-id.email"  # queued by an STX fulfilment
COMPLETED = "completed"
CERTIFICATION_FAILED = "certification.failed"
ASSIGNMENT_EXPIRED = events.ASSIGNMENT_EXPIRED
INVENTORY_LOW = events.INVENTORY_LOW
ENDPOINT_DISABLED = events.ENDPOINT_DISABLED
FORWARDED = frozenset({COMPLETED, CERTIFICATION_FAILED, ASSIGNMENT_EXPIRED, INVENTORY_LOW, ENDPOINT_DISABLED})

FIELDS = (
    "notify_clients",
    "events",
    "sender",
    "reply_to",
    "bcc",
    "language",
    "admin_emails",
    "admins_on_completed",
)


def defaults() -> dict[str, Any]:
    return {
        "notify_clients": True,
        "events": {name: True for name in mailtexts.CLIENT_TEMPLATES},
        "sender": get_settings().sender_email,
        "reply_to": None,
        "bcc": None,
        "language": mailtexts.DEFAULT_LANGUAGE,
        "admin_emails": [],
        "admins_on_completed": False,
    }


# ------------------------------------------------------------------------------------------- settings
def path_ids(unit_path: str) -> list[str]:
    """Unit ids of a path, nearest first: `/root/a/b/` -> [b, a, root]."""
    return [p for p in unit_path.strip("/").split("/") if p][::-1]


@dataclass(frozen=True)
class Effective:
    values: dict[str, Any]
    sources: dict[str, str]
    own: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def sends(self, template: str) -> bool:
        """Does the unit send this candidate e-mail at all?"""
        return bool(self.values["notify_clients"]) and bool(self.values["events"].get(template, True))


def effective(unit_path: str) -> Effective:
    """The unit's settings: per field its own value, else the nearest ancestor's, else the default. The
    per-event switches (`events`) inherit one by one."""
    ids = path_ids(unit_path)
    stored = repo.settings_of(ids) if ids else {}
    base = defaults()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        for unit_id in ids:
            if name in stored.get(unit_id, {}):
                values[name], sources[name] = stored[unit_id][name], unit_id
                break
        else:
            values[name], sources[name] = base[name], "default"
    switches = dict(base["events"])
    for unit_id in reversed(ids):  # root first: nearer units override
        switches |= stored.get(unit_id, {}).get("events") or {}
    values["events"] = switches
    own = {k: v for k, v in stored.get(ids[0], {}).items() if k in FIELDS} if ids else {}
    return Effective(values, sources, own)


def dedupe_addresses(addresses: list[Any]) -> list[str]:
    """Each address once, in order, compared case-insensitively (the first spelling is kept)."""
    found: dict[str, str] = {}
    for address in addresses:
        if isinstance(address, str) and address.strip():
            found.setdefault(address.strip().casefold(), address.strip())
    return list(found.values())


def admin_recipients(settings: Effective, extra: list[Any] | tuple[Any, ...] = ()) -> list[str]:
    """The unit's admin-emails (own or inherited), then `extra`, each address once."""
    return dedupe_addresses([*(settings["admin_emails"] or []), *extra])


# ------------------------------------------------------------------------------------------- producers
def enqueue(event_id: str, kind: str, unit_id: str, unit_path: str, data: dict[str, Any]) -> dict[str, Any]:
    """Queue an event for the mailer (same envelope as the events queue). A failure is a 503: the caller's
    retry queues the same id again, and the mailer sends once."""
    event = events.envelope(event_id, kind, unit_id, unit_path, data)
    _send_to_queue(event)
    return event


def forward(event: dict[str, Any]) -> bool:
    """Dispatch's part: an event that may send mail goes on to the mailer's queue."""
    if event.get("type") not in FORWARDED:
        return False
    _send_to_queue(event)
    return True


def _send_to_queue(event: dict[str, Any]) -> None:
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().notifications_queue_url,
            MessageBody=json.dumps(event, separators=(",", ":")),
            MessageAttributes={"type": {"DataType": "String", "StringValue": event["type"]}},
        )
    except ClientError as exc:
        raise Unavailable("notifications: the e-mail queue is unavailable; retry") from exc


# ------------------------------------------------------------------------------------------- the plan
@dataclass
class Mail:
    """One e-mail to one recipient."""

    template: str
    to: str
    context: dict[str, Any]
    client: bool  # to a candidate (the unit's switches apply) or to admins
    bcc: list[str] = field(default_factory=list)
    dedupe: str | None = None  # what "the same e-mail" means, if not the event id
    invitation_id: int | None = None
    candidate_id: str | None = None
    test_id: str | None = None


def _name(*parts: Any) -> str:
    return " ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())


def _candidate(name: str, email: str) -> dict[str, str]:
    return {"full_name": name, "email": email}


def plan(event: dict[str, Any], settings: Effective) -> list[Mail]:
    """The e-mails an event sends: template, recipient and data for each."""
    from gateway import registration
    from gateway.repo import candidates
    from gateway.repo import inventory as inventory_repo

    kind, data = event["type"], event.get("data") or {}
    if kind == INVITATION_EMAIL:
        inv_id = int(data["invitation-id"])
        return [
            Mail(
                mailtexts.INVITATION,
                data["email"],
                {
                    "candidate": _candidate(data.get("full-name") or "", data["email"]),
                    "take_test_url": registration.take_test_url(inv_id),
                },
                True,
                invitation_id=inv_id,
                candidate_id=data.get("candidate-id"),
            )
        ]
    if kind == TEST_ID_EMAIL:
        item = inventory_repo.get(str(data["test-id"]))
        if item is None or item.get("claim_id") != data.get("claim-id"):
            logger.info(
                "test ID e-mail dropped: the claim was undone", extra={"test_id": data.get("test-id")}
            )
            return []
        return [
            Mail(
                mailtexts.TEST_ID,
                data["email"],
                {
                    "candidate": _candidate("", data["email"]),
                    "test_type": item["test_type"],
                    "test_id": item["test_id"],
                    "password": item["password"],
                    "start_url": get_settings().test_engine_base_url.rstrip("/"),
                },
                True,
                bcc=[data["bcc"]] if data.get("bcc") else [],
                test_id=item["test_id"],
            )
        ]
    if kind == COMPLETED:
        return _completed(data, settings, candidates, inventory_repo)
    if kind == CERTIFICATION_FAILED:
        return [
            Mail(
                mailtexts.CERTIFICATION_FAILED,
                data["email"],
                {
                    "candidate": _candidate(data.get("full-name") or "", data["email"]),
                    "test_type": data.get("test-type") or "",
                    "level": data.get("level") or "",
                    "cant_do": [str(s) for s in data.get("cant-do") or []],
                    "review": [str(s) for s in data.get("review") or []],
                },
                True,
                candidate_id=data.get("candidate-id"),
            )
        ]
    if kind == ASSIGNMENT_EXPIRED:
        email = data.get("email") or (data.get("assigned-to") or {}).get("email")
        if not isinstance(email, str) or not email:
            return []
        assigned = data.get("assigned-to") or {}
        return [
            Mail(
                mailtexts.ASSIGNMENT_EXPIRED,
                email,
                {
                    "candidate": _candidate(_name(assigned.get("student-name")), email),
                    "test_type": data.get("test-type") or "",
                    "test_id": data.get("test-id") or "",
                    "expire": data.get("expire"),
                },
                True,
                test_id=data.get("test-id"),
            )
        ]
    if kind == INVENTORY_LOW:
        # To the unit's admin-emails (own or inherited) and the threshold's own `notify` list ("notified"
        # in events queued before that list became optional).
        context = {k.replace("-", "_"): data.get(k) for k in ("test-type", "available", "threshold")}
        extra = data.get("notify", data.get("notified")) or []
        return [Mail(mailtexts.LOW_STOCK, a, context, False) for a in admin_recipients(settings, extra)]
    if kind == ENDPOINT_DISABLED:
        # To the admin-emails of the unit that owns the track (its own or inherited).
        context = {k: data.get(k) for k in ("endpoint", "track", "invitation", "url", "delivery")}
        return [
            Mail(mailtexts.ENDPOINT_DISABLED, str(a), context, False) for a in settings["admin_emails"] or []
        ]
    return []


def _completed(data: dict[str, Any], settings: Effective, candidates: Any, inventory_repo: Any) -> list[Mail]:
    result = data.get("result") or {}
    subject = str(data.get("subject"))
    invitation_id: int | None = None
    if data.get("kind") == "itep":
        item = inventory_repo.get(subject) or {}
        reg, assigned = item.get("registration") or {}, item.get("assigned_to") or {}
        email = item.get("email")
        name = _name(reg.get("First_Name"), reg.get("Last_Name")) or _name(assigned.get("student-name"))
        level, cefr = result.get("Overall_Level"), result.get("Overall_cefr")
        context = {
            "test_type": data.get("test-type") or item.get("test_type"),
            "completed_on": result.get("TestDate"),
            "score": None if level is None else f"level {level}" + (f" (CEFR {cefr})" if cefr else ""),
            "total": None,
            "report_url": result.get("score_report_url"),
        }
    else:
        invitation = candidates.get_invitation(int(subject)) or {}
        email = data.get("email") or invitation.get("email")
        name = invitation.get("full_name") or ""
        invitation_id = int(subject)
        attempted = result.get("AttemptedOn")
        context = {
            "test_type": None,
            "completed_on": str(attempted)[:10] if attempted else None,
            "score": result.get("CandidateScore"),
            "total": result.get("TotalScore"),
            "report_url": result.get("ReportPDFUrl"),
        }
    # One completion e-mail per test and recipient, even when the result is re-scored later.
    dedupe = f"completed:{data.get('kind')}:{subject}"
    mails: list[Mail] = []
    if isinstance(email, str) and email:
        mails.append(
            Mail(
                mailtexts.TEST_COMPLETED,
                email,
                context | {"candidate": _candidate(name, email)},
                True,
                dedupe=dedupe,
                invitation_id=invitation_id,
                test_id=subject if data.get("kind") == "itep" else None,
            )
        )
    if settings["admins_on_completed"]:
        for admin in settings["admin_emails"] or []:
            mails.append(
                Mail(
                    mailtexts.TEST_COMPLETED_ADMIN,
                    str(admin),
                    context | {"candidate": _candidate(name, str(email or ""))},
                    False,
                    dedupe=f"{dedupe}:admin",  # another e-mail, even to the candidate's own address
                )
            )
    return mails


# ------------------------------------------------------------------------------------------- sending
def mail_id(dedupe: str, recipient: str) -> str:
    return hashlib.sha256(f"{dedupe}|{recipient.casefold()}".encode()).hexdigest()[:40]


def _count(name: str) -> None:
    Metrics().add_metric(name=name, unit=MetricUnit.Count, value=1)


def handle(event: dict[str, Any]) -> dict[str, int]:
    """Send every e-mail of one event (each once). Raises Unavailable if any must be retried; the others
    are done and a retry does not repeat them."""
    unit_path = event["unit-path"]
    settings = effective(unit_path)
    unit = directory.get_unit(event["org-unit"])
    unit_view = {"id": event["org-unit"], "name": unit.name if unit else event["org-unit"]}
    outcomes: dict[str, int] = {}
    failure: Unavailable | None = None
    for one in plan(event, settings):
        try:
            outcome = deliver(event, one, settings, unit_view)
        except Unavailable as exc:
            failure, outcome = failure or exc, "retry"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if failure is not None:
        raise failure
    return outcomes


def deliver(event: dict[str, Any], one: Mail, settings: Effective, unit: dict[str, str]) -> str:
    """Send one e-mail once (see the module docstring for the order); returns what happened."""
    if one.client and not settings.sends(one.template):
        _count("EmailsOptedOut")
        return "opted-out"
    if not one.to or "@" not in one.to:
        return "no-address"
    key = mail_id(one.dedupe or event["id"], one.to)
    now = clock()
    attempt = secrets.token_hex(8)
    record = {
        "mail_id": key,
        "attempt": attempt,
        "status": repo.SENDING,
        "lease_until": int(now) + LEASE_SECONDS,
        "event_id": event["id"],
        "event_type": event["type"],
        "template": one.template,
        "unit_id": event["org-unit"],
        "unit_path": event["unit-path"],
        "recipient": one.to,
        "client": one.client,
        "invitation_id": one.invitation_id,
        "candidate_id": one.candidate_id,
        "test_id": one.test_id,
        "claimed_at": now_iso(),
        "expiration": int(now) + RETENTION_SECONDS,
    }
    record |= repo.history_keys(event["org-unit"], one.to, record["claimed_at"], key)
    if not repo.claim(record, now):
        seen = repo.get_mail(key)
        if seen is not None and seen.get("status") != repo.SENDING:
            _count("EmailsDeduplicated")
            return "duplicate"
        raise Unavailable("notifications: this e-mail is being sent by another attempt; retry later")
    try:
        if repo.suppressed(event["org-unit"], one.to):
            repo.finish(key, attempt, repo.SUPPRESSED, {"finished_at": now_iso()})
            _count("EmailsSuppressed")
            return "suppressed"
        rendered = mailtexts.render(one.template, settings["language"], {"unit": unit} | one.context)
        bcc = list(one.bcc) + ([settings["bcc"]] if settings["bcc"] else [])
    except Exception:
        repo.release(key, attempt)
        raise
    try:
        message_id = mail.send(
            one.to,
            rendered.subject,
            rendered.text,
            rendered.html,
            bcc or None,
            sender=settings["sender"],
            reply_to=[settings["reply_to"]] if settings["reply_to"] else None,
            tags={"mail-id": key},
        )
    except mail.Ambiguous:
        # SES may have accepted it: keep the claim; its Send event (or the lease running out) decides.
        _count("EmailSendFailures")
        raise
    except Unavailable:
        repo.release(key, attempt)  # not accepted: the retry sends it
        _count("EmailSendFailures")
        raise
    except mail.Refused as exc:
        repo.finish(key, attempt, repo.REJECTED, {"error": exc.code, "finished_at": now_iso()})
        _count("EmailsRejected")
        logger.warning("e-mail refused by SES", extra={"mail_id": key, "error": exc.code})
        return "rejected"
    repo.finish(key, attempt, repo.SENT, {"message_id": message_id, "finished_at": now_iso()})
    _count("EmailsSent")
    return "sent"
