"""V2 registration: a candidate registered for a test gets one invitation and a take-test URL.

Ids are derived, not drawn: the invitation id and the candidate id are HMACs (under the service's master
key) of (unit, test, e-mail) and (unit, e-mail). Posting again for the same candidate therefore lands on
the same items, concurrent duplicates converge, and the whole registration is ONE DynamoDB call. The
take-test token carries the invitation id and its own MAC, so it is unguessable and needs no lookup.
"""

from __future__ import annotations

import hmac
from typing import Any

from gateway import catalogue, crypto, ssrf
from gateway.auth import Caller
from gateway.config import get_settings
from gateway.contracts import InvitationView, RegisterRequest, RegisterResult
from gateway.errors import InvalidInput, NotFound, Unavailable
from gateway.repo import candidates, now_iso

# JavaScript clients read JSON numbers as doubles: keep ids exact for them (<= 2**53 - 1).
MAX_INVITATION_ID = 2**53 - 1
_MAX_SALT = 8


def invitation_id(unit_id: str, test_id: int, email: str, salt: int = 0) -> int:
    raw = crypto.derive("invitation", f"{unit_id}|{test_id}|{email.casefold()}|{salt}")
    return int.from_bytes(raw[:8], "big") % MAX_INVITATION_ID + 1


def candidate_id(unit_id: str, email: str) -> str:
    return "cand_" + crypto.derive("candidate", f"{unit_id}|{email.casefold()}").hex()[:20]


def take_test_token(inv_id: int) -> str:
    id_bytes = inv_id.to_bytes(8, "big")
    return crypto.b64url(id_bytes + crypto.derive("take-test", str(inv_id))[:16])


def invitation_of_token(token: str) -> int | None:
    """The invitation id a take-test token stands for, or None if the token is not ours."""
    import base64

    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) != 24:
        return None
    inv_id = int.from_bytes(raw[:8], "big")
    if not hmac.compare_digest(raw[8:], crypto.derive("take-test", str(inv_id))[:16]):
        return None
    return inv_id


def take_test_url(inv_id: int) -> str:
    return f"{get_settings().test_engine_base_url.rstrip('/')}/take/{take_test_token(inv_id)}"


def register(caller: Caller, test_id: int, request: RegisterRequest) -> RegisterResult:
    catalogue.require_test_id(caller.unit_path, test_id)
    if request.callbackURL:  # callbacks go to public https addresses only (checked again at delivery)
        ssrf.check_url(request.callbackURL, allow_loopback=get_settings().local_stack, field="callbackURL")
    now = now_iso()
    dedupe = f"{caller.unit_id}|{test_id}|{request.emailId.casefold()}"
    for salt in range(_MAX_SALT):
        inv_id = invitation_id(caller.unit_id, test_id, request.emailId, salt)
        try:
            candidates.upsert_registration(
                candidates.Registration(
                    invitation_id=inv_id,
                    candidate_id=candidate_id(caller.unit_id, request.emailId),
                    dedupe_key=dedupe,
                    unit_id=caller.unit_id,
                    unit_path=caller.unit_path,
                    test_id=test_id,
                    email=request.emailId,
                    full_name=request.fullName,
                    callback_url=request.callbackURL,
                    redirect_url=request.redirectURL,
                    now=now,
                    registered_by=caller.key_id,
                    source=request.source,
                )
            )
        except candidates.InvitationIdTaken:
            continue  # another candidate owns this derived id: take the next one in the sequence
        if request.sendEmail:
            _queue_invitation_email(caller, inv_id, test_id, request)
        return RegisterResult(testInvitationId=inv_id, takeTestURL=take_test_url(inv_id))
    raise Unavailable("Could not allocate an invitation id; retry the request.")


def _queue_invitation_email(caller: Caller, inv_id: int, test_id: int, request: RegisterRequest) -> None:
    """One invitation e-mail per invitation: the event id is the invitation's, so posting again (or a retry
    after a 503 here) queues the same event and the mailer sends it once."""
    from gateway import notify

    notify.enqueue(
        f"{notify.INVITATION_EMAIL}:{inv_id}",
        notify.INVITATION_EMAIL,
        caller.unit_id,
        caller.unit_path,
        {
            "invitation-id": inv_id,
            "candidate-id": candidate_id(caller.unit_id, request.emailId),
            "test-id": test_id,
            "email": request.emailId,
            "full-name": request.fullName,
        },
    )


def get_invitation(caller: Caller, inv_id: int) -> InvitationView:
    if not 1 <= inv_id <= MAX_INVITATION_ID:
        raise InvalidInput("testInvitationId", f"must be an integer between 1 and {MAX_INVITATION_ID}")
    item: dict[str, Any] | None = candidates.get_invitation(inv_id)
    if item is None:
        raise NotFound(f"testInvitationId: no invitation {inv_id}")
    caller.require_scope(item["unit_path"], "testInvitationId")
    disabled = candidates.callback_disabled(item)
    return InvitationView(
        testInvitationId=int(item["invitation_id"]),
        testId=int(item["test_id"]),
        emailId=item["email"],
        fullName=item["full_name"],
        status=item["status"],
        takeTestURL=take_test_url(inv_id),
        callbackURL=item.get("callback_url"),
        redirectURL=item.get("redirect_url"),
        orgUnit=item["unit_id"],
        candidateId=item["candidate_id"],
        createdAt=item["created_at"],
        updatedAt=item["updated_at"],
        emailBounced=bool(item.get("email_bounced", False)),
        callbackDisabled=disabled,
        callbackDisabledAt=item.get("callback_disabled_at") if disabled else None,
    )
