"""Results intake: both iTEP formats, V2 results, engine signatures, validation, the life cycle, events."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest

from gateway import results
from gateway.config import get_settings
from gateway.repo import results as results_repo

FIXTURE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "itep-results-webhook.json"  # from shared/fixtures
SEED = json.loads(FIXTURE_PATH.read_text())
FORM = "application/x-www-form-urlencoded"
NONCES = ("IdempotencyTable",)  # every signed request leaves its nonce there


def engine_secret() -> str:
    return boto3.client("secretsmanager").get_secret_value(SecretId=get_settings().engine_secret_id)["SecretString"]


_sent = itertools.count()


def post_result(stack, payload, *, form=True, secret=None, timestamp=None, raw=None):
    body = raw if raw is not None else (urlencode({"data": json.dumps(payload)}) if form else json.dumps(payload))
    # The engine signs every delivery afresh: a repeated message has a new timestamp (an identical
    # signature inside the window is a replay and is refused).
    ts = str(int(time.time()) - next(_sent) % 200 if timestamp is None else timestamp)
    mac = hmac.new((secret or engine_secret()).encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return stack.api.post("/v1/results", body, key=None, content_type=FORM if form else "application/json",
                          headers={"x-timestamp": ts, "x-signature": f"v1={mac}"})


def events(stack):
    sqs = boto3.client("sqs")
    url = get_settings().events_queue_url
    seen = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return seen
        for message in got:
            seen.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def test_id(stack):
    stack.api.post("/v1/test-ids", {"test-ids": [{"test-id": SEED["TestID"], "password": "pw",
                                                  "test-type": "Academic-Plus"}]})
    stack.api.post("/v1/tracks", {"code": "RC", "url": "https://results.example.com/itep", "events": ["completed"]})
    taken = stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus", "track": "RC",
                                                "registration": {"trExternal_ID": "ext-77"}})
    assert taken.status == 201
    return SEED["TestID"]


def state(stack, test_id):
    return stack.api.get(f"/v1/test-ids/{test_id}").json()


def test_the_seed_webhook_as_one_form_field_completes_the_test(stack, test_id):
    # When the engine posts the seed's sample as ONE form field `data`
    reply = post_result(stack, SEED)
    # Then it is taken in: the test is Completed and the result stored as version 1
    assert reply.status == 200, reply.text
    assert reply.json()["applied"] is True and reply.json()["status"] == "Completed" and reply.json()["version"] == 1
    assert state(stack, test_id)["status"] == "Completed"
    [version] = results_repo.versions("itep", test_id)
    assert version["result"]["Overall_Level"] == 4.5 and version["result"]["Reading_cefr"] == "C2"
    assert version["result"]["Duration"] == 67.5 and version["result"]["Writing_Question_Count"] == 2
    assert version["result"]["Writing_Answer_1"].startswith("Dear Instructor Micheal")
    assert version["result"]["score_report_url"] == SEED["score_report_url"]
    # with the date it was finished and the percent of each section (numbers sent as strings stored as numbers)
    assert {k: version["result"][k] for k in ("TestDate", "TestMonth", "TestDay", "TestYear")} == {
        "TestDate": "6/10/2024", "TestMonth": 6, "TestDay": 10, "TestYear": 2024}
    assert {s: version["result"][f"{s}_Percent"] for s in ("Grammar", "Listening", "Reading", "Writing", "Speaking")} == {
        "Grammar": 72, "Listening": 86, "Reading": 100, "Writing": 67, "Speaking": 67}
    # And one `completed` event, carrying the track and the external id for the OID
    [event] = events(stack)
    assert event["type"] == "completed" and event["data"]["track"] == "RC"
    assert event["data"]["external-id"] == "ext-77" and event["data"]["raw"] == SEED


def test_the_same_json_body_is_a_duplicate_that_changes_nothing(stack, test_id):
    post_result(stack, SEED)
    first_events = events(stack)
    before = stack.snapshot(ignore=NONCES)
    again = post_result(stack, SEED, form=False)
    assert again.status == 200 and again.json()["applied"] is False and again.json()["reason"] == "duplicate"
    assert stack.snapshot(ignore=NONCES) == before
    # the announcement is repeated with the same id, so a lost one is recovered and receivers de-duplicate
    assert [e["id"] for e in events(stack)] == [e["id"] for e in first_events]


def test_the_life_cycle_moves_forward_and_ignores_late_messages(stack, test_id):
    for status in ("Started", "Finished", "Review"):
        assert post_result(stack, {"TestID": test_id, "Status": status}).json()["applied"] is True
        assert state(stack, test_id)["status"] == status
    assert post_result(stack, SEED).json()["status"] == "Completed"
    # the earlier Started delivered again is a duplicate; a different Started arriving late is stale
    again = post_result(stack, {"TestID": test_id, "Status": "Started"})
    assert again.json()["reason"] == "duplicate" and again.json()["status"] == "Completed"
    late = post_result(stack, {"TestID": test_id, "Status": "Started", "Duration": "1"})
    assert late.json() == {"subject": test_id, "status": "Completed", "applied": False, "reason": "stale",
                           "detail": "Started comes before Completed in the life cycle (a late message)",
                           "version": 1, "event-id": None}
    assert state(stack, test_id)["status"] == "Completed"
    assert [e["type"] for e in events(stack)] == ["started", "finished", "review", "completed"]


def test_a_rescore_after_completion_is_a_new_version_and_the_old_one_stays(stack, test_id):
    post_result(stack, SEED)
    rescored = {**SEED, "Overall_Level": "5.0", "Overall_cefr": "C1", "Writing_Level": "4.5"}
    reply = post_result(stack, rescored)
    assert reply.json()["applied"] is True and reply.json()["version"] == 2
    versions = results_repo.versions("itep", test_id)
    assert [(v["version"], v["result"]["Overall_Level"]) for v in versions] == [(1, 4.5), (2, 5.0)]
    # a delayed copy of the first scoring is recognised, not stored a third time
    assert post_result(stack, SEED).json()["reason"] == "duplicate"
    assert len(results_repo.versions("itep", test_id)) == 2


def test_technical_difficulty_then_invalidated(stack, test_id):
    assert post_result(stack, {"TestID": test_id, "Status": "Technical Difficulty"}).json()["applied"]
    assert post_result(stack, {"TestID": test_id, "Status": "invalidated"}).json()["status"] == "Invalidated"
    assert [e["type"] for e in events(stack)] == ["technical-difficulty", "invalidated"]


def refused(stack, payload, detail, form=True):
    """Post a message the life cycle refuses: a 200 saying stale (with the rule), and nothing changes
    (test ID or invitation, candidate summary, result versions, expiry and available indexes, events)."""
    before = stack.snapshot(ignore=NONCES)
    reply = post_result(stack, payload, form=form)
    assert reply.status == 200, reply.text
    assert (reply.json()["applied"], reply.json()["reason"], reply.json()["detail"]) == (False, "stale", detail)
    assert stack.snapshot(ignore=NONCES) == before
    assert events(stack) == []
    return reply.json()


@pytest.mark.parametrize("late", ["Ready", "Started", "Finished", "Review", "Technical Difficulty"])
def test_no_late_message_reopens_a_completed_test(stack, test_id, late):
    # Given a completed test
    post_result(stack, SEED)
    events(stack)
    # When any earlier state arrives late (with other content than before, so it is not a duplicate)
    reply = refused(stack, {"TestID": test_id, "Status": late, "Duration": "3"}, results.allowed("Completed", late))
    # Then the test stays Completed with its one version
    assert (reply["status"], reply["version"]) == ("Completed", 1)
    assert state(stack, test_id)["status"] == "Completed"


def test_review_and_technical_difficulty_may_alternate_before_the_outcome(stack, test_id):
    for n, status in enumerate(("Technical Difficulty", "Review", "Technical Difficulty", "Review")):
        # the content differs each time, so none of them is a duplicate
        reply = post_result(stack, {"TestID": test_id, "Status": status, "Duration": str(n)})
        assert reply.json()["applied"] is True and state(stack, test_id)["status"] == status
    assert post_result(stack, SEED).json()["status"] == "Completed"
    assert [e["type"] for e in events(stack)] == ["technical-difficulty", "review"] * 2 + ["completed"]


def test_the_same_state_again_with_other_content_changes_nothing(stack, test_id):
    post_result(stack, {"TestID": test_id, "Status": "Started"})
    events(stack)
    refused(stack, {"TestID": test_id, "Status": "Started", "Duration": "2"}, "the test is already Started")


def test_a_completed_result_may_be_invalidated_and_then_no_rescore_reinstates_it(stack, test_id):
    # Given a completed test, later invalidated (misconduct found on review)
    post_result(stack, SEED)
    invalidated = post_result(stack, {"TestID": test_id, "Status": "Invalidated"})
    assert invalidated.json()["applied"] is True and state(stack, test_id)["status"] == "Invalidated"
    assert [e["type"] for e in events(stack)] == ["completed", "invalidated"]
    # When a re-score arrives (sent before the invalidation, arriving after it)
    rescored = {**SEED, "Overall_Level": "5.0"}
    reply = refused(stack, rescored, "the test is Invalidated: a later result does not reinstate it (only Disabled "
                                     "may follow)")
    # Then the test stays Invalidated and the first scoring stays readable, the only version
    assert reply["status"] == "Invalidated"
    assert [v["result"]["Overall_Level"] for v in results_repo.versions("itep", test_id)] == [4.5]
    # And Disabled may still follow
    assert post_result(stack, {"TestID": test_id, "Status": "Disabled"}).json()["applied"] is True
    assert [e["type"] for e in events(stack)] == ["disabled"]


@pytest.mark.parametrize("after", ["Started", "Completed", "Invalidated", "Review", "Disabled"])
def test_a_disabled_test_is_final(stack, test_id, after):
    # Given a test the engine disabled before it was taken
    assert post_result(stack, {"TestID": test_id, "Status": "Disabled"}).json()["applied"] is True
    assert state(stack, test_id)["status"] == "Disabled"
    events(stack)
    # When any message arrives after it (the seed's result, or a bare state change)
    payload = {**SEED, "Status": after} if after != "Disabled" else {"TestID": test_id, "Status": after, "OID": "x"}
    # Then it is refused and nothing is stored, announced or changed
    refused(stack, payload, "the test is Disabled, which is final")


def test_a_ready_message_leaves_an_assigned_test_as_it_was(stack, test_id):
    # Given an assigned test (in the expiry index), When the engine says Ready, Then nothing changes: it can
    # still expire and return to stock (an applied message would have taken it out of the index)
    refused(stack, {"TestID": test_id, "Status": "Ready"}, "the test is already Ready")


def test_an_invitations_candidate_follows_the_life_cycle_and_a_refused_rescore_changes_nothing(stack):
    # Given a V2 invitation completed and then invalidated
    registered = stack.api.post("/v2/tests/55/register", {"emailId": "inv@example.com", "fullName": "I N"})
    inv = registered.json()["result"]["testInvitationId"]
    v2 = {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 50, "CandidateScore": 34}
    assert post_result(stack, v2, form=False).json()["applied"] is True
    assert post_result(stack, {**v2, "Status": "Invalidated"}, form=False).json()["applied"] is True
    events(stack)
    # When a re-score arrives, Then it is refused: invitation, candidate summary and versions stay as they were
    refused(stack, {**v2, "CandidateScore": 40}, results.allowed("Invalidated", "Completed"), form=False)
    assert stack.api.get(f"/v2/invitations/{inv}").json()["result"]["status"] == "Invalidated"
    listed = stack.api.get("/v1/candidates", query={"status": "Invalidated"}).json()["items"]
    assert [c["email"] for c in listed] == ["inv@example.com"]
    versions = results_repo.versions("v2", str(inv))
    assert [(v["status"], v["result"]["CandidateScore"]) for v in versions] == [("Completed", 34), ("Invalidated", 34)]


def test_a_started_test_is_no_longer_available(stack):
    stack.api.post("/v1/test-ids", {"test-ids": [{"test-id": "FREE01", "password": "p", "test-type": "Junior"}]})
    assert post_result(stack, {"TestID": "FREE01", "Status": "Started"}).status == 200
    assert state(stack, "FREE01")["available"] is False
    assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Junior"}).status == 409


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"Overall_Level": "7.5"}, "Overall_Level: must be between 0.0 and 6.0 (got 7.5)"),
        ({"Grammar_Level": -1}, "Grammar_Level: must be between 0.0 and 6.0 (got -1)"),
        ({"Listening_Percent": "101"}, "Listening_Percent: must be between 0 and 100 (got 101)"),
        ({"Reading_cefr": "D1"}, "Reading_cefr: must be a CEFR level (Pre-A1, A1, A1+, A2, A2+, B1, B1+, B2, B2+, C1, C2) (got 'D1')"),
        ({"Status": "Graded"}, "Status: must be one of Ready, Started, Finished, Review, Technical Difficulty, Invalidated, Completed, Disabled (got 'Graded')"),
        ({"TestDate": "13/10/2024"}, "TestDate: month must be between 1 and 12 (got '13/10/2024')"),
        ({"TestDate": "2024-06-10"}, "TestDate: must be M/D/YYYY (got '2024-06-10')"),
        ({"TestDay": "11"}, "TestDay: does not match TestDate 6/10/2024 (got 11)"),
        ({"Duration": "long"}, "Duration: must be a number (got 'long')"),
        ({"Speaking_Score": True}, "Speaking_Score: must be a number"),
        ({"TestID": "NOPE123"}, "TestID: unknown test ID 'NOPE123'"),
        ({"TestID": ""}, "TestID: is required"),
        ({"score_report_url": "javascript:alert(1)"}, "score_report_url: must be an absolute http(s) URL"),
        # TestDate's day and year, and its agreement with TestMonth / TestDay / TestYear
        ({"TestDate": "6/32/2024"}, "TestDate: day must be between 1 and 31 (got '6/32/2024')"),
        ({"TestDate": "6/0/2024"}, "TestDate: day must be between 1 and 31 (got '6/0/2024')"),
        ({"TestDate": "6/10/1900", "TestYear": "1900"}, "TestDate: year must be greater than 1900 (got '6/10/1900')"),
        ({"TestDate": ""}, "TestDate: is required with TestMonth, TestDay and TestYear"),
        ({"TestDate": None}, "TestDate: is required with TestMonth, TestDay and TestYear"),
        ({"TestMonth": "7"}, "TestMonth: does not match TestDate 6/10/2024 (got 7)"),
        ({"TestYear": 2023}, "TestYear: does not match TestDate 6/10/2024 (got 2023)"),
        # numbers must be finite; texts have a length limit and must be text
        ({"Overall_Level": "NaN"}, "Overall_Level: must be a finite number"),
        ({"Duration": "Infinity"}, "Duration: must be a finite number"),
        ({"OID": "x" * 201}, "OID: must be at most 200 characters"),
        ({"TestID": "T" * 65}, "TestID: must be at most 64 characters"),
        ({"Writing_Answer_1": "x" * 20_001}, "Writing_Answer_1: must be at most 20000 characters"),
        ({"OID": {"id": 1}}, "OID: must be a string"),
        # scores, the duration and the number of writing questions have their ranges
        ({"Grammar_Score": "1001"}, "Grammar_Score: must be between 0 and 1000 (got 1001)"),
        ({"Speaking_Score": -1}, "Speaking_Score: must be between 0 and 1000 (got -1)"),
        ({"Duration": "1441"}, "Duration: must be between 0 and 1440 (got 1441)"),
        ({"Duration": -0.5}, "Duration: must be between 0 and 1440 (got -0.5)"),
        ({"Writing_Question_Count": 21}, "Writing_Question_Count: must be between 0 and 20 (got 21)"),
        ({"Writing_Question_Count": "-1"}, "Writing_Question_Count: must be between 0 and 20 (got -1)"),
        # a count is a whole number: 2.5 is not silently cut to 2
        ({"Writing_Question_Count": "2.5"}, "Writing_Question_Count: must be a whole number (got 2.5)"),
        ({"Writing_Question_Count": 1.5}, "Writing_Question_Count: must be a whole number (got 1.5)"),
        ({"Writing_Question_Count": "two"}, "Writing_Question_Count: must be a number (got 'two')"),
    ],
)
def test_each_validation_message_names_the_field(stack, test_id, change, description):
    before = stack.snapshot(ignore=NONCES)
    reply = post_result(stack, {**SEED, **change})
    assert reply.status == 400 and reply.description == description
    assert stack.snapshot(ignore=NONCES) == before


def test_a_result_naming_neither_a_test_id_nor_an_invitation_is_refused(stack, test_id):
    before = stack.snapshot(ignore=NONCES)
    reply = post_result(stack, {k: v for k, v in SEED.items() if k != "TestID"}, form=False)
    assert (reply.status, reply.description) == (400, "TestID: is required (or TestInvitationId for a V2 result)")
    assert stack.snapshot(ignore=NONCES) == before


@pytest.fixture
def v2_result(stack):
    registered = stack.api.post("/v2/tests/55/register", {"emailId": "v2@example.com", "fullName": "V Two"})
    return {"TestInvitationId": registered.json()["result"]["testInvitationId"], "Status": "Completed",
            "AttemptedOn": "2015-06-26T21:31:03.19", "TotalScore": 50, "CandidateScore": 34,
            "ReportPDFUrl": "https://engine.example.com/r/1.pdf"}


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"TestInvitationId": "abc"}, "TestInvitationId: must be a positive integer"),
        ({"TestInvitationId": -5}, "TestInvitationId: must be a positive integer"),
        ({"TestInvitationId": 1.5}, "TestInvitationId: must be a positive integer"),
        ({"TestInvitationId": True}, "TestInvitationId: must be a positive integer"),
        ({"TestInvitationId": "\u0661\u0662"}, "TestInvitationId: must be a positive integer"),  # Arabic-Indic digits
        ({"TestInvitationId": 0}, "TestInvitationId: must be a positive 64-bit integer"),
        ({"TestInvitationId": 2**63}, "TestInvitationId: must be a positive 64-bit integer"),
        ({"TotalScore": 1_000_001}, "TotalScore: must be between 0 and 1000000 (got 1000001)"),
        ({"TotalScore": "lots"}, "TotalScore: must be a number (got 'lots')"),
        ({"CandidateScore": -1}, "CandidateScore: must be between 0 and 1000000 (got -1)"),
        ({"CandidateScore": "NaN"}, "CandidateScore: must be a finite number"),
        ({"ReportPDFUrl": "ftp://engine.example.com/r.pdf"}, "ReportPDFUrl: must be an absolute http(s) URL"),
        ({"ReportPDFUrl": "/r/1.pdf"}, "ReportPDFUrl: must be an absolute http(s) URL"),
        ({"AttemptedOn": "2015-06-26T21:31:03.19" * 3}, "AttemptedOn: must be at most 64 characters"),
        ({"AttemptedOn": ["2015-06-26"]}, "AttemptedOn: must be a string"),
    ],
)
def test_each_v2_validation_message_names_the_field(stack, v2_result, change, description):
    before = stack.snapshot(ignore=NONCES)
    reply = post_result(stack, {**v2_result, **change}, form=False)
    assert (reply.status, reply.description) == (400, description)
    assert stack.snapshot(ignore=NONCES) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "description"),
    [
        ("data=%7B%7D&extra=1", FORM, 400, "data: the form must have exactly one field, data, holding the result JSON"),
        ("data=not-json", FORM, 400, "data: is not valid JSON"),
        ("data=%5B1%5D", FORM, 400, "data: must be a JSON object"),
        ("data=%7B%7D&data=%7B%7D", FORM, 400, "data: the form must have exactly one field, data, holding the result JSON"),
        ("", FORM, 400, "data: the form must have exactly one field, data, holding the result JSON"),
        ('{"TestID": ', "application/json", 400, "body: is not valid JSON"),
        ('["TestID"]', "application/json", 400, "body: must be a JSON object"),
        ('"3279B035APR"', "application/json", 400, "body: must be a JSON object"),
        ("{}", "text/plain", 415, "content-type: must be application/x-www-form-urlencoded (field data) or application/json"),
    ],
)
def test_malformed_bodies(stack, raw, content_type, status, description):
    ts = str(int(time.time()))
    mac = hmac.new(engine_secret().encode(), f"{ts}.{raw}".encode(), hashlib.sha256).hexdigest()
    reply = stack.api.post("/v1/results", raw, key=None, content_type=content_type,
                           headers={"x-timestamp": ts, "x-signature": f"v1={mac}"})
    assert (reply.status, reply.description) == (status, description)


def test_only_the_engine_may_post_results(stack, test_id):
    body = urlencode({"data": json.dumps(SEED)})
    unsigned = stack.api.post("/v1/results", body, content_type=FORM)  # even with the admin key
    assert unsigned.status == 401
    assert post_result(stack, SEED, secret="not-the-engine-secret").status == 401
    stale = post_result(stack, SEED, timestamp=int(time.time()) - 301)
    assert (stale.status, stale.description) == (401, "x-timestamp: more than 300 seconds from the server's clock")
    ts = str(int(time.time()))
    mac = hmac.new(engine_secret().encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-timestamp": ts, "x-signature": f"v1={mac}"}
    assert stack.api.post("/v1/results", body, key=None, content_type=FORM, headers=headers).status == 200
    replay = stack.api.post("/v1/results", body, key=None, content_type=FORM, headers=headers)
    assert (replay.status, replay.description) == (401, "x-signature: already used (replayed request)")
    # The same signature inside other text that still verifies is the same replay
    for wrapped in (f"v1={mac},", f"v1={mac},x", f"v1=0000,v1={mac}"):
        again = stack.api.post(
            "/v1/results", body, key=None, content_type=FORM, headers={**headers, "x-signature": wrapped}
        )
        assert (again.status, again.description) == (401, "x-signature: already used (replayed request)")


def test_a_v2_result_completes_the_invitation(stack):
    registered = stack.api.post("/v2/tests/55/register", {"emailId": "v2@example.com", "fullName": "V Two",
                                                          "callbackURL": "https://lms.example.com/cb"})
    inv = registered.json()["result"]["testInvitationId"]
    v2 = {"TestInvitationId": inv, "Status": "Completed", "AttemptedOn": "2015-06-26T21:31:03.19",
          "TotalScore": 50, "CandidateScore": 34, "ReportPDFUrl": "https://engine.example.com/r/1.pdf"}
    reply = post_result(stack, v2, form=False)
    assert reply.status == 200 and reply.json()["applied"] is True, reply.text
    assert stack.api.get(f"/v2/invitations/{inv}").json()["result"]["status"] == "Completed"
    [event] = events(stack)
    assert event["type"] == "completed" and event["data"]["callback-url"] == "https://lms.example.com/cb"
    assert event["data"]["email"] == "v2@example.com" and event["data"]["result"]["CandidateScore"] == 34
    unknown = post_result(stack, {**v2, "TestInvitationId": 12345}, form=False)
    assert (unknown.status, unknown.description) == (400, "TestInvitationId: unknown invitation '12345'")
    too_high = post_result(stack, {**v2, "CandidateScore": 51}, form=False)
    assert (too_high.status, too_high.description) == (400, "CandidateScore: must not exceed TotalScore (50)")
