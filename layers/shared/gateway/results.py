"""Results intake: what the test engine sends, validated, and the test's life cycle.

Two dialects arrive on POST /v1/results:
- iTEP: `application/x-www-form-urlencoded` with ONE field `data` holding the seed's JSON, or that JSON as
  `application/json`; it names a test ID (`TestID`).
- V2: JSON `{"TestInvitationId", "Status", "AttemptedOn", "TotalScore", "CandidateScore", "ReportPDFUrl"?}`.

Life cycle: Ready -> Started -> Finished -> Review / Technical Difficulty -> Completed / Invalidated /
Disabled. Messages arrive late, twice and out of order, so what a message may do depends only on the
test's current state and the message's state, as the table `TRANSITIONS` says (`allowed` reads it):

    now (rows), message   Rdy Sta Fin Rev TD  Com Inv Dis
    Ready                  -   y   y   y   y   y   y   y
    Started                -   -   y   y   y   y   y   y
    Finished               -   -   -   y   y   y   y   y
    Review                 -   -   -   -   y   y   y   y
    Technical Difficulty   -   -   -   y   -   y   y   y
    Completed              -   -   -   -   -   y   y   y
    Invalidated            -   -   -   -   -   -   -   y
    Disabled               -   -   -   -   -   -   -   -

- Forward moves are allowed, and so is skipping states: engines need not report Started or Finished.
- Review <-> Technical Difficulty: both are the "after the test, before the outcome" stage; a test with a
  technical difficulty goes to review once it is resolved, and a test under review may reveal one.
- Nothing moves back: a late Started, Finished, Review or Technical Difficulty after the outcome is stale
  (a resumed test is reported by the engine as finished or reviewed, never as Started again). No message
  sets Ready: a test returns to stock only through the inventory (release, expiry), never from the engine.
- The same state again changes nothing (the test is already there), except Completed -> Completed with a
  changed result: a re-score, kept as a new version while earlier versions stay readable.
- Completed -> Invalidated: a released result can still be invalidated (misconduct found after review).
- Disabled (the test ID voided by the engine: refunded, withdrawn) is reachable from every state and is
  final: nothing moves a disabled test.
- Invalidated is final for results: a later Completed (a re-score sent before the invalidation but
  arriving after it looks the same) never reinstates it; only Disabled may follow.

A refused message is not an error: the engine gets 200 with `applied: false, reason: "stale"` and the
rule that refused it, so it does not retry for ever. Independently of the table, the same message twice
(same digest) changes nothing the second time (`reason: "duplicate"`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from gateway.errors import InvalidInput, UnsupportedMediaType
from gateway.validation import JsonRefused, loads_json

STATES = (
    "Ready",
    "Started",
    "Finished",
    "Review",
    "Technical Difficulty",
    "Invalidated",
    "Completed",
    "Disabled",
)
# The order of the life (stored as `status_rank`, for sorting and reports); what may follow what is
# decided by TRANSITIONS, not by comparing ranks.
RANK = {"Ready": 0, "Started": 1, "Finished": 2, "Review": 3, "Technical Difficulty": 3,
        "Completed": 4, "Invalidated": 4, "Disabled": 4}  # fmt: skip
_AFTER_THE_TEST = frozenset({"Review", "Technical Difficulty", "Completed", "Invalidated", "Disabled"})
# current state -> the states a message may move the test to (the table of the module docstring)
TRANSITIONS: dict[str, frozenset[str]] = {
    "Ready": frozenset({"Started", "Finished"}) | _AFTER_THE_TEST,
    "Started": frozenset({"Finished"}) | _AFTER_THE_TEST,
    "Finished": _AFTER_THE_TEST,
    "Review": _AFTER_THE_TEST - {"Review"},
    "Technical Difficulty": _AFTER_THE_TEST - {"Technical Difficulty"},
    "Completed": frozenset({"Completed", "Invalidated", "Disabled"}),  # Completed again: a re-score
    "Invalidated": frozenset({"Disabled"}),
    "Disabled": frozenset(),
}
# The seed's own sample says "Complete"; engines also send other cases. Both map to the eight states.
_STATE_BY_NAME = {s.casefold(): s for s in STATES} | {
    "complete": "Completed",
    "technical-difficulty": "Technical Difficulty",
    "invalid": "Invalidated",
}
CEFR = ("Pre-A1", "A1", "A1+", "A2", "A2+", "B1", "B1+", "B2", "B2+", "C1", "C2")
_CEFR_BY_NAME = {c.casefold(): c for c in CEFR}
SECTIONS = ("Grammar", "Listening", "Reading", "Writing", "Speaking")
MAX_TEXT = 20_000
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class Result:
    """A validated result message, normalised (numbers as numbers, states and CEFR as on the scale)."""

    kind: str  # "itep" | "v2"
    subject: str  # the test ID or the invitation id
    status: str
    fields: dict[str, Any]  # everything stored with the result (normalised)
    raw: dict[str, Any]  # the message as received (for itep-form / json re-delivery)

    @property
    def rank(self) -> int:
        return RANK[self.status]

    @property
    def scores(self) -> dict[str, Any]:
        """The part of the result that a re-score changes (everything but the status)."""
        return {k: v for k, v in self.fields.items() if k != "Status"}

    @property
    def digest(self) -> str:
        payload = json.dumps({"status": self.status, "fields": self.fields}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    @property
    def has_scores(self) -> bool:
        keys = (
            "Overall_Level",
            "Overall_cefr",
            "TotalScore",
            "CandidateScore",
            "Items",
            *(f"{s}_{part}" for s in SECTIONS for part in ("Level", "Percent", "cefr")),
        )
        return any(self.fields.get(k) is not None for k in keys)

    @property
    def items(self) -> list[dict[str, Any]] | None:
        items = self.fields.get("Items")
        return list(items) if isinstance(items, list) else None

    @property
    def stores_version(self) -> bool:
        """A version is kept for a result with scores, and for every Completed message (if it has no score
        it is kept as incomplete, ETAPI-43)."""
        return self.has_scores or self.status == "Completed"

    @property
    def incomplete(self) -> bool:
        """Completed, but the score or the items are null or missing (ETAPI-43): kept, flagged, never
        scored. A payload without the Items key at all is judged on its score alone (the seeds' contracts)."""
        if self.status != "Completed":
            return False
        if "Items" in self.raw and self.raw["Items"] is None:
            return True
        if self.kind == "v2":
            if self.items:
                return False
            return self.fields.get("TotalScore") is None or self.fields.get("CandidateScore") is None
        return not self.has_scores

    @property
    def totals(self) -> dict[str, int] | None:
        """Correct, incorrect and answered items (eTest v1.3.4), and how many there were."""
        items = self.items
        if items is None:
            return None
        correct = sum(1 for i in items if i["Correct"])
        answered = sum(1 for i in items if i["Correct"] or i.get("Answer"))
        return {
            "items": len(items),
            "correct": correct,
            "incorrect": answered - correct,
            "answered": answered,
        }

    @property
    def actual_minutes(self) -> float | None:
        """The time the candidate actually took (v1.3): Duration if sent, else the items' time summed."""
        duration = self.fields.get("Duration")
        if duration is not None:
            return float(duration)
        spent = [i["TimeSpent"] for i in self.items or [] if i.get("TimeSpent") is not None]
        return round(sum(spent) / 60, 2) if spent else None


def parse_body(media_type: str, body: bytes) -> dict[str, Any]:
    """The result object of a request body: form field `data` (JSON) or a JSON body."""
    text = body.decode("utf-8", errors="replace")
    if media_type == FORM:
        form = parse_qs(text, keep_blank_values=True)
        if set(form) != {"data"} or len(form["data"]) != 1:
            raise InvalidInput("data", "the form must have exactly one field, data, holding the result JSON")
        text = form["data"][0]
        where = "data"
    elif media_type == JSON:
        where = "body"
    else:
        raise UnsupportedMediaType(f"content-type: must be {FORM} (field data) or {JSON}")
    try:
        value = loads_json(text)
    except JsonRefused as exc:
        raise InvalidInput(exc.field or where, exc.reason) from exc
    if not isinstance(value, dict):
        raise InvalidInput(where, "must be a JSON object")
    return value


def _number(
    field: str, value: Any, low: float | None = None, high: float | None = None
) -> float | int | None:
    """A number sent as a number or as a string (the seed sends "67.5"); None when absent or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(field, "must be a number")
    number: float | int
    if isinstance(value, (int, float)):
        number = value
    else:
        text = value.strip()
        try:
            number = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        except ValueError as exc:
            raise InvalidInput(field, f"must be a number (got '{value}')") from exc
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))):
        raise InvalidInput(field, "must be a finite number")
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidInput(field, f"must be between {low} and {high} (got {value})")
    return number


def _count(field: str, value: Any, low: int, high: int) -> int | None:
    """A whole number (as a number or a string; 2.0 is 2), refused rather than cut when it has a fraction."""
    number = _number(field, value, low, high)
    if number is None:
        return None
    if number != int(number):
        raise InvalidInput(field, f"must be a whole number (got {value})")
    return int(number)


def _text(field: str, value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list, bool)):
        raise InvalidInput(field, "must be a string")
    text = str(value)
    if len(text) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    return text


_SKILL_BY_NAME = {s.casefold(): s for s in SECTIONS}
MAX_ITEMS = 500


def _correct(field: str, value: Any) -> bool:
    """true / false, or 1 / 0 as number or text (eTest ETAPI-30 sends "0 / 1")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().casefold() in ("0", "1", "true", "false"):
        return str(value).strip().casefold() in ("1", "true")
    raise InvalidInput(field, "must be true or false (or 1 / 0)")


def _items(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Item-level responses, if the engine sent them: item id, skill, level, correct or not, the answer,
    the "can do" statement the item checks, and optionally the seconds spent on it."""
    value = raw.get("Items")
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("Items", "must be a list of items")
    if len(value) > MAX_ITEMS:
        raise InvalidInput("Items", f"must hold at most {MAX_ITEMS} items")
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, entry in enumerate(value):
        where = f"Items[{n}]"
        if not isinstance(entry, dict):
            raise InvalidInput(where, "must be a JSON object")
        item_id = _text(f"{where}.ItemId", entry.get("ItemId"), 100)
        if not item_id or not item_id.strip():
            raise InvalidInput(f"{where}.ItemId", "is required")
        if item_id in seen:
            raise InvalidInput(f"{where}.ItemId", f"'{item_id}' appears more than once")
        seen.add(item_id)
        skill = _SKILL_BY_NAME.get(str(entry.get("Skill") or "").strip().casefold())
        if skill is None:
            raise InvalidInput(
                f"{where}.Skill", f"must be one of {', '.join(SECTIONS)} (got '{entry.get('Skill')}')"
            )
        level = _cefr(f"{where}.Level", entry.get("Level"))
        if level is None:
            raise InvalidInput(f"{where}.Level", "is required")
        if "Correct" not in entry or entry["Correct"] is None:
            raise InvalidInput(f"{where}.Correct", "is required")
        item: dict[str, Any] = {
            "ItemId": item_id,
            "Skill": skill,
            "Level": level,
            "Correct": _correct(f"{where}.Correct", entry["Correct"]),
            "Answer": _text(f"{where}.Answer", entry.get("Answer"), 2000),
            "CanDo": _text(f"{where}.CanDo", entry.get("CanDo"), 300),
            "TimeSpent": _number(f"{where}.TimeSpent", entry.get("TimeSpent"), 0, 24 * 3600),
        }
        items.append({k: v for k, v in item.items() if v is not None})
    return items


def _state(value: Any) -> str:
    state = _STATE_BY_NAME.get(str(value or "").strip().casefold())
    if state is None:
        raise InvalidInput("Status", f"must be one of {', '.join(STATES)} (got '{value}')")
    return state


def allowed(current: str, new: str) -> Literal[True] | str:
    """True if a message in state `new` may move a test that is `current`; else why not (the reply's
    detail). Pure: the table `TRANSITIONS`, explained in the module docstring."""
    if new in TRANSITIONS[current]:
        return True
    if current == "Disabled":
        return "the test is Disabled, which is final"
    if new == current:
        return f"the test is already {current}"
    if new == "Ready":
        return "a test never goes back to Ready through a result (only a release or an expiry returns it)"
    if current == "Invalidated":
        return "the test is Invalidated: a later result does not reinstate it (only Disabled may follow)"
    return f"{new} comes before {current} in the life cycle (a late message)"


def _cefr(field: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    cefr = _CEFR_BY_NAME.get(str(value).strip().casefold())
    if cefr is None:
        raise InvalidInput(field, f"must be a CEFR level ({', '.join(CEFR)}) (got '{value}')")
    return cefr


def _url(field: str, value: Any) -> str | None:
    text = _text(field, value, 2048)
    if not text:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname  # raises for a malformed IPv6 literal or port
    except ValueError as exc:
        raise InvalidInput(field, "must be an absolute http(s) URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(field, "must be an absolute http(s) URL")
    return text


def _itep(raw: dict[str, Any]) -> Result:
    test_id = _text("TestID", raw.get("TestID"), 64)
    if not test_id or not test_id.strip():
        raise InvalidInput("TestID", "is required")
    status = _state(raw.get("Status"))
    fields: dict[str, Any] = {"TestID": test_id.strip(), "Status": status}
    fields["OID"] = _text("OID", raw.get("OID"), 200)
    fields["Duration"] = _number("Duration", raw.get("Duration"), 0, 24 * 60)
    fields["score_report_url"] = _url("score_report_url", raw.get("score_report_url"))
    fields["Overall_Level"] = _number("Overall_Level", raw.get("Overall_Level"), 0.0, 6.0)
    fields["Overall_cefr"] = _cefr("Overall_cefr", raw.get("Overall_cefr"))
    for section in SECTIONS:
        fields[f"{section}_Level"] = _number(f"{section}_Level", raw.get(f"{section}_Level"), 0.0, 6.0)
        fields[f"{section}_Score"] = _number(f"{section}_Score", raw.get(f"{section}_Score"), 0, 1000)
        fields[f"{section}_Percent"] = _number(f"{section}_Percent", raw.get(f"{section}_Percent"), 0, 100)
        fields[f"{section}_cefr"] = _cefr(f"{section}_cefr", raw.get(f"{section}_cefr"))
    count = _count("Writing_Question_Count", raw.get("Writing_Question_Count"), 0, 20)
    fields["Writing_Question_Count"] = count
    for n in range(1, (count or 0) + 1):
        fields[f"Writing_Question_{n}"] = _text(f"Writing_Question_{n}", raw.get(f"Writing_Question_{n}"))
        fields[f"Writing_Answer_{n}"] = _text(f"Writing_Answer_{n}", raw.get(f"Writing_Answer_{n}"))
    fields.update(_test_date(raw))
    fields["Items"] = _items(raw)
    return Result("itep", fields["TestID"], status, {k: v for k, v in fields.items() if v is not None}, raw)


def _test_date(raw: Mapping[str, Any]) -> dict[str, Any]:
    date = raw.get("TestDate")
    parts = {k: _number(k, raw.get(k)) for k in ("TestMonth", "TestDay", "TestYear")}
    if date is None or (isinstance(date, str) and not date.strip()):
        if any(v is not None for v in parts.values()):
            raise InvalidInput("TestDate", "is required with TestMonth, TestDay and TestYear")
        return {}
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", str(date).strip())
    if not match:
        raise InvalidInput("TestDate", f"must be M/D/YYYY (got '{date}')")
    month, day, year = (int(g) for g in match.groups())
    if not 1 <= month <= 12:
        raise InvalidInput("TestDate", f"month must be between 1 and 12 (got '{date}')")
    if not 1 <= day <= 31:
        raise InvalidInput("TestDate", f"day must be between 1 and 31 (got '{date}')")
    if year <= 1900:
        raise InvalidInput("TestDate", f"year must be greater than 1900 (got '{date}')")
    for name, expected in (("TestMonth", month), ("TestDay", day), ("TestYear", year)):
        if parts[name] is not None and parts[name] != expected:
            raise InvalidInput(name, f"does not match TestDate {date} (got {raw.get(name)})")
    return {"TestDate": f"{month}/{day}/{year}", "TestMonth": month, "TestDay": day, "TestYear": year}


def _v2(raw: dict[str, Any]) -> Result:
    invitation = raw.get("TestInvitationId")
    if (
        isinstance(invitation, bool)
        or not isinstance(invitation, (int, str))
        or not str(invitation).isascii()
        or not str(invitation).isdigit()
    ):
        raise InvalidInput("TestInvitationId", "must be a positive integer")
    inv_id = int(invitation)
    if not 1 <= inv_id <= 2**63 - 1:
        raise InvalidInput("TestInvitationId", "must be a positive 64-bit integer")
    status = _state(raw.get("Status"))
    total = _number("TotalScore", raw.get("TotalScore"), 0, 1_000_000)
    score = _number("CandidateScore", raw.get("CandidateScore"), 0, 1_000_000)
    if total is not None and score is not None and score > total:
        raise InvalidInput("CandidateScore", f"must not exceed TotalScore ({total})")
    fields = {
        "TestInvitationId": inv_id,
        "Status": status,
        "AttemptedOn": _text("AttemptedOn", raw.get("AttemptedOn"), 64),
        "TotalScore": total,
        "CandidateScore": score,
        "ReportPDFUrl": _url("ReportPDFUrl", raw.get("ReportPDFUrl")),
        "Duration": _number("Duration", raw.get("Duration"), 0, 24 * 60),
        "Items": _items(raw),
    }
    return Result("v2", str(inv_id), status, {k: v for k, v in fields.items() if v is not None}, raw)


def validate(raw: dict[str, Any]) -> Result:
    if "TestInvitationId" in raw:
        return _v2(raw)
    if "TestID" in raw:
        return _itep(raw)
    raise InvalidInput("TestID", "is required (or TestInvitationId for a V2 result)")
