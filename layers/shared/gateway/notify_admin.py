"""Notification settings, previews and suppressions, as the admin routes see them (scoped to the caller)."""

from __future__ import annotations

from typing import Any

from gateway import mailtexts, notify, orgs
from gateway.auth import Caller
from gateway.errors import InvalidInput, NotFound
from gateway.notify_contracts import (
    EmailPage,
    EmailView,
    PreviewView,
    SettingsRequest,
    SettingsView,
    SuppressionPage,
    SuppressionView,
)
from gateway.repo import decode_cursor, encode_cursor, now_iso
from gateway.repo import notifications as repo

MAX_PAGE = 100
ERASED_ADDRESS = "(erased)"  # a suppression kept as the keyed hash only (privacy erasure)
_WIRE = {
    "notify_clients": "notify-clients",
    "events": "events",
    "sender": "sender",
    "reply_to": "reply-to",
    "bcc": "bcc",
    "language": "language",
    "admin_emails": "admin-emails",
    "admins_on_completed": "admins-on-completed",
}


def _wire(values: dict[str, Any]) -> dict[str, Any]:
    return {_WIRE[k]: v for k, v in values.items() if k in _WIRE}


def _view(unit_id: str, settings: notify.Effective) -> SettingsView:
    return SettingsView.model_validate(
        {
            "org-unit": unit_id,
            "own": _wire(settings.own),
            "effective": _wire(settings.values),
            "inherited-from": _wire(settings.sources),
        }
    )


def get_settings(caller: Caller, unit_id: str | None) -> SettingsView:
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    return _view(unit.id, notify.effective(unit.path))


def put_settings(caller: Caller, request: SettingsRequest) -> SettingsView:
    unit = orgs.unit_in_scope(caller, request.org_unit or caller.unit_id, "org-unit")
    sent = request.model_fields_set - {"org_unit"}
    if not sent:
        raise InvalidInput("body", "names no setting to change")
    sets: dict[str, Any] = {}
    removes: list[str] = []
    for name in sorted(sent):
        value = getattr(request, name)
        if value is None:
            removes.append(name)
            continue
        if name == "events":
            unknown = sorted(set(value) - set(mailtexts.CLIENT_TEMPLATES))
            if unknown:
                raise InvalidInput(
                    "events",
                    f"unknown e-mail '{unknown[0]}' (one of {', '.join(mailtexts.CLIENT_TEMPLATES)})",
                )
        if name == "language" and value not in mailtexts.LANGUAGES:
            raise InvalidInput(
                "language", f"'{value}' is not available (one of {', '.join(mailtexts.LANGUAGES)})"
            )
        if name == "admin_emails":
            value = list(dict.fromkeys(value))
        sets[name] = value
    repo.update_settings(unit.id, sets, removes, now_iso(), caller.key_id)
    return _view(unit.id, notify.effective(unit.path))


def preview(
    caller: Caller,
    event: str,
    unit_id: str | None,
    full_name: str | None,
    email: str | None,
    language: str | None,
) -> PreviewView:
    if event not in mailtexts.NAMES:
        raise NotFound(f"event: no e-mail '{event}' (one of {', '.join(mailtexts.NAMES)})")
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    if language is not None and language not in mailtexts.LANGUAGES:
        raise InvalidInput(
            "language", f"'{language}' is not available (one of {', '.join(mailtexts.LANGUAGES)})"
        )
    language = language or notify.effective(unit.path)["language"]
    candidate = dict(mailtexts.SAMPLE_CANDIDATE)
    if full_name is not None:
        candidate["full_name"] = full_name
    if email is not None:
        candidate["email"] = email
    context = dict(mailtexts.SAMPLES.get(event, {})) | {
        "unit": {"id": unit.id, "name": unit.name},
        "candidate": candidate,
    }
    rendered = mailtexts.render(event, language, context)
    return PreviewView.model_validate(
        {
            "event": event,
            "language": language,
            "org-unit": unit.id,
            "subject": rendered.subject,
            "text": rendered.text,
            "html": rendered.html,
        }
    )


def email_history(
    caller: Caller, unit_id: str | None, email: str, limit: int, cursor: str | None
) -> EmailPage:
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    start = decode_cursor(cursor)
    if start is not None and start.get("gsi1pk") != f"RCPT#{unit.id}#{email.casefold()}":
        raise InvalidInput("cursor", "belongs to another listing")
    items, last = repo.history(unit.id, email, min(limit, MAX_PAGE), start)
    views = [email_view(i) for i in items]
    return EmailPage.model_validate({"items": views, "next-cursor": encode_cursor(last)})


def email_view(item: dict[str, Any]) -> EmailView:
    """One mail record as the API shows it (e-mail history of an address, a candidate's profile)."""
    return EmailView.model_validate(
        {
            "mail-id": item["mail_id"],
            "email": item["recipient"],
            "template": item["template"],
            "event-type": item["event_type"],
            "event-id": item["event_id"],
            "status": item["status"],
            "at": item["claimed_at"],
            "message-id": item.get("message_id"),
            "feedback": item.get("feedback"),
            "error": item.get("error"),
        }
    )


def candidate_emails(unit_ids: list[str], address: str, limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` e-mails the given units sent to `address`, newest first (one RecipientIndex
    query per unit: the candidate's unit and the units of its invitations)."""
    found: list[dict[str, Any]] = []
    for unit_id in dict.fromkeys(unit_ids):
        items, _ = repo.history(unit_id, address, limit, None)
        found += items
    found.sort(key=lambda i: (str(i.get("claimed_at", "")), str(i.get("mail_id", ""))), reverse=True)
    return [email_view(i).model_dump(by_alias=True, mode="json") for i in found[:limit]]


def _suppression(item: dict[str, Any]) -> SuppressionView:
    return SuppressionView.model_validate(
        {
            "email": item.get("email") or ERASED_ADDRESS,
            "org-unit": item["unit_id"],
            "reason": item.get("reason", "bounce"),
            "at": item.get("at", ""),
            "bounce-type": item.get("detail"),
        }
    )


def list_suppressions(caller: Caller, unit_id: str | None, limit: int, cursor: str | None) -> SuppressionPage:
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    start = decode_cursor(cursor)
    if start is not None and start.get("pk") != f"SUPP#{unit.id}":
        raise InvalidInput("cursor", "belongs to another listing")
    items, last = repo.suppressions(unit.id, min(limit, MAX_PAGE), start)
    return SuppressionPage.model_validate(
        {"items": [_suppression(i) for i in items], "next-cursor": encode_cursor(last)}
    )


def lift_suppression(caller: Caller, unit_id: str | None, email: str) -> SuppressionView:
    unit = orgs.unit_in_scope(caller, unit_id or caller.unit_id, "org-unit")
    lifted = repo.unsuppress(unit.id, email)
    if lifted is None:
        raise NotFound(f"email: '{email}' is not suppressed in unit {unit.id}")
    return _suppression(lifted)
