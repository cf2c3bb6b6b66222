"""Privacy: export everything held about a candidate; erase it everywhere, keeping anonymous figures only."""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest

from gateway import certification, notify
from gateway.config import get_settings
from gateway.repo import values
from tests.integration import mailer, test_deliveries
from tests.integration.certification_helpers import items, run_certificates, set_catalogue, v2_result
from tests.integration.test_certification import B1_PASS
from tests.integration.test_deliveries import pump, setup_track
from tests.integration.test_notifications import feed_back, ses_event
from tests.integration.test_results_intake import SEED, post_result

EMAIL = "Mary.Poppins@example.com"
NAME = "Mary Poppins"
OTHER = "other.person@example.com"
TRACES = ("mary.poppins@example.com", "poppins")
local, receiver = test_deliveries.local, test_deliveries.receiver  # the delivery tests' fixtures


def _register(api, email, name, callback):
    reply = api.post("/v2/tests/77/register", {"emailId": email, "fullName": name, "callbackURL": callback})
    assert reply.status == 200, reply.text
    inv = reply.json()["result"]["testInvitationId"]
    return inv, api.get(f"/v2/invitations/{inv}").json()["result"]["candidateId"]


@pytest.fixture
def seeded(local, receiver):
    """A candidate seeded through the real flows: a V2 registration with a callback, a fulfilment naming
    them (assigned-to, registration, Idempotency-Key), an iTEP result to a track, a V2 result to the
    callback, and an import upload and report that mention them; plus another candidate left alone."""
    stack = local
    key = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()
    api = stack.api.as_key(key["api-key"])
    inv, candidate = _register(api, EMAIL, NAME, receiver.url)
    other_inv, other = _register(api, OTHER, "Other Person", receiver.url)
    setup_track(stack, receiver.url)  # claims SEED's test ID for nobody in particular: release it first
    stack.api.post(f"/v1/test-ids/{SEED['TestID']}/release")
    taken = stack.api.post(
        "/v1/fulfillments",
        {
            "product-code": "GTX-Academic-Plus",
            "track": "RC",
            "email": EMAIL,
            "assigned-to": {"student-name": NAME, "customer-candidate-id": 9810283},
            "registration": {"trExternal_ID": "crm-4411", "First_Name": "Mary", "Last_Name": "Poppins"},
        },
        headers={"Idempotency-Key": "order-9810283"},
    )
    assert taken.status == 201, taken.text
    assert post_result(stack, SEED).status == 200
    for invitation in (inv, other_inv):
        completed = {
            "TestInvitationId": invitation,
            "Status": "Completed",
            "TotalScore": 50,
            "CandidateScore": 34,
        }
        assert post_result(stack, completed, form=False).status == 200
    pump(stack)
    assert len(receiver.requests) == 3  # the track's form, two V2 callbacks
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    s3.put_object(
        Bucket=bucket,
        Key=f"imports/{stack.root}/imp_0001.csv",
        Body=f'Test ID,Password,Test Type,Assigned To\nT1,pw,Academic,"{{""email"": ""{EMAIL}""}}"\n'.encode(),
    )
    report = f"row,test-id,outcome,reason\n2,T1,skipped,assigned to {NAME}\n3,T2,added,\n"
    s3.put_object(Bucket=bucket, Key=f"reports/{stack.root}/imp_0001.csv", Body=report.encode())
    return {"stack": stack, "candidate": candidate, "other": other, "invitation": inv}


def _everything(stack) -> list[str]:
    """Every item of every table and every version of every object, as text (delivery bodies decoded)."""
    texts = []
    for logical_id in stack.resources.tables:
        for item in stack.items(logical_id):
            text = json.dumps(item)
            body = item.get("body", {}).get("S")
            if body:
                text += base64.b64decode(body).decode("utf-8", "replace")
            texts.append(f"{logical_id}: {text}")
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        data = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        texts.append(f"s3 {version['Key']}: {data.decode('utf-8', 'replace')}")
    return texts


def _traces(stack) -> list[str]:
    return [t[:300] for t in _everything(stack) if any(trace in t.casefold() for trace in TRACES)]


def test_export_returns_everything_held_about_the_candidate(seeded):
    stack = seeded["stack"]
    # When the candidate's data is exported
    reply = stack.api.get(f"/v1/candidates/{seeded['candidate']}/export")
    # Then it holds their profile, invitation with its result, test ID with registration and result,
    # and the callbacks sent about them
    assert reply.status == 200, reply.text
    data = reply.json()
    assert data["profile"]["email"] == EMAIL and data["profile"]["full-name"] == NAME
    [invitation] = data["invitations"]
    assert (
        invitation["invitation-id"] == seeded["invitation"]
        and invitation["results"][0]["result"]["TotalScore"] == 50
    )
    [test] = data["test-ids"]
    assert test["test-id"] == SEED["TestID"] and test["registration"]["Last_Name"] == "Poppins"
    assert test["results"][0]["result"]["Overall_Level"] == 4.5 and "password" not in test
    assert {d["endpoint"] for d in data["deliveries"]} == {"track:RC", f"callback:{seeded['invitation']}"}


def test_delete_erases_every_trace_and_keeps_anonymous_figures(seeded):
    stack = seeded["stack"]
    # Given the candidate's e-mail and name are stored in tables and the bucket
    assert _traces(stack)
    # When an admin erases the candidate
    reply = stack.api.delete(f"/v1/candidates/{seeded['candidate']}")
    # Then it succeeds, saying what it erased
    assert reply.status == 200, reply.text
    counts = reply.json()
    assert counts["invitations"] == 1 and counts["test-ids"] == 1 and counts["deliveries"] == 2
    assert counts["results"] == 2 and counts["objects"] == 2 and counts["idempotency-records"] >= 1
    # And no table item and no object version anywhere holds their e-mail or name
    assert _traces(stack) == []
    # And the anonymous figures stay: result levels without identity, erasures counted per unit
    results = [json.dumps(i) for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("RES#itep#")]
    assert results and '"Overall_Level"' in results[0] and '"raw"' not in results[0]
    [stats] = [i for i in stack.items("CandidatesTable") if i["pk"]["S"] == f"STATS#{stack.root}"]
    assert stats["erased_candidates"]["N"] == "1"
    # And the test ID stays used (never available again), the other rows of the report stay
    test = stack.api.get(f"/v1/test-ids/{SEED['TestID']}").json()
    assert (
        test["status"] == "Completed"
        and test["assigned-to"]
        and "registration" not in json.dumps(test["assigned-to"])
    )
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    report = s3.get_object(Bucket=bucket, Key=f"reports/{stack.root}/imp_0001.csv")["Body"].read().decode()
    assert "T2,added" in report and "T1" not in report
    # And the other candidate is untouched
    assert stack.api.get(f"/v1/candidates/{seeded['other']}/export").json()["profile"]["email"] == OTHER
    assert any(OTHER in t for t in _everything(stack))


def test_a_second_delete_is_a_404_and_so_is_the_export(seeded):
    stack = seeded["stack"]
    assert stack.api.delete(f"/v1/candidates/{seeded['candidate']}").status == 200
    # When the erasure is asked again
    again = stack.api.delete(f"/v1/candidates/{seeded['candidate']}")
    # Then the candidate is not found, and nothing changes
    assert again.status == 404 and again.json()["statuscode"] == "404.2"
    assert again.json()["description"].startswith("candidateId: no candidate")  # names the path parameter
    assert stack.api.get(f"/v1/candidates/{seeded['candidate']}/export").status == 404


def test_erasure_is_admin_only_and_scoped(seeded):
    stack = seeded["stack"]
    support = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "support"}).json()["api-key"]
    assert stack.api.as_key(support).delete(f"/v1/candidates/{seeded['candidate']}").status == 403
    child = stack.api.post("/v1/org-units", {"name": "Elsewhere"}).json()["id"]
    admin = stack.api.post("/v1/api-keys", {"org-unit": child, "role": "admin"}).json()["api-key"]
    # A child unit's admin cannot see a candidate of the parent unit
    assert stack.api.as_key(admin).delete(f"/v1/candidates/{seeded['candidate']}").status == 403
    assert stack.api.as_key(admin).get(f"/v1/candidates/{seeded['candidate']}/export").status == 403
    assert _traces(stack)  # nothing was erased


def test_an_expiry_event_still_to_send_goes_out_without_them(seeded):
    # Given a released test ID whose assignment.expired event (naming the candidate) is still to be sent
    stack = seeded["stack"]
    stack.api.post(
        "/v1/test-ids", {"test-ids": [{"test-id": "PEND1", "password": "p", "test-type": "Academic"}]}
    )
    pending = {"id": "assignment.expired:PEND1:x", "unit_id": stack.root, "unit_path": f"/{stack.root}/",
               "data": {"test-id": "PEND1", "assigned-to": {"student-name": NAME}, "email": EMAIL}}  # fmt: skip
    boto3.client("dynamodb").update_item(
        TableName=stack.table("InventoryTable"),
        Key={"pk": {"S": "TID#PEND1"}, "sk": {"S": "TID"}},
        UpdateExpression="SET pending_event = :p",
        ExpressionAttributeValues=values({":p": pending}),
    )
    # When the candidate is erased
    assert stack.api.delete(f"/v1/candidates/{seeded['candidate']}").status == 200
    # Then the event is kept, without them, and the test stays available (it was released)
    assert _traces(stack) == []
    [item] = [i for i in stack.items("InventoryTable") if i["pk"]["S"] == "TID#PEND1"]
    assert item["pending_event"]["M"]["id"]["S"] == pending["id"] and "avail_pk" in item
    assert "assigned_to" not in item


# ------------------------------------------------------------- e-mail, certification, search, transfer
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _mails_to(address):
    return [m for m in mailer.sent_messages() if address in m.destinations["ToAddresses"]]


@pytest.fixture
def certified(seeded):
    """On top of `seeded`, through the real flows: the candidate invited to a certification test with
    "sendEmail": true (the mailer sends the invitation and, after the result, the completion e-mail), a
    passing result with items that issues a certificate naming them, a permanent bounce that suppresses
    their address, then a transfer of the candidate (invitations and test ID moved) to a child unit."""
    stack = seeded["stack"]
    set_catalogue(stack.api)
    reply = stack.api.post("/v2/tests/901/register", {"emailId": EMAIL, "fullName": NAME, "sendEmail": True})
    assert reply.status == 200, reply.text
    inv = int(reply.json()["result"]["testInvitationId"])
    assert stack.api.get(f"/v2/invitations/{inv}").json()["result"]["candidateId"] == seeded["candidate"]
    mailer.run_mailer()  # the invitation, and the completion e-mails of the seeded results
    before = len(_mails_to(EMAIL))
    v2_result(stack, inv, None, None, Items=items(B1_PASS))
    assert run_certificates(stack) == {"batchItemFailures": []}
    mailer.run_mailer()
    assert len(_mails_to(EMAIL)) == before + 1  # the completion of the certification test
    mail_id = notify.mail_id(f"invitation.email:{inv}", EMAIL)
    feed_back(ses_event("Bounce", mail_id, address=EMAIL))
    code = certification.certificate_code("v2", str(inv))
    assert stack.api.get(f"/certificates/{code}", key=None).json()["name"] == NAME
    child = stack.api.post("/v1/org-units", {"name": "Branch"}).json()["id"]
    moved = stack.api.post(f"/v1/candidates/{seeded['candidate']}/transfer", {"org-unit": child})
    assert moved.status == 200, moved.text
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    s3.put_object(Bucket=bucket, Key=CANDIDATE_REPORT.format(root=stack.root), Body=_xlsx([EMAIL, NAME]))
    return seeded | {"certified": inv, "code": code, "child": child}


CANDIDATE_REPORT = "reports/candidates/{root}/r1/candidates.xlsx"  # a large report, handed out by link


def _xlsx(row):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["E-mail", "Full name"])
    book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _reports(stack):
    return {name: stack.api.get(f"/v1/reports/{name}", query=MARCH).json() for name in ("cant-do", "ct-log")}


def _certificate_pdfs():
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    listed = s3.list_object_versions(Bucket=bucket, Prefix="certificates/")
    return [v["Key"] for v in listed.get("Versions", [])]


def test_export_includes_mail_history_outcomes_certificates_and_transfers(certified):
    stack, code = certified["stack"], certified["code"]
    # When the candidate's data is exported
    reply = stack.api.get(f"/v1/candidates/{certified['candidate']}/export")
    # Then it holds the e-mails sent to them, the suppression of their address, the outcome, CT status,
    # certificate (code and status) and the transfer
    assert reply.status == 200, reply.text
    data = reply.json()
    assert {m["template"] for m in data["emails"]} >= {"invitation", "test-completed"}
    assert all(m["recipient"] == EMAIL for m in data["emails"])
    [suppression] = data["suppressions"]
    assert suppression["email"] == EMAIL and suppression["reason"] == "bounce"
    [outcome] = data["outcomes"]
    assert outcome["result"] == "passed" and outcome["certificate"] == code
    assert [s["status"] for s in data["ct-status"]] == ["passed"]
    assert data["certificates"] == [
        {"code": code, "status": "valid", "name": NAME, "test-type": "CT-B1", "level": "B1",
         "issued-on": "2026-03-10", "revoked-at": None}
    ]  # fmt: skip
    [transfer] = data["transfers"]
    assert transfer["detail"] == {"from": stack.root, "to": certified["child"]}
    assert {i["invitation-id"] for i in data["invitations"]} == {
        certified["invitation"],
        certified["certified"],
    }


def test_delete_erases_mail_certificates_and_search_keeping_report_figures(certified):
    stack, code, cid = certified["stack"], certified["code"], certified["candidate"]
    reports = _reports(stack)
    assert reports["ct-log"]["items"][0]["passes"] == 1 and reports["cant-do"]["candidates"] == 1
    s3, bucket = boto3.client("s3"), get_settings().imports_bucket
    report = CANDIDATE_REPORT.format(root=stack.root)
    assert (
        _certificate_pdfs()
        and _traces(stack)
        and s3.list_object_versions(Bucket=bucket, Prefix=report).get("Versions")
    )
    # When an admin erases the transferred candidate
    reply = stack.api.delete(f"/v1/candidates/{cid}")
    # Then it says what it erased: mail records, the suppression (hashed), outcome, CT status, certificate
    assert reply.status == 200, reply.text
    counts = reply.json()
    assert counts["invitations"] == 2 and counts["test-ids"] == 1 and counts["emails"] >= 3
    assert counts["suppressions"] == 1 and counts["outcomes"] == 1 and counts["ct-statuses"] == 1
    assert counts["certificates"] == 1
    # And no table item and no object version anywhere holds their e-mail or name, no certificate PDF stays
    assert _traces(stack) == []
    assert _certificate_pdfs() == []
    # (a candidate XLSX report naming them is a zip: checked by key, every version gone)
    assert s3.list_object_versions(Bucket=bucket, Prefix=report).get("Versions", []) == []
    # And the public verification reveals nothing about the holder
    verified = stack.api.get(f"/certificates/{code}", key=None)
    assert verified.status == 200 and verified.json() == {
        "code": code, "status": "erased", "name": None, "org-unit": None, "test-type": None, "level": None,
        "cefr": None, "issued-on": None, "revoked-on": None,
    }  # fmt: skip
    # And no search finds them: by e-mail, e-mail prefix, name, or in the unit they were moved to
    for query in (
        {"email": EMAIL},
        {"email-prefix": "mary"},
        {"name": NAME},
        {"org-unit": certified["child"]},
    ):
        found = stack.api.get("/v1/candidates", query=query)
        assert found.status == 200 and found.json()["items"] == [], query
    # And their outcome history is gone, while the can't-do and CT-log reports give the same figures
    assert stack.api.get("/v1/outcomes", query={"candidate-id": cid}).status == 404
    assert _reports(stack) == reports


def test_an_erased_address_stays_suppressed_by_its_hash(certified):
    stack = certified["stack"]
    assert stack.api.delete(f"/v1/candidates/{certified['candidate']}").status == 200
    # Given the erasure kept the suppression as a keyed hash only
    [entry] = stack.api.get("/v1/notifications/suppressions").json()["items"]
    assert entry["email"] == "(erased)" and entry["reason"] == "bounce"
    sent = len(_mails_to(EMAIL))
    # When the same address is invited again with "sendEmail": true
    again = stack.api.post("/v2/tests/901/register", {"emailId": EMAIL, "fullName": NAME, "sendEmail": True})
    assert again.status == 200, again.text
    mailer.run_mailer()
    # Then nothing is sent to it: the hash still blocks the address
    inv = again.json()["result"]["testInvitationId"]
    assert len(_mails_to(EMAIL)) == sent
    record = notify.repo.get_mail(notify.mail_id(f"invitation.email:{inv}", EMAIL))
    assert record is not None and record["status"] == "suppressed"
    # And an admin who knows the address can still lift it
    lifted = stack.api.delete("/v1/notifications/suppressions", query={"email": EMAIL})
    assert lifted.status == 200 and stack.api.get("/v1/notifications/suppressions").json()["items"] == []
