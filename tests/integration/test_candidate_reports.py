"""XLSX reports (issue 6 §3): written with openpyxl, read back with openpyxl."""

from __future__ import annotations

import base64
import io
from urllib.parse import parse_qs, urlsplit

import boto3
from openpyxl import load_workbook

from gateway import reports
from gateway.config import get_settings
from tests.integration.test_candidates import all_pages, register
from tests.integration.test_results_intake import SEED, post_result

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(reply):
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"] == XLSX
    return load_workbook(io.BytesIO(base64.b64decode(reply.text)), read_only=True)


def rows(book, sheet):
    """Every row, padded to the header's width (read-only mode leaves trailing empty cells out)."""
    found = [list(r) for r in book[sheet].iter_rows(values_only=True)]
    width = len(found[0])
    return [r + [None] * (width - len(r)) for r in found]


def _candidate_with_results(stack):
    """A candidate with a V2 test re-scored once (two versions, the second with item responses) and an
    iTEP test ID assigned to its e-mail with the seed's result."""
    api = stack.api
    inv = register(api, "reported@example.com", "Rep Orted", test=31)
    base = {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 40}
    assert post_result(stack, base | {"CandidateScore": 30}, form=False).status == 200
    assert post_result(stack, base | {"CandidateScore": 33}, form=False).status == 200
    # The engine's item responses arrive with results once the certification work lands; stored the way
    # the result version keeps them.
    table = get_settings().candidates_table
    boto3.resource("dynamodb").Table(table).update_item(
        Key={"pk": f"RES#v2#{inv}", "sk": "V#00002"},
        UpdateExpression="SET #items = :items",
        ExpressionAttributeNames={"#items": "items"},
        ExpressionAttributeValues={":items": [
            {"item-id": "G-1", "skill": "Grammar", "level": "B1", "correct": True, "answer": "went",
             "statement": "Can use the past simple"},
            {"item-id": "R-7", "skill": "Reading", "level": "B2", "correct": False, "answer": "C",
             "statement": "Can follow an argument"},
        ]},
    )  # fmt: skip
    api.post(
        "/v1/test-ids", {"test-ids": [{"test-id": SEED["TestID"], "password": "pw", "test-type": "Academic"}]}
    )
    taken = api.post("/v1/fulfillments", {"product-code": "GTX-Academic", "email": "reported@example.com"})
    assert taken.status == 201, taken.text
    assert post_result(stack, SEED).status == 200
    return inv, all_pages(api, {"email": "reported@example.com"})[0]["id"]


def test_a_candidate_report_has_every_result_version_and_the_item_responses(stack):
    inv, cid = _candidate_with_results(stack)
    # When the candidate's report is asked for
    reply = stack.api.get(f"/v1/candidates/{cid}/report.xlsx")
    book = workbook(reply)
    assert 'filename="candidate-' in reply.headers["content-disposition"]
    # Then the results sheet has one row per test and result version
    results = rows(book, "Results")
    header = results[0]
    assert header[:10] == ["Candidate ID", "E-mail", "Full name", "Org unit", "Kind", "Test", "Test type",
                           "Status", "Version", "Received at"]  # fmt: skip
    body = [dict(zip(header, r, strict=True)) for r in results[1:]]
    v2 = [r for r in body if r["Kind"] == "v2"]
    assert [(r["Test"], r["Version"], r["CandidateScore"]) for r in v2] == [
        (str(inv), 1, 30),
        (str(inv), 2, 33),
    ]
    [itep] = [r for r in body if r["Kind"] == "itep"]
    assert (itep["Test"], itep["Test type"], itep["Overall_cefr"], itep["Overall_Level"]) == (
        SEED["TestID"],
        "Academic",
        "C1",
        4.5,
    )
    assert all(r["E-mail"] == "reported@example.com" and r["Candidate ID"] == cid for r in body)
    # And the item responses sheet has the engine's items
    items = rows(book, "Item responses")
    assert items[0] == ["Candidate ID", "E-mail", "Test", "Version", "item-id", "skill", "level", "correct",
                        "answer", "statement"]  # fmt: skip
    assert [r[4:] for r in items[1:]] == [
        ["G-1", "Grammar", "B1", True, "went", "Can use the past simple"],
        ["R-7", "Reading", "B2", False, "C", "Can follow an argument"],
    ]


def test_the_results_report_takes_the_search_filters(stack):
    _candidate_with_results(stack)
    register(stack.api, "other@example.com", "Other Person", test=32)
    register(stack.api, "rest@example.com", "Rest Person", test=32)
    everyone = rows(workbook(stack.api.get("/v1/reports/results.xlsx")), "Results")
    assert sorted({r[1] for r in everyone[1:]}) == [
        "other@example.com",
        "reported@example.com",
        "rest@example.com",
    ]
    # A candidate without results still has its test, with empty scores
    [other] = [r for r in everyone if r[1] == "other@example.com"]
    assert other[4:10] == ["v2", other[5], "32", "Registered", None, None]
    filtered = rows(
        workbook(stack.api.get("/v1/reports/results.xlsx", query={"email-prefix": "re"})), "Results"
    )
    assert sorted({r[1] for r in filtered[1:]}) == ["reported@example.com", "rest@example.com"]
    none = rows(workbook(stack.api.get("/v1/reports/results.xlsx", query={"name": "nobody"})), "Results")
    assert len(none) == 1  # the header alone
    bad = stack.api.get("/v1/reports/results.xlsx", query={"from": "soon"})
    assert bad.status == 400 and bad.description.startswith("from:")


def test_a_large_report_goes_to_s3_and_comes_back_as_a_presigned_link(stack, monkeypatch):
    _, cid = _candidate_with_results(stack)
    monkeypatch.setattr(reports, "DIRECT_LIMIT", 0)  # every report is "large"
    reply = stack.api.get(f"/v1/candidates/{cid}/report.xlsx")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json", reply.text
    link = reply.json()
    assert link["rows"] == 3 and link["expires-at"]
    url = urlsplit(link["report-url"])
    assert "X-Amz-Signature" in parse_qs(url.query)
    bucket = get_settings().imports_bucket
    key = url.path.lstrip("/").removeprefix(bucket + "/")  # path-style or virtual-hosted URL
    assert key.startswith("reports/candidates/") and key.endswith(".xlsx")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    book = load_workbook(io.BytesIO(body), read_only=True)
    assert len(rows(book, "Results")) == 4
