"""Property tests (hypothesis): the input rules either accept or refuse with a 400 naming the field (never
crash), the date parsers agree with the calendar, signatures survive a round trip and nothing else, and
the test life cycle never moves back and treats a repeated message as one."""

from __future__ import annotations

import json
import string
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import deliveries_admin, expiry, intake, itep, results, signing, webhooks
from gateway.errors import InvalidApiKey, InvalidInput

settings.register_profile(
    "properties",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("properties")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
digits = st.text(alphabet=string.digits, min_size=1, max_size=5)
# Text that looks like the inputs (digits of every script, separators, signs) more often than random text.
date_like = st.one_of(
    st.text(max_size=14),
    st.text(alphabet="0123456789/-.+ :TZ\u00b2\u0661\u0662\U0001d7cf", max_size=14),
    st.builds(lambda a, b, c, sep: f"{a}{sep}{b}{sep}{c}", digits, digits, digits, st.sampled_from("/-")),
)


# ------------------------------------------------------------------------------------ registration
REGISTRATION_STRATEGY = st.dictionaries(
    st.sampled_from([*itep.REGISTRATION_FIELDS, "birthday", " Gender ", "Unknown_Field"]),
    json_values | date_like,
    max_size=6,
)


@given(REGISTRATION_STRATEGY)
def test_registration_fields_are_accepted_or_refused_naming_the_field(fields):
    try:
        clean = itep.validate_registration(fields)
    except InvalidInput as exc:
        # Then a refusal names a registration field (the seed's message for the seed's rules)
        assert exc.field.startswith("registration.")
        return
    # Then what is accepted uses the seed's spelling, and validating it again changes nothing
    assert set(clean) <= set(itep.REGISTRATION_FIELDS)
    assert itep.validate_registration(clean) == clean


@given(
    st.sampled_from(itep.GENDERS + itep.EDUCATION + itep.STUDY_FIELDS),
    st.sampled_from([str.lower, str.upper, str]),
)
def test_value_lists_match_whatever_the_case(value, case):
    field = (
        "Gender" if value in itep.GENDERS else "Education" if value in itep.EDUCATION else "Field_Of_Study"
    )
    assert itep.validate_registration({field: case(value)})[field] == value


@given(st.dates(min_value=date(1901, 1, 1), max_value=date.today()), st.sampled_from(["iso", "us", "eu"]))
def test_every_real_birthday_parses_in_each_accepted_format(day, style):
    text = {
        "iso": day.isoformat(),
        "us": f"{day.month}/{day.day}/{day.year}",
        "eu": f"{day.day}-{day.month}-{day.year}",
    }[style]
    assert itep.parse_birthday(text) == (day.year, day.month, day.day)


@given(date_like)
def test_a_birthday_is_parsed_or_refused_with_the_seeds_message(text):
    try:
        year, month, day = itep.parse_birthday(text)
    except InvalidInput as exc:
        assert exc.description.startswith(("Unable to parse Birth Date [", "Out of range Birth"))
        return
    assert year > 1900 and 1 <= month <= 12 and 1 <= day <= 31


@given(st.text(max_size=70))
def test_product_codes_parse_or_are_refused_naming_the_field(code):
    try:
        kind, test_type = itep.parse_product_code(code)
    except InvalidInput as exc:
        assert exc.field == "product-code"
        return
    assert kind in ("GTX", "STX") and code.strip() == f"{kind}-{test_type}"


# ------------------------------------------------------------------------------------- date parsers
@given(st.dates(min_value=date(1901, 1, 1), max_value=date(2999, 12, 31)))
def test_every_real_test_date_is_read_with_its_parts(day):
    raw = {"TestID": "T1", "Status": "Completed", "TestDate": f"{day.month}/{day.day}/{day.year}",
           "TestMonth": str(day.month), "TestDay": day.day, "TestYear": str(day.year)}  # fmt: skip
    fields = results.validate(raw).fields
    assert (fields["TestMonth"], fields["TestDay"], fields["TestYear"]) == (day.month, day.day, day.year)


@given(date_like, st.one_of(st.none(), digits, st.integers()))
def test_a_test_date_is_read_or_refused_naming_the_field(text, month):
    try:
        results.validate({"TestID": "T1", "Status": "Started", "TestDate": text, "TestMonth": month})
    except InvalidInput as exc:
        assert exc.field in ("TestDate", "TestMonth")


@given(date_like)
@example("9999-12-31")
@example("9999-12-31T23:00:00-05:00")
@example("0001-01-01T00:00:00+01:00")
def test_an_expire_is_normalised_and_due_or_refused_naming_the_field(text):
    try:
        normalised = expiry.parse_expire(text)
    except InvalidInput as exc:
        assert exc.field == "assigned-to.expire"
        return
    # Then anything accepted has a due time, and normalising again changes nothing
    assert expiry.parse_expire(normalised) == normalised
    assert len(expiry.due_at(text)) == len("2024-01-01T00:00:00Z")


@given(date_like)
@example("0001-01-01T00:00:00+01:00")
@example("9999-12-31T23:59:59-01:00")
def test_delivery_filters_read_iso_times_or_refuse_naming_the_field(text):
    try:
        value = deliveries_admin._iso("from", text, "default")
    except InvalidInput as exc:
        assert exc.field == "from"
        return
    assert value == "default" or value.endswith("Z")


# ------------------------------------------------------------------------------- results (any JSON)
RESULT_KEYS = ["TestID", "TestInvitationId", "Status", "Overall_Level", "Overall_cefr", "Duration", "TestDate",
               "TestMonth", "score_report_url", "ReportPDFUrl", "TotalScore", "CandidateScore",
               "Writing_Question_Count", "Writing_Answer_1", "OID"]  # fmt: skip


@given(st.dictionaries(st.sampled_from(RESULT_KEYS), json_values | date_like, max_size=8))
@example({"TestInvitationId": "\u00b2", "Status": "Completed"})
@example({"TestID": "T1", "Status": "Completed", "score_report_url": "http://[x"})
@example({"TestInvitationId": 5, "Status": "Completed", "ReportPDFUrl": "https://[::1"})
def test_any_result_message_is_read_or_refused_naming_the_field(raw):
    try:
        result = results.validate(raw)
    except InvalidInput as exc:
        assert exc.field in RESULT_KEYS or exc.field.startswith(("Writing_", "Grammar_", "Test"))
        return
    assert result.status in results.STATES and result.subject


# ------------------------------------------------------------------------------------------ signing
SECRET = "agsig_test-secret"
NOW = 1_700_000_000


@given(st.binary(max_size=200), st.integers(min_value=-300, max_value=300))
def test_a_signed_request_verifies_inside_the_window(body, skew):
    signature = signing.sign(SECRET, NOW + skew, body)
    assert signing.verify(SECRET, str(NOW + skew), signature, body, 300, now=NOW) == (NOW + skew, signature)


@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_single_byte_change_to_the_body_fails(body, data):
    signature = signing.sign(SECRET, NOW, body)
    at = data.draw(st.integers(0, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]))
    changed = body[:at] + bytes([new]) + body[at + 1 :]
    with pytest.raises(InvalidApiKey):
        signing.verify(SECRET, str(NOW), signature, changed, 300, now=NOW)


@given(st.binary(max_size=50), st.data())
def test_any_single_character_change_to_the_signature_fails(body, data):
    signature = signing.sign(SECRET, NOW, body)
    at = data.draw(st.integers(len("v1="), len(signature) - 1))
    char = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != signature[at]))
    with pytest.raises(InvalidApiKey):
        signing.verify(SECRET, str(NOW), signature[:at] + char + signature[at + 1 :], body, 300, now=NOW)


@given(st.integers(min_value=301, max_value=10**9), st.sampled_from([-1, 1]))
def test_a_timestamp_outside_the_window_fails(distance, sign):
    stamp = NOW + sign * distance
    with pytest.raises(InvalidApiKey):
        signing.verify(SECRET, str(stamp), signing.sign(SECRET, stamp, b"{}"), b"{}", 300, now=NOW)


@given(st.text(max_size=20))
@example("\u00b2")
@example("\u0661\u0662")
def test_any_timestamp_header_is_verified_or_refused_with_a_401(stamp):
    try:
        signing.verify(SECRET, stamp, "v1=00", b"", 300, now=NOW)
    except InvalidApiKey:
        return
    raise AssertionError("a bad signature was accepted")


WHSEC = webhooks.new_secret(bytes(range(24)))


@given(st.binary(max_size=200), st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=30),
       st.integers(min_value=-300, max_value=300))  # fmt: skip
def test_a_webhook_round_trip_verifies_inside_the_window(body, msg_id, skew):
    headers = webhooks.headers(WHSEC, msg_id, NOW + skew, body)
    webhooks.verify(WHSEC, headers, body, now=NOW)


@given(st.binary(min_size=1, max_size=200), st.data())
def test_a_webhook_with_any_single_byte_changed_fails(body, data):
    headers = webhooks.headers(WHSEC, "msg_1", NOW, body)
    at = data.draw(st.integers(0, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]))
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(WHSEC, headers, body[:at] + bytes([new]) + body[at + 1 :], now=NOW)


@given(st.integers(min_value=301, max_value=10**9), st.sampled_from([-1, 1]))
def test_a_webhook_outside_the_window_fails(distance, sign):
    headers = webhooks.headers(WHSEC, "msg_1", NOW + sign * distance, b"{}")
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(WHSEC, headers, b"{}", now=NOW)


# ------------------------------------------------------------------------------ life-cycle machine
class _Store:
    """An in-memory subject and result versions standing in for repo.results (same contract)."""

    def __init__(self) -> None:
        self.subject: dict[str, Any] = {"unit_id": "ou_1", "unit_path": "/ou_1/", "status": "Ready"}
        self.versions: list[dict[str, Any]] = []

    def get_subject(self, kind: str, subject: str) -> dict[str, Any]:
        return json.loads(
            json.dumps(self.subject | {"seen_digests": sorted(self.subject.get("seen_digests", []))})
        )

    def apply(self, kind, subject, previous, change, entry, version_item, extra=None) -> None:
        assert self.subject.get("result_digest") == previous
        self.subject.update(change)
        self.subject.setdefault("seen_digests", set()).add(change["result_digest"])
        if version_item is not None:
            self.versions.append(version_item)


def _messages():
    score = st.one_of(st.none(), st.sampled_from(["3.5", "4.0", "5.5"]))
    return st.builds(
        lambda status, level: {
            "TestID": "T1",
            "Status": status,
            **({"Overall_Level": level} if level else {}),
        },
        st.sampled_from(results.STATES),
        score,
    )


def _run(monkeypatch, messages) -> _Store:
    store = _Store()
    monkeypatch.setattr(intake.repo, "get_subject", store.get_subject)
    monkeypatch.setattr(intake.repo, "apply", store.apply)
    monkeypatch.setattr(intake.events, "publish", lambda *args, **kwargs: None)
    monkeypatch.setattr(intake, "get_settings", lambda: SimpleNamespace(result_retention_days=0))
    monkeypatch.setattr(intake.certification, "prepare", lambda *args, **kwargs: None)  # no catalogue
    monkeypatch.setattr(intake.certification, "repeat_follow_up", lambda *args, **kwargs: None)
    for message in messages:
        intake.take(results.validate(message))
    return store


@given(st.lists(_messages(), max_size=12))
def test_no_sequence_of_messages_makes_a_move_the_life_cycle_refuses(messages):
    with pytest.MonkeyPatch.context() as monkeypatch:
        store = _Store()
        monkeypatch.setattr(intake.repo, "get_subject", store.get_subject)
        monkeypatch.setattr(intake.repo, "apply", store.apply)
        monkeypatch.setattr(intake.events, "publish", lambda *args, **kwargs: None)
        monkeypatch.setattr(intake, "get_settings", lambda: SimpleNamespace(result_retention_days=0))
        monkeypatch.setattr(intake.certification, "prepare", lambda *args, **kwargs: None)
        monkeypatch.setattr(intake.certification, "repeat_follow_up", lambda *args, **kwargs: None)
        highest = 0
        for message in messages:
            before = store.subject["status"]
            reply = intake.take(results.validate(message))
            after = store.subject["status"]
            # Then every applied message is a move of the table, and a refused one changes nothing
            if reply.applied:
                assert results.allowed(before, after) is True
            else:
                assert after == before
            # And the state never goes back (a Completed test never returns to Started), nor leaves Disabled
            rank = results.RANK[after]
            assert rank >= highest and (before != "Disabled" or after == "Disabled")
            highest = rank


@given(st.lists(_messages(), min_size=1, max_size=8), st.data())
def test_applying_the_same_message_twice_equals_once(messages, data):
    at = data.draw(st.integers(0, len(messages) - 1))
    doubled = [*messages[: at + 1], messages[at], *messages[at + 1 :]]
    with pytest.MonkeyPatch.context() as monkeypatch:
        once = _run(monkeypatch, messages)
    with pytest.MonkeyPatch.context() as monkeypatch:
        twice = _run(monkeypatch, doubled)
    # Then state and stored result versions are the same as with the message once
    assert twice.subject["status"] == once.subject["status"]
    assert twice.subject.get("result_version") == once.subject.get("result_version")
    assert [v["result"] for v in twice.versions] == [v["result"] for v in once.versions]


def test_a_repeated_message_reports_duplicate_and_a_late_one_stale(monkeypatch):
    store = _run(monkeypatch, [{"TestID": "T1", "Status": "Completed", "Overall_Level": "4.0"}])
    again = intake.take(results.validate({"TestID": "T1", "Status": "Completed", "Overall_Level": "4.0"}))
    late = intake.take(results.validate({"TestID": "T1", "Status": "Started"}))
    assert (again.applied, again.reason, late.applied, late.reason) == (False, "duplicate", False, "stale")
    assert store.subject["status"] == "Completed" and len(store.versions) == 1
