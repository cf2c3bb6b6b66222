"""Results with items, certification and placement outcomes, certificates (issued once, verified in public,
revoked), the failure event, incomplete results, and a transferred candidate's history."""

from __future__ import annotations

import boto3
import pytest

from gateway import certification, statements
from gateway.config import get_settings
from gateway.repo import results as results_repo
from tests.helpers import ROOT
from tests.integration.certification_helpers import (
    items,
    pdf_text,
    post_result,
    queue_messages,
    register,
    run_certificates,
    s3_object,
    set_catalogue,
    v2_result,
)
from tests.integration.test_results_intake import SEED, events

FONTS = ROOT / "functions" / "certificates" / "fonts"
B1_PASS = [
    ("Grammar", "B1", True),
    ("Grammar", "B1", True),
    ("Listening", "B1", True),
    ("Listening", "B1", False),
    ("Reading", "B1", True),
    ("Reading", "B1", True),
    ("Reading", "B1+", False),
    ("Writing", "B1", True),
]
B1_FAIL = [
    ("Grammar", "B1", False),
    ("Grammar", "B1", True),
    ("Listening", "B1", False),
    ("Listening", "B1", False),
    ("Reading", "B1", True),
    ("Reading", "B1", False),
    ("Writing", "B1", True),
    ("Speaking", "A2+", False),
]


@pytest.fixture
def catalogue(stack):
    set_catalogue(stack.api)


def outcomes_of(stack, candidate_id, api=None):
    reply = (api or stack.api).get("/v1/outcomes", query={"candidate-id": candidate_id})
    assert reply.status == 200, reply.text
    return reply.json()


def candidate_of(stack, invitation):
    return stack.api.get(f"/v2/invitations/{invitation}").json()["result"]["candidateId"]


def test_items_are_stored_with_totals_and_the_actual_time(stack, catalogue):
    inv = register(stack, 901, "ada@example.com")
    # Given the candidate started the test
    post_result(stack, {"TestInvitationId": inv, "Status": "Started"}, form=False)
    # When the engine sends the result with item-level responses (Correct as 0 / 1, ETAPI-30)
    sent = items(B1_PASS)
    v2_result(stack, inv, None, None, Items=sent)
    # Then the version holds the items and the totals of correct, incorrect and answered items (v1.3.4)
    [version] = results_repo.versions("v2", str(inv))
    assert [i["ItemId"] for i in version["result"]["Items"]] == [f"i{n}" for n in range(1, 9)]
    assert version["result"]["Items"][3] == {
        "ItemId": "i4",
        "Skill": "Listening",
        "Level": "B1",
        "Correct": False,
        "Answer": "",
        "CanDo": sent[3]["CanDo"],
        "TimeSpent": 30,
    }
    assert version["totals"] == {"items": 8, "correct": 6, "incorrect": 1, "answered": 7}
    # and the actual time: the items' seconds summed (8 x 30 s), as the engine sent no Duration
    assert version["actual_minutes"] == 4.0 and version["incomplete"] is False


def test_a_ct_pass_updates_the_status_then_issues_one_certificate_that_verifies(stack, catalogue):
    inv = register(stack, 901, "ada@example.com", "Ada Lovelace")
    cid = candidate_of(stack, inv)
    # When the candidate passes CT-B1 (6 of 8 items: 75 % >= 60 %)
    v2_result(stack, inv, None, None, Items=items(B1_PASS))
    # Then the outcome says passed, and the package continues at the next level of the plan (ETAPI-15)
    history = outcomes_of(stack, cid)
    [outcome] = history["outcomes"]
    assert outcome["outcome"]["outcome"] == "passed" and outcome["outcome"]["score-percent"] == 75.0
    assert outcome["outcome"]["continue"] is True and outcome["outcome"]["next-level"] == "B1+"
    assert outcome["outcome"]["next-test-type"] == "CT-B1-Plus"
    # and the CT status is passed BEFORE any certificate exists (ETAPI-16)
    assert (
        history["ct-status"]["B1"]["status"] == "passed" and history["ct-status"]["B1"]["certificate"] is None
    )
    # When the certificate queue runs
    messages = queue_messages(get_settings().certificate_queue_url)
    assert len(messages) == 1
    assert run_certificates(stack, messages) == {"batchItemFailures": []}
    # Then one certificate is linked from the candidate
    code = certification.certificate_code("v2", str(inv))
    history = outcomes_of(stack, cid)
    assert history["ct-status"]["B1"]["certificate"] == code and history["outcomes"][0]["certificate"] == code
    # and its PDF, read back, shows name, unit, test type, level, CEFR, date, the code and the URL
    text = pdf_text(s3_object(f"certificates/{code}.pdf"))
    for shown in (
        "Certificate of Achievement",
        "Ada Lovelace",
        "of Root",
        "CT-B1",
        "Level B1",
        "CEFR B1",
        "Date: 2026-03-10",
        f"Verification code: {code}",
        f"/certificates/{code}",
    ):
        assert shown in text, (shown, text)
    # and the public route (no key) verifies it, with nothing more than the certificate shows
    verified = stack.api.get(f"/certificates/{code}", key=None)
    assert verified.status == 200
    assert verified.json() == {
        "code": code,
        "status": "valid",
        "name": "Ada Lovelace",
        "org-unit": "Root",
        "test-type": "CT-B1",
        "level": "B1",
        "cefr": "B1",
        "issued-on": "2026-03-10",
        "revoked-on": None,
    }
    assert "ada@example.com" not in verified.text and cid not in verified.text
    unknown = stack.api.get("/certificates/AAAA-BBBB-CCCC-DDDD", key=None)
    assert unknown.status == 200 and unknown.json()["status"] == "unknown" and unknown.json()["name"] is None


def test_one_certificate_per_passing_result_whatever_the_retries(stack, catalogue):
    inv = register(stack, 901, "ada@example.com")
    body = {"TestInvitationId": inv, "Status": "Completed", "Items": items(B1_PASS)}
    assert post_result(stack, body, form=False).json()["applied"] is True
    # When the engine retries the same result twice (its earlier reply was lost)
    assert post_result(stack, body, form=False).json()["reason"] == "duplicate"
    assert post_result(stack, body, form=False).json()["reason"] == "duplicate"
    # Then the certificate job is queued again each time (a lost one is recovered) ...
    messages = queue_messages(get_settings().certificate_queue_url)
    assert len(messages) == 3
    # ... and however often the issuer runs, one certificate exists, rendered the same every time
    for message in messages:
        assert run_certificates(stack, [message]) == {"batchItemFailures": []}
    code = certification.certificate_code("v2", str(inv))
    pdf = s3_object(f"certificates/{code}.pdf")
    certificates = [i for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("CERT#")]
    assert len(certificates) == 1
    boto3.client("s3").delete_object(Bucket=get_settings().imports_bucket, Key=f"certificates/{code}.pdf")
    # (a crash between the PDF and the record is redone identically)
    from gateway import certificates as issuing
    from gateway.repo import outcomes as repo

    record = issuing._issue_record(repo.get(repo.outcome_key(candidate_of(stack, inv), "v2", str(inv))), code)
    assert issuing.render_pdf(record, FONTS) == pdf


def test_the_certificate_waits_for_the_ct_status(stack, catalogue):
    # Given a pass whose CT status is (somehow) missing
    inv = register(stack, 901, "ada@example.com")
    v2_result(stack, inv, None, None, Items=items(B1_PASS))
    cid = candidate_of(stack, inv)
    boto3.client("dynamodb").delete_item(
        TableName=stack.table("CandidatesTable"), Key={"pk": {"S": f"CAND#{cid}"}, "sk": {"S": "CT#B1"}}
    )
    messages = queue_messages(get_settings().certificate_queue_url)
    # Then the issuer refuses to issue and the message comes back (ETAPI-16)
    failed = run_certificates(stack, messages)
    assert [f["itemIdentifier"] for f in failed["batchItemFailures"]] == [messages[0]["MessageId"]]
    assert not [i for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("CERT#")]


def test_admins_revoke_a_certificate_and_verification_says_so(stack, catalogue):
    inv = register(stack, 901, "ada@example.com")
    v2_result(stack, inv, None, None, Items=items(B1_PASS))
    run_certificates(stack)
    code = certification.certificate_code("v2", str(inv))
    # A unit outside the certificate's branch cannot see it
    sibling = stack.api.post("/v1/org-units", {"name": "Elsewhere"}).json()["id"]
    other = stack.api.as_key(
        stack.api.post("/v1/api-keys", {"org-unit": sibling, "role": "admin"}).json()["api-key"]
    )
    assert other.post(f"/v1/certificates/{code}/revoke", {"reason": "x"}).status == 404
    assert stack.api.get(f"/certificates/{code}", key=None).json()["status"] == "valid"
    # When an admin of its unit revokes it
    revoked = stack.api.post(f"/v1/certificates/{code}/revoke", {"reason": "identity fraud"})
    assert revoked.status == 200 and revoked.json()["status"] == "revoked"
    # Then the public verification says revoked (and since when), and again is the same
    verified = stack.api.get(f"/certificates/{code.lower()}", key=None).json()
    assert verified["status"] == "revoked" and verified["revoked-on"] == revoked.json()["revoked-on"]
    assert stack.api.post(f"/v1/certificates/{code}/revoke").json() == revoked.json()


def test_a_ct_fail_lists_cant_do_statements_and_a_review_list_and_publishes_one_event(stack, catalogue):
    inv = register(stack, 901, "bob@example.com", "Bob Builder")
    cid = candidate_of(stack, inv)
    events(stack)
    body = {
        "TestInvitationId": inv,
        "Status": "Completed",
        "AttemptedOn": "2026-03-11T09:00:00",
        "Items": items(B1_FAIL),
    }
    post_result(stack, body, form=False)
    # Then the outcome is failed (3 of 8: 37.5 % < 60 %) and the package does not continue
    [outcome] = outcomes_of(stack, cid)["outcomes"]
    decided = outcome["outcome"]
    assert (
        decided["outcome"] == "failed" and decided["continue"] is False and decided["score-percent"] == 37.5
    )
    # with the "can't do" statements of the missed items, in skill order (ETAPI-52)
    assert decided["cant-do"] == [
        statements.cant_do(statements.can_do("Grammar", "B1")),
        statements.cant_do(statements.can_do("Listening", "B1")),
        statements.cant_do(statements.can_do("Reading", "B1")),
        statements.cant_do(statements.can_do("Speaking", "A2+")),
    ]
    assert decided["cant-do"][0] == "Can't yet use the main tenses to talk about familiar topics"
    # and a curated review list, most-missed skill first (ETAPI-53)
    assert decided["review"] == [
        statements.review("Listening", "B1"),
        statements.review("Grammar", "B1"),
        statements.review("Reading", "B1"),
        statements.review("Speaking", "B1"),
    ]
    assert outcomes_of(stack, cid)["ct-status"]["B1"]["status"] == "failed"
    # and no certificate is queued, but one certification.failed event with a deterministic id
    assert queue_messages(get_settings().certificate_queue_url) == []
    [failed] = [e for e in events(stack) if e["type"] == "certification.failed"]
    assert failed["id"] == f"certification.failed:v2:{inv}:1"
    data = failed["data"]
    assert {k: data[k] for k in ("candidate-id", "email", "full-name", "test-type", "level")} == {
        "candidate-id": cid,
        "email": "bob@example.com",
        "full-name": "Bob Builder",
        "test-type": "CT-B1",
        "level": "B1",
    }
    assert data["cant-do"] == decided["cant-do"] and data["review"] == decided["review"]
    assert "/score-reports/" in data["score-report-url"]
    # When the engine retries, the same event (same id) goes out again; consumers de-duplicate
    post_result(stack, body, form=False)
    assert [e["id"] for e in events(stack) if e["type"] == "certification.failed"] == [failed["id"]]


def test_a_later_fail_does_not_undo_a_passed_level(stack, catalogue):
    first = register(stack, 901, "ada@example.com")
    v2_result(stack, first, 80)
    # A second CT-B1 attempt (another unit's invitation of the same candidate id is another test)
    cid = candidate_of(stack, first)
    from gateway.repo import outcomes as repo

    assert repo.get({"pk": f"CAND#{cid}", "sk": "CT#B1"})["status"] == "passed"
    boto3.client("dynamodb").transact_write_items(
        TransactItems=[repo.ct_status_update(cid, "B1", False, {"last_result": "failed"})]
    )
    assert repo.get({"pk": f"CAND#{cid}", "sk": "CT#B1"})["status"] == "passed"


@pytest.mark.parametrize(
    "body",
    [
        {"Status": "Completed", "TotalScore": None, "CandidateScore": None},
        {"Status": "Completed"},
        {"Status": "Completed", "TotalScore": 100, "CandidateScore": 70, "Items": None},
    ],
    ids=["null scores", "missing scores", "null items"],
)
def test_a_null_or_missing_result_is_stored_as_incomplete_never_a_5xx(stack, catalogue, body):
    inv = register(stack, 901, "ada@example.com")
    reply = post_result(stack, {"TestInvitationId": inv, **body}, form=False)
    # Then it is taken in (200), the test is Completed and the version is kept, flagged incomplete
    assert reply.status == 200 and reply.json()["applied"] is True and reply.json()["version"] == 1
    [version] = results_repo.versions("v2", str(inv))
    assert version["incomplete"] is True
    # and the outcome is incomplete: neither passed nor failed, no certificate, no failure e-mail
    [outcome] = outcomes_of(stack, candidate_of(stack, inv))["outcomes"]
    assert outcome["outcome"]["outcome"] == "incomplete"
    assert queue_messages(get_settings().certificate_queue_url) == []
    assert not [e for e in events(stack) if e["type"] == "certification.failed"]


def test_an_itep_completed_message_without_scores_is_incomplete_too(stack):
    stack.api.post(
        "/v1/test-ids", {"test-ids": [{"test-id": "NULL01", "password": "p", "test-type": "CT-A2"}]}
    )
    stack.api.post("/v1/fulfillments", {"product-code": "GTX-CT-A2", "email": "n@example.com"})
    set_catalogue(stack.api)
    reply = post_result(stack, {"TestID": "NULL01", "Status": "Completed", "Overall_Level": None})
    assert reply.status == 200 and reply.json()["version"] == 1
    assert results_repo.versions("itep", "NULL01")[0]["incomplete"] is True


def test_a_placement_test_places_and_lists_areas_for_improvement_in_a_stable_order(stack, catalogue):
    # Given the seed's iTEP result for a placement test type without placement rules
    stack.api.post(
        "/v1/test-ids",
        {"test-ids": [{"test-id": SEED["TestID"], "password": "p", "test-type": "Academic-Plus"}]},
    )
    stack.api.post(
        "/v1/fulfillments",
        {
            "product-code": "GTX-Academic-Plus",
            "email": "pt@example.com",
            "registration": {"First_Name": "Mary", "Last_Name": "Poppins"},
        },
    )
    post_result(stack, SEED)
    from gateway.registration import candidate_id

    [outcome] = outcomes_of(stack, candidate_id(stack.root, "pt@example.com"))["outcomes"]
    decided = outcome["outcome"]
    # Then it places at the overall CEFR, and the areas are the skills below it, weakest first, ties in the
    # fixed skill order (Writing before Speaking at 67 %, then Grammar at 72 %): always the same (ETAPI-41)
    assert decided["outcome"] == "placed" and decided["level"] == "C1"
    assert [a["skill"] for a in decided["areas"]] == ["Writing", "Speaking", "Grammar"]
    assert outcome["date"] == "2024-06-10"


def test_a_placement_by_the_plans_rules(stack, catalogue):
    inv = register(stack, 900, "pt2@example.com")
    v2_result(stack, inv, 55)
    [outcome] = outcomes_of(stack, candidate_of(stack, inv))["outcomes"]
    assert outcome["outcome"]["level"] == "A2"  # 55 % reaches the 40 % rule, not the 70 % one


def test_a_transferred_student_takes_the_ct_from_the_new_unit_and_the_history_keeps_both(stack, catalogue):
    # Given a fail at the root unit
    inv = register(stack, 901, "ada@example.com")
    cid = candidate_of(stack, inv)
    v2_result(stack, inv, 30)
    # When the candidate is transferred to North (their open invitation for CT-B1-Plus follows them) ...
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()
    retake = register(stack, 902, "ada@example.com")
    boto3.client("dynamodb").update_item(
        TableName=stack.table("CandidatesTable"),
        Key={"pk": {"S": f"INV#{retake}"}, "sk": {"S": "INV"}},
        UpdateExpression="SET unit_id = :u, unit_path = :p",
        ExpressionAttributeValues={":u": {"S": north["id"]}, ":p": {"S": north["path"]}},
    )
    # ... and takes it from there
    v2_result(stack, retake, 90)
    # Then the history keeps both outcomes, each with the unit it was taken from (ETAPI-55)
    history = outcomes_of(stack, cid)
    assert [(o["test-type"], o["org-unit"], o["outcome"]["outcome"]) for o in history["outcomes"]] == [
        ("CT-B1", stack.root, "failed"),
        ("CT-B1-Plus", north["id"], "passed"),
    ]
    assert (
        history["ct-status"]["B1"]["status"] == "failed" and history["ct-status"]["B1+"]["status"] == "passed"
    )
    # and North's admin sees North's outcome only
    north_admin = stack.api.as_key(
        stack.api.post("/v1/api-keys", {"org-unit": north["id"], "role": "admin"}).json()["api-key"]
    )
    assert [o["org-unit"] for o in outcomes_of(stack, cid, north_admin)["outcomes"]] == [north["id"]]


def test_a_result_without_a_catalogue_entry_is_taken_in_as_before(stack):
    inv = register(stack, 55, "plain@example.com")
    reply = v2_result(stack, inv, 34, 50)
    assert reply.json()["version"] == 1
    assert stack.api.get("/v1/outcomes", query={"candidate-id": candidate_of(stack, inv)}).status == 404


def test_a_name_in_any_european_script_prints_as_written(stack, catalogue):
    name = "Łukasz Żółć-Ødegård Σωκράτης"
    inv = register(stack, 901, "lukasz@example.com", name)
    v2_result(stack, inv, None, None, Items=items(B1_PASS))
    run_certificates(stack)
    code = certification.certificate_code("v2", str(inv))
    assert name in pdf_text(s3_object(f"certificates/{code}.pdf"))
    assert stack.api.get(f"/certificates/{code}", key=None).json()["name"] == name
