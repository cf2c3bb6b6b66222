"""The API over HTTP on the local stack: the seed's request, docs, routing errors, concurrent duplicates."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests

from local.cfn import Template
from tests.helpers import TEMPLATE

SEED_CURL_BODY = '{"emailId":"%s","fullName":"Amit Mishra", "callbackURL":"", "redirectURL":""}'


def _post(stack, path, body, key=None, content_type="application/json;charset=utf-8"):
    return requests.post(
        stack.base_url + path,
        data=body if isinstance(body, str) else json.dumps(body),
        headers={"x-api-key": key or stack.admin_key, "content-type": content_type},
        timeout=30,
    )


def _table_items(stack, logical_id):
    client = boto3.client("dynamodb", endpoint_url=stack.moto_url)
    table = Template.load(TEMPLATE).physical_name(logical_id)
    return [i for page in client.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]


def test_health_openapi_and_swagger_are_public(local_stack):
    assert requests.get(local_stack.base_url + "/health", timeout=10).status_code == 200
    swagger = requests.get(local_stack.base_url + "/swagger", timeout=10)
    assert swagger.status_code == 200 and "text/html" in swagger.headers["content-type"]


def test_the_openapi_document_covers_every_route_of_the_template(local_stack):
    # Given the API routes declared in template.yaml
    declared = {r.path for r in Template.load(TEMPLATE).api_routes()} - {"/openapi.json", "/swagger"}
    # When the document is fetched
    document = requests.get(local_stack.base_url + "/openapi.json", timeout=10).json()
    # Then each declared path is documented, with the API key scheme and the error envelope
    assert declared <= set(document["paths"]), declared - set(document["paths"])
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    register = document["paths"]["/v2/tests/{testId}/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RegisterRequest"
    )
    assert "ErrorEnvelope" in document["components"]["schemas"]
    assert {"400", "401", "403", "413", "415"} <= set(register["responses"])


def test_the_seed_curl_request_registers_a_candidate_over_http(local_stack):
    # Given the seed's curl request with a real e-mail and the local admin key
    reply = _post(local_stack, "/v2/tests/2256/register", SEED_CURL_BODY % "amit.http@example.com")
    # Then it succeeds with the seed's envelope
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["statuscode"], body["description"]) == ("200.1", "The request has succeeded.")
    invitation = requests.get(
        f"{local_stack.base_url}/v2/invitations/{body['result']['testInvitationId']}",
        headers={"x-api-key": local_stack.admin_key},
        timeout=10,
    ).json()["result"]
    assert invitation["emailId"] == "amit.http@example.com" and invitation["testId"] == 2256


def test_concurrent_duplicate_registrations_produce_one_invitation(local_stack):
    # Given 16 clients posting the same candidate at the same moment (the e-mail in different cases)
    emails = ["race.candidate@example.com", "Race.Candidate@example.com", "RACE.CANDIDATE@EXAMPLE.COM"]
    bodies = [SEED_CURL_BODY % emails[i % 3] for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda body: _post(local_stack, "/v2/tests/777/register", body), bodies))
    # Then every client gets the same invitation
    assert [r.status_code for r in replies] == [200] * 16, [r.text for r in replies if r.status_code != 200]
    ids = {r.json()["result"]["testInvitationId"] for r in replies}
    assert len(ids) == 1
    # And exactly one invitation and one candidate are stored for that e-mail
    mine = [
        i
        for i in _table_items(local_stack, "CandidatesTable")
        if i.get("email_lower", {}).get("S") == "race.candidate@example.com"
    ]
    assert sorted(i["entity"]["S"] for i in mine) == ["candidate", "invitation"]


@pytest.mark.parametrize(
    ("method", "path", "status", "statuscode"),
    [
        ("GET", "/no/such/route", 404, "404.1"),
        ("GET", "/v2/tests/1/register", 405, "405.1"),
        ("PUT", "/v1/org-units", 405, "405.1"),
    ],
)
def test_unknown_routes_and_wrong_methods(local_stack, method, path, status, statuscode):
    reply = requests.request(
        method, local_stack.base_url + path, headers={"x-api-key": local_stack.admin_key}, timeout=10
    )
    assert reply.status_code == status and reply.json()["statuscode"] == statuscode
    if status == 405:
        assert reply.headers["allow"]


def test_a_body_over_64_kib_is_413_and_writes_nothing(local_stack):
    before = _table_items(local_stack, "CandidatesTable")
    big = json.dumps({"emailId": "big@example.com", "fullName": "B", "pad": "x" * 70_000})
    reply = _post(local_stack, "/v2/tests/1/register", big)
    assert reply.status_code == 413 and reply.json() == {
        "statuscode": "413.1",
        "description": "body: larger than 64 KiB",
    }
    assert len(_table_items(local_stack, "CandidatesTable")) == len(before)
