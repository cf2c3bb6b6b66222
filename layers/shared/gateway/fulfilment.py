"""iTEP-style fulfilment: GTX hands an available test ID back, STX also e-mails it to the candidate.

A fulfilment is one conditional claim (no test ID is ever assigned twice); STX queues one e-mail after the
claim (the mailer sends it through SES, retrying through the queue), and undoes the claim if it cannot be
queued, so a failed request assigns nothing and sends nothing.
Retries with the same Idempotency-Key get the first reply (gateway.http.routes.provisioning).
"""

from __future__ import annotations

import secrets
from typing import Any

from aws_lambda_powertools import Logger

from gateway import catalogue, itep, stock, tracks
from gateway.auth import Caller
from gateway.errors import Conflict, InvalidInput, Unavailable
from gateway.expiry import index_keys, parse_expire
from gateway.provisioning_contracts import FulfilmentReply, FulfilmentRequest
from gateway.repo import inventory as repo
from gateway.repo import now_iso

logger = Logger(child=True)
MAX_ASSIGNED_TO = 4096


def _assigned_to(request: FulfilmentRequest, now: str) -> dict[str, Any]:
    assigned = dict(request.assigned_to or {})
    if len(str(assigned)) > MAX_ASSIGNED_TO:
        raise InvalidInput("assigned-to", f"must be at most {MAX_ASSIGNED_TO} characters of JSON")
    if "expire" in assigned:
        parse_expire(assigned["expire"])
    if not assigned:  # an empty assigned-to would leave the test available: record who took it
        assigned = {"email": request.email} if request.email else {"assigned-at": now}
    return assigned


def _email_of(request: FulfilmentRequest, registration: dict[str, Any]) -> str | None:
    candidates = [request.email, (request.assigned_to or {}).get("email"), registration.get("Email")]
    return next((str(c) for c in candidates if isinstance(c, str) and c.strip()), None)


def fulfil(caller: Caller, request: FulfilmentRequest) -> FulfilmentReply:
    kind, test_type = itep.parse_product_code(request.product_code)
    catalogue.require_test_type(
        caller.unit_path,
        test_type,
        "product-code",
        f"unknown product code '{request.product_code}' (test type {test_type} is not in the test catalogue "
        "of this organisation unit)",
    )
    if kind == "STX" and not request.email:
        raise InvalidInput("email", "is required for STX product codes")
    registration = itep.validate_registration(request.registration or {})
    now = now_iso()
    assigned_to = _assigned_to(request, now)
    track = tracks.usable(caller, request.track)["code"] if request.track else None
    email = _email_of(request, registration)
    entry = {
        "at": now,
        "event": "assigned",
        "by": caller.key_id,
        "detail": {"product-code": request.product_code},
    }
    fields: dict[str, Any] = {
        ":assigned": assigned_to,
        ":registration": registration,
        ":code": request.product_code,
        ":now": now,
        ":by": caller.key_id,
        ":entry": [entry],
        ":claim": secrets.token_hex(8),
    }
    sets = [
        "assigned_to = :assigned",
        "registration = :registration",
        "product_code = :code",
        "assigned_at = :now",
        "assigned_by = :by",
        "claim_id = :claim",
        "updated_at = :now",
        "history = list_append(history, :entry)",
    ]
    for attr, value in (
        ("track", track),
        ("email", email),
        ("email_lower", email and email.casefold()),
        ("bcc", request.bcc),
    ):
        if value:
            sets.append(f"{attr} = :{attr}")
            fields[f":{attr}"] = value
    # An `expire` puts the assignment in the expiry index (it holds only assigned, not-started tests); the
    # test ID is known only once claimed, so the entry is keyed by the due time and the claim token.
    for attr, value in index_keys(fields[":claim"], assigned_to).items():
        sets.append(f"{attr} = :{attr}")
        fields[f":{attr}"] = value
    update = "SET " + ", ".join(sets) + " REMOVE avail_pk, avail_sk"
    item = repo.claim(caller.unit_id, test_type, update, {}, fields)
    if item is None:
        # Only a miss pays for the type lookup: it tells "unknown" from "sold out", and finds the inventory's
        # own spelling when the product code wrote the test type in another case (GTX-academic-plus).
        spelled = repo.known_type(caller.tree, test_type)
        if spelled is None:
            raise InvalidInput("product-code", f"unknown product code '{request.product_code}'")
        if spelled != test_type:
            item = repo.claim(caller.unit_id, spelled, update, {}, fields)
    if item is None:
        raise Conflict(f"product-code: no test ID available for product code {request.product_code}")
    sent = False
    if kind == "STX":
        try:
            sent = _queue_email(caller, item, str(request.email), request.bcc)
        except Exception:
            _undo(item, caller.key_id)
            raise
    stock.check_quietly(caller.unit_id, caller.unit_path, caller.tree, item["test_type"])
    return FulfilmentReply(
        test_id=item["test_id"],
        password=item["password"],
        product_code=request.product_code,
        test_type=item["test_type"],
        status=item["status"],
        assigned_to=assigned_to,
        registration=registration,
        track=track,
        email_sent=sent,
    )


def _queue_email(caller: Caller, item: dict[str, Any], email: str, bcc: str | None) -> bool:
    """Queue the STX e-mail for the mailer (SES, retried through the queue; once per claim). The message
    carries no password: the mailer reads it with the claim, and sends nothing if the claim was undone.
    False (nothing queued) when the unit switched test-ID e-mails off or the address is suppressed."""
    from gateway import mailtexts, notify
    from gateway.repo import notifications

    if not notify.effective(caller.unit_path).sends(mailtexts.TEST_ID) or notifications.suppressed(
        caller.unit_id, email
    ):
        return False
    try:
        notify.enqueue(
            f"{notify.TEST_ID_EMAIL}:{item['test_id']}:{item['claim_id']}",
            notify.TEST_ID_EMAIL,
            caller.unit_id,
            caller.unit_path,
            {"test-id": item["test_id"], "claim-id": item["claim_id"], "email": email, "bcc": bcc},
        )
    except Unavailable as exc:
        raise Unavailable(
            "email: the message could not be queued; nothing was assigned, retry the request"
        ) from exc
    return True


def _undo(item: dict[str, Any], by: str) -> None:
    """Give back a claim whose e-mail could not be sent (only if nothing else happened to it since)."""
    now = now_iso()
    keys = repo.available_keys(item["unit_id"], item["test_type"])
    undone = repo.update(
        item["test_id"],
        "SET avail_pk = :apk, avail_sk = :ask, updated_at = :now, history = list_append(history, :entry) "
        "REMOVE assigned_to, registration, product_code, track, email, email_lower, bcc, assigned_at, "
        "assigned_by, claim_id, exp_pk, exp_sk",
        "#status = :ready AND claim_id = :claim",
        {"#status": "status"},
        {
            ":apk": keys["avail_pk"],
            ":ask": keys["avail_sk"],
            ":now": now,
            ":ready": repo.READY,
            ":claim": item["claim_id"],
            ":entry": [{"at": now, "event": "unassigned", "by": by, "detail": {"reason": "e-mail not sent"}}],
        },
    )
    if undone is None:
        logger.error("could not undo a claim after a failed e-mail", extra={"test_id": item["test_id"]})
