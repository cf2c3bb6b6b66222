"""Callbacks out: events reach every endpoint that asked, signed, retried with backoff, dead-lettered, replayable."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qs

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from gateway import aws, deliveries, events, webhooks
from gateway.config import get_settings
from tests.helpers import Receiver
from tests.integration import mailer
from tests.integration.test_results_intake import SEED, post_result


@pytest.fixture
def local(stack, monkeypatch):
    """The local stack's rules: loopback endpoints allowed, and fast retries."""
    monkeypatch.setenv("LOCAL_STACK", "true")
    monkeypatch.setenv("DELIVERY_RETRY_SCHEDULE", "0,0,0")
    get_settings.cache_clear()
    yield stack
    get_settings.cache_clear()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def drain(stack, queue_env: str, function_id: str, failed: list | None = None) -> int:
    """Run `function_id` on every message of a queue until it is empty (as the SQS trigger would). A
    failed message stays on the queue, invisible until its visibility timeout; `failed` collects them."""
    sqs, url, handled = boto3.client("sqs"), getattr(get_settings(), queue_env), 0
    handler = stack.api.handler(function_id)
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not got:
            return handled
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for m in got
        ]
        try:
            reply = handler(
                {"Records": records}, __import__("tests.helpers", fromlist=["LambdaContext"]).LambdaContext()
            )
            refused = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
        except BatchProcessingError:  # every record failed: the whole batch stays on the queue
            refused = {m["MessageId"] for m in got}
        for m in got:
            if m["MessageId"] not in refused:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            elif failed is not None:
                failed.append(m)
        handled += len(got)


def redeliver(queue_env: str, messages: list) -> None:
    """What SQS does once a failed message's visibility timeout has passed: it is received again."""
    sqs, url = boto3.client("sqs"), getattr(get_settings(), queue_env)
    for m in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)


class RefuseSend:
    """The next `times` SendMessage calls to one queue fail (botocore event hook on the process's client)."""

    def __init__(self, queue_url: str, times: int = 1) -> None:
        self.queue_url, self.left, self.refused = queue_url, times, 0
        aws.client("sqs").meta.events.register("before-parameter-build.sqs.SendMessage", self)

    def __call__(self, params, **_):
        if params.get("QueueUrl") == self.queue_url and self.left > 0:
            self.left -= 1
            self.refused += 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "SendMessage")

    def remove(self) -> None:
        aws.client("sqs").meta.events.unregister("before-parameter-build.sqs.SendMessage", self)


def pump(stack) -> None:
    while drain(stack, "events_queue_url", "DispatchFunction") + drain(
        stack, "delivery_queue_url", "DeliveryFunction"
    ):
        pass


def setup_track(stack, url, events=("completed",), fmt="itep-form", send_on_finish=False, code="RC"):
    reply = stack.api.post(
        "/v1/tracks",
        {"code": code, "url": url, "format": fmt, "events": list(events), "send-on-finish": send_on_finish},
    )
    assert reply.status == 200, reply.text
    stack.api.post(
        "/v1/test-ids",
        {"test-ids": [{"test-id": SEED["TestID"], "password": "pw", "test-type": "Academic-Plus"}]},
    )
    taken = stack.api.post(
        "/v1/fulfillments",
        {"product-code": "GTX-Academic-Plus", "track": code, "registration": {"trExternal_ID": "crm-4411"}},
    )
    assert taken.status == 201
    return reply.json()["signing-secret"]


def test_a_completed_result_reaches_the_track_as_the_seeds_form_field_signed(local, receiver):
    secret = setup_track(local, receiver.url)
    post_result(local, SEED)
    pump(local)
    [request] = receiver.requests
    # ONE form field `data` with the seed's JSON, OID filled from trExternal_ID
    form = parse_qs(request["body"].decode())
    assert list(form) == ["data"]
    data = json.loads(form["data"][0])
    assert data == {**SEED, "OID": "crm-4411"}
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    # Standard Webhooks signature over the raw body
    webhooks.verify(secret, request["headers"], request["body"])
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(secret, request["headers"], request["body"] + b"x")


def test_the_json_format_and_finished_only_when_asked(local, receiver):
    setup_track(local, receiver.url, events=("completed",), fmt="json", send_on_finish=True)
    post_result(local, {"TestID": SEED["TestID"], "Status": "Started"})
    post_result(local, {"TestID": SEED["TestID"], "Status": "Finished"})
    post_result(local, SEED)
    pump(local)
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["Status"] for b in bodies] == ["Finished", "Complete"]  # no Started: nobody asked
    assert all(r["headers"]["content-type"] == "application/json" for r in receiver.requests)


def test_failures_are_retried_with_the_same_webhook_id_until_success(local):
    receiver = Receiver(replies=[500, 503])
    try:
        setup_track(local, receiver.url)
        post_result(local, SEED)
        pump(local)
        assert len(receiver.requests) == 3
        assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
        [delivery] = local.api.get("/v1/deliveries").json()["items"]
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
        detail = local.api.get(f"/v1/deliveries/{delivery['id']}").json()
        assert [a["status-code"] for a in detail["attempt-log"]] == [500, 503, 200]
        # The listing shows the same attempts (status code, latency, error) without reading them apart
        listed = [(a["attempt"], a["status-code"], a["error"]) for a in delivery["attempt-log"]]
        assert listed == [(1, 500, "HTTP 500"), (2, 503, "HTTP 503"), (3, 200, None)]
        assert all(isinstance(a["latency-ms"], int) for a in delivery["attempt-log"])
        assert delivery["attempt-log"] == detail["attempt-log"]
    finally:
        receiver.close()


def test_after_the_last_retry_the_delivery_is_dead_lettered_and_can_be_replayed(local):
    receiver = Receiver(default=500)
    try:
        setup_track(local, receiver.url)
        post_result(local, SEED)
        pump(local)
        assert len(receiver.requests) == 4  # the first attempt and the three retries of the schedule
        [delivery] = local.api.get("/v1/deliveries", query={"status": "dead"}).json()["items"]
        dlq = boto3.client("sqs").receive_message(QueueUrl=get_settings().delivery_dead_letter_queue_url)
        assert json.loads(dlq["Messages"][0]["Body"])["delivery"] == delivery["id"]
        # When the endpoint is fixed and the delivery replayed
        receiver.default = 200
        replayed = local.api.post(f"/v1/deliveries/{delivery['id']}/replay")
        assert replayed.status == 200 and replayed.json()["status"] == "pending"
        pump(local)
        assert local.api.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "succeeded"
        assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    finally:
        receiver.close()


def admin_mail(address: str) -> list:
    """Run the mailer on what dispatch forwarded; then the e-mails moto's SES accepted for `address`."""
    mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    return [m for m in mailer.sent_messages() if address in m.destinations["ToAddresses"]]


def test_410_gone_disables_the_track_and_e_mails_the_units_admins_once(local):
    # Given a unit with an admin address, a track, and two completed tests whose deliveries are in flight
    ops = "ops@school.example.com"
    assert local.api.call("PUT", "/v1/notifications/settings", {"admin-emails": [ops]}).status == 200
    receiver = Receiver(replies=[410, 410])
    try:
        setup_track(local, receiver.url, events=("completed", "invalidated"))
        local.api.post(
            "/v1/test-ids",
            {"test-ids": [{"test-id": "SECOND01", "password": "pw", "test-type": "Academic-Plus"}]},
        )
        assert local.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus", "track": "RC"}).status == 201
        post_result(local, SEED)
        post_result(local, {**SEED, "TestID": "SECOND01"})
        drain(local, "events_queue_url", "DispatchFunction")
        # When the endpoint answers 410 Gone to both
        drain(local, "delivery_queue_url", "DeliveryFunction")
        # Then both deliveries are disabled after one attempt each
        items = local.api.get("/v1/deliveries").json()["items"]
        assert [(d["status"], d["attempts"]) for d in items] == [("disabled", 1)] * 2
        # And once dispatch forwarded the endpoint.disabled events, the admins got ONE e-mail naming the track
        pump(local)
        [mail] = admin_mail(ops)
        assert mail.subject == "Root: track:RC answered 410 Gone and is disabled"
        assert "track <strong>RC</strong> is disabled" in mail.body and receiver.url in mail.body
        # And later events are not sent to the disabled track
        post_result(local, {**SEED, "Overall_Level": "5.0"})  # a re-score: a new completed event
        pump(local)
        assert len(receiver.requests) == 2
        # When the track is saved again (enabled) and answers 410 again, that is a new disabling: a new e-mail
        track = {"code": "RC", "url": receiver.url, "format": "itep-form", "events": ["completed"]}
        assert local.api.post("/v1/tracks", track).status == 200
        receiver.default = 410
        post_result(local, {**SEED, "Overall_Level": "5.5"})
        pump(local)
        assert len(receiver.requests) == 3
        assert len(admin_mail(ops)) == 2
    finally:
        receiver.close()


def test_a_v2_callback_gets_the_seeds_callback_object_signed_with_the_keys_webhook_secret(local, receiver):
    key = local.api.post("/v1/api-keys", {"org-unit": local.root, "role": "integration"}).json()
    api = local.api.as_key(key["api-key"])
    inv = api.post(
        "/v2/tests/9/register", {"emailId": "cb@example.com", "fullName": "C B", "callbackURL": receiver.url}
    ).json()["result"]["testInvitationId"]
    post_result(
        local,
        {
            "TestInvitationId": inv,
            "Status": "Completed",
            "AttemptedOn": "2015-06-26T21:31:03.19",
            "TotalScore": 50,
            "CandidateScore": 34,
            "ReportPDFUrl": "https://engine.example.com/r.pdf",
        },
        form=False,
    )
    pump(local)
    [request] = receiver.requests
    assert json.loads(request["body"]) == {
        "CandidateEmailId": "cb@example.com",
        "AttemptedOn": "2015-06-26T21:31:03.19",
        "TotalScore": 50,
        "CandidateScore": 34,
        "ReportPDFUrl": "https://engine.example.com/r.pdf",
        "TestInvitationId": inv,
    }
    webhooks.verify(key["webhook-secret"], request["headers"], request["body"])


def test_410_gone_from_a_v2_callback_disables_it_until_the_candidate_is_registered_with_a_new_url(local):
    # Given a unit with an admin address, and a V2 registration whose callbackURL answers 410 Gone
    ops = "ops@school.example.com"
    assert local.api.call("PUT", "/v1/notifications/settings", {"admin-emails": [ops]}).status == 200
    gone, fresh = Receiver(default=410), Receiver()
    try:
        key = local.api.post("/v1/api-keys", {"org-unit": local.root, "role": "integration"}).json()
        api = local.api.as_key(key["api-key"])

        def register(url):
            body = {"emailId": "cb@example.com", "fullName": "C B", "callbackURL": url}
            reply = api.post("/v2/tests/9/register", body)
            assert reply.status == 200, reply.text
            return reply.json()["result"]["testInvitationId"]

        def invitation():
            return api.get(f"/v2/invitations/{inv}").json()["result"]

        inv = register(gone.url)
        assert (invitation()["callbackDisabled"], invitation()["callbackDisabledAt"]) == (False, None)
        v2 = {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 50, "CandidateScore": 34}
        # When the test completes and is re-scored at once, and both callbacks in flight answer 410 Gone
        post_result(local, v2, form=False)
        post_result(local, {**v2, "CandidateScore": 35}, form=False)
        pump(local)
        # Then both deliveries are disabled after one attempt each, and so is the invitation's callback
        items = local.api.get("/v1/deliveries").json()["items"]
        assert [(d["endpoint"], d["status"], d["attempts"]) for d in items] == [(f"callback:{inv}", "disabled", 1)] * 2
        view = invitation()
        assert view["callbackURL"] == gone.url and view["callbackDisabled"] is True and view["callbackDisabledAt"]
        # And the unit's admins got ONE e-mail naming the invitation and how to enable the callback again
        [mail] = admin_mail(ops)
        assert mail.subject == f"Root: callback:{inv} answered 410 Gone and is disabled"
        assert f"the callback of invitation <strong>{inv}</strong> is disabled" in mail.body and gone.url in mail.body
        # When the result is re-scored later, Then nothing is sent: the delivery is recorded as skipped
        post_result(local, {**v2, "CandidateScore": 40}, form=False)
        pump(local)
        assert len(gone.requests) == 2
        [skipped] = local.api.get("/v1/deliveries", query={"status": "skipped"}).json()["items"]
        assert (skipped["endpoint"], skipped["attempts"], skipped["url"]) == (f"callback:{inv}", 0, gone.url)
        assert "410 Gone" in skipped["last-error"]
        assert len(admin_mail(ops)) == 1  # no new e-mail: nothing new was disabled
        # When the candidate is registered again with the same callbackURL, Then it stays disabled
        assert register(gone.url) == inv
        assert invitation()["callbackDisabled"] is True
        # When registered again with a new callbackURL, Then the callback is enabled and the next re-score reaches it
        assert register(fresh.url) == inv
        assert (invitation()["callbackURL"], invitation()["callbackDisabled"]) == (fresh.url, False)
        post_result(local, {**v2, "CandidateScore": 41}, form=False)
        pump(local)
        [request] = fresh.requests
        assert json.loads(request["body"])["CandidateScore"] == 41 and len(gone.requests) == 2
        webhooks.verify(key["webhook-secret"], request["headers"], request["body"])
    finally:
        gone.close()
        fresh.close()


def test_a_410_from_a_callback_url_replaced_meanwhile_disables_nothing(local):
    # Given a completed V2 test whose callback delivery is queued, and the candidate registered again with a
    # new callbackURL before it is attempted
    old, new = Receiver(default=410), Receiver()
    try:
        key = local.api.post("/v1/api-keys", {"org-unit": local.root, "role": "integration"}).json()
        api = local.api.as_key(key["api-key"])
        body = {"emailId": "mv@example.com", "fullName": "M V", "callbackURL": old.url}
        inv = api.post("/v2/tests/9/register", body).json()["result"]["testInvitationId"]
        v2 = {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 50, "CandidateScore": 34}
        post_result(local, v2, form=False)
        drain(local, "events_queue_url", "DispatchFunction")
        assert api.post("/v2/tests/9/register", body | {"callbackURL": new.url}).status == 200
        # When the old URL answers 410 Gone
        pump(local)
        # Then that delivery stopped, but the invitation's (new) callback stays enabled and gets the re-score
        [delivery] = local.api.get("/v1/deliveries").json()["items"]
        assert (delivery["status"], delivery["url"]) == ("disabled", old.url)
        view = api.get(f"/v2/invitations/{inv}").json()["result"]
        assert (view["callbackURL"], view["callbackDisabled"]) == (new.url, False)
        post_result(local, {**v2, "CandidateScore": 36}, form=False)
        pump(local)
        assert [json.loads(r["body"])["CandidateScore"] for r in new.requests] == [36]
    finally:
        old.close()
        new.close()


def test_a_repeated_event_is_delivered_once(local, receiver):
    setup_track(local, receiver.url)
    post_result(local, SEED)
    post_result(local, SEED)  # a duplicate: the event is announced again with the same id
    pump(local)
    assert len(receiver.requests) == 1


def test_a_delivery_whose_queueing_failed_is_queued_again_when_the_event_comes_back(local, receiver):
    # Given a completed result for a track, and a delivery queue that refuses the next SendMessage
    setup_track(local, receiver.url)
    post_result(local, SEED)
    refusal = RefuseSend(get_settings().delivery_queue_url)
    try:
        # When dispatch runs: the delivery is stored, queueing it fails, so the event's record fails
        failed: list = []
        drain(local, "events_queue_url", "DispatchFunction", failed=failed)
    finally:
        refusal.remove()
    assert refusal.refused == 1 and len(failed) == 1
    [delivery] = local.api.get("/v1/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)
    assert drain(local, "delivery_queue_url", "DeliveryFunction") == 0  # nothing was queued
    # When SQS delivers the event again
    redeliver("events_queue_url", failed)
    pump(local)
    # Then the pending delivery was queued again and reached the receiver exactly once
    assert len(receiver.requests) == 1
    assert local.api.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "succeeded"
    # And the event announced once more (a duplicate result) queues nothing: it is no longer pending
    post_result(local, SEED)
    pump(local)
    assert len(receiver.requests) == 1


def test_ping_reports_the_endpoints_reply(local):
    receiver = Receiver(replies=[204])
    try:
        setup_track(local, receiver.url)
        reply = local.api.post("/v1/tracks/RC/ping")
        assert reply.status == 200 and reply.json()["ok"] is True and reply.json()["status-code"] == 204
    finally:
        receiver.close()


@pytest.mark.parametrize("fmt", ["itep-form", "json"])
def test_a_ping_comes_in_the_tracks_format_signed_with_its_id_as_webhook_id(local, receiver, fmt):
    # Given a track in format `fmt`
    secret = setup_track(local, receiver.url, fmt=fmt)
    # When it is pinged
    assert local.api.post("/v1/tracks/RC/ping").json()["ok"] is True
    # Then the receiver got the ping as it gets deliveries: itep-form is ONE form field `data` with the JSON
    [request] = receiver.requests
    if fmt == "itep-form":
        assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request["body"].decode())
        assert list(form) == ["data"]
        ping = json.loads(form["data"][0])
    else:
        assert request["headers"]["content-type"] == "application/json"
        ping = json.loads(request["body"])
    assert ping["type"] == "ping" and ping["data"] == {"track": "RC"} and ping["org-unit"] == local.root
    # And the body's id is the webhook-id a receiver de-duplicates on, signed over the raw body
    assert ping["id"] == request["headers"]["webhook-id"] and ping["id"].startswith("ping_")
    webhooks.verify(secret, request["headers"], request["body"])


def test_replay_by_time_range(local, receiver):
    setup_track(local, receiver.url)
    post_result(local, SEED)
    pump(local)
    reply = local.api.post("/v1/deliveries/replay", {"from": "2000-01-01", "to": "2999-01-01"})
    assert reply.status == 200 and reply.json()["replayed"] == 1 and reply.json()["next-cursor"] is None
    pump(local)
    assert len(receiver.requests) == 2
    bad = local.api.post("/v1/deliveries/replay", {"from": "2999-01-01", "to": "2000-01-01"})
    assert bad.status == 400 and bad.description == "to: must not be before from"
    # An unknown delivery is a 404 naming the path parameter, for one replay and for reading it
    for missing in (local.api.post("/v1/deliveries/dlv_nope/replay"), local.api.get("/v1/deliveries/dlv_nope")):
        assert missing.status == 404 and missing.description == "deliveryId: no delivery 'dlv_nope'"


OPS = {"code": "OPS", "format": "json", "events": ["assignment.expired"]}


def expired(stack, n: int) -> None:
    events.publish(
        f"assignment.expired:T{n}:2030",
        "assignment.expired",
        stack.root,
        f"/{stack.root}/",
        {"test-id": f"T{n}", "test-type": "Academic-Plus"},
    )


def listing(stack, **query) -> list[tuple[str, str]]:
    reply = stack.api.get("/v1/deliveries", query=query)
    assert reply.status == 200, reply.text
    return [(d["endpoint"], d["event-type"]) for d in reply.json()["items"]]


def test_the_listing_filters_by_endpoint_event_and_time(local, receiver, monkeypatch):
    # Given a completed result for track RC created on 1 January 2030, and an expiry for track OPS on 1 June
    setup_track(local, receiver.url)
    assert local.api.post("/v1/tracks", OPS | {"url": receiver.url}).status == 200
    post_result(local, SEED)
    monkeypatch.setattr(deliveries, "now_iso", lambda: "2030-01-01T00:00:00.000Z")
    drain(local, "events_queue_url", "DispatchFunction")
    expired(local, 1)
    monkeypatch.setattr(deliveries, "now_iso", lambda: "2030-06-01T00:00:00.000Z")
    drain(local, "events_queue_url", "DispatchFunction")
    rc, ops = ("track:RC", "completed"), ("track:OPS", "assignment.expired")
    # Then each filter, alone or combined, picks its deliveries (newest first)
    assert listing(local) == [ops, rc]
    assert listing(local, endpoint="track:RC") == [rc]
    assert listing(local, endpoint="track:OPS") == [ops]
    assert listing(local, event="assignment.expired") == [ops]
    assert listing(local, event="completed") == [rc]
    assert listing(local, endpoint="track:RC", event="assignment.expired") == []
    assert listing(local, **{"from": "2030-03-01"}) == [ops]
    assert listing(local, to="2030-03-01") == [rc]
    assert listing(local, **{"from": "2030-01-01", "to": "2030-01-01T00:00:00Z"}) == [rc]  # inclusive
    assert listing(local, **{"from": "2030-06-02"}) == []
    bad = local.api.get("/v1/deliveries", query={"from": "yesterday"})
    assert (bad.status, bad.description) == (400, "from: must be an ISO date or date-time (got 'yesterday')")


def test_the_listing_filters_by_status(local, receiver):
    # Given a delivery that succeeded (track RC) and one that is dead after its retries (track OPS)
    setup_track(local, receiver.url)
    failing = Receiver(default=500)
    try:
        assert local.api.post("/v1/tracks", OPS | {"url": failing.url}).status == 200
        post_result(local, SEED)
        expired(local, 1)
        pump(local)
    finally:
        failing.close()
    rc, ops = ("track:RC", "completed"), ("track:OPS", "assignment.expired")
    # Then the status filter alone picks each, and a status nothing has picks none
    assert listing(local, status="succeeded") == [rc]
    assert listing(local, status="dead") == [ops]
    assert listing(local, status="pending") == []
    assert listing(local, status="disabled") == []
    assert listing(local, status="dead", endpoint="track:RC") == []


@pytest.mark.parametrize("status", ["done", "Succeeded", "failed"])
def test_an_unknown_status_filter_is_a_400_naming_the_allowed_values(local, receiver, status):
    # Given a delivery, When the listing or a replay is asked for a status that does not exist
    setup_track(local, receiver.url)
    post_result(local, SEED)
    pump(local)
    before = local.snapshot(ignore=("IdempotencyTable",))
    listed = local.api.get("/v1/deliveries", query={"status": status})
    replayed = local.api.post("/v1/deliveries/replay", {"from": "2000-01-01", "to": "2999-01-01", "status": status})
    # Then both are a 400 naming the field and the allowed values (not an empty list), and nothing is replayed
    expected = f"status: must be one of {', '.join(deliveries.STATUSES)} (got '{status}')"
    assert (listed.status, listed.description) == (400, expected)
    assert (replayed.status, replayed.description) == (400, expected)
    assert local.snapshot(ignore=("IdempotencyTable",)) == before


def test_replaying_a_range_goes_page_by_page_and_a_4xx_replays_nothing(local, receiver):
    # Given three delivered expiry events for track OPS
    assert local.api.post("/v1/tracks", OPS | {"url": receiver.url}).status == 200
    for n in range(3):
        expired(local, n)
    pump(local)
    assert len(receiver.requests) == 3
    body = {"from": "2000-01-01", "to": "2999-01-01", "limit": 2}
    before = local.snapshot(ignore=("IdempotencyTable",))
    # When the range is replayed with a page of two: the first call replays two and says where to go on
    first = local.api.post("/v1/deliveries/replay", body)
    assert first.status == 200, first.text
    assert first.json()["replayed"] == 2 and first.json()["next-cursor"]
    # Then a 4xx replays nothing, whatever is wrong: dates, a cursor that is not ours, or not of this range
    after_first = local.snapshot(ignore=("IdempotencyTable",))
    assert after_first != before
    for wrong, description in (
        ({"from": "2999-01-01", "to": "2000-01-01"}, "to: must not be before from"),
        ({"cursor": "not-a-cursor"}, "cursor: is not a cursor this API issued"),
        (
            {"cursor": first.json()["next-cursor"], "from": "2999-01-01", "to": "2999-12-31"},
            "cursor: does not belong to this listing (same filters and from / to)",
        ),
    ):
        reply = local.api.post("/v1/deliveries/replay", body | wrong)
        assert (reply.status, reply.description) == (400, description)
        assert local.snapshot(ignore=("IdempotencyTable",)) == after_first
    # When the caller goes on with the cursor, the rest is replayed and the cursor ends
    second = local.api.post("/v1/deliveries/replay", body | {"cursor": first.json()["next-cursor"]})
    assert second.json()["replayed"] == 1 and second.json()["next-cursor"] is None
    assert len(set(first.json()["deliveries"]) | set(second.json()["deliveries"])) == 3
    pump(local)
    assert len(receiver.requests) == 6  # each of the three sent once more


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.1/hook", "10.0.0.1 is refused"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is refused"),
        ("https://localhost/hook", "host localhost resolves to 127.0.0.1"),
        ("https://[::1]/hook", "::1 is refused"),
        ("http://results.example.com/hook", "must be an https:// URL"),
    ],
)
def test_ssrf_targets_are_refused_when_saving_a_track(stack, url, reason):
    reply = stack.api.post("/v1/tracks", {"code": "X1", "url": url})
    assert reply.status == 400 and reply.description.startswith("url: ") and reason in reply.description


def test_a_name_resolving_to_loopback_is_refused_for_a_v2_callback(stack, monkeypatch):
    from gateway import ssrf

    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    reply = stack.api.post(
        "/v2/tests/1/register",
        {"emailId": "a@example.com", "fullName": "A", "callbackURL": "https://rebind.example.com/cb"},
    )
    assert reply.status == 400 and reply.description.startswith(
        "callbackURL: host rebind.example.com resolves to"
    )


def test_the_default_schedule_retries_for_about_three_days_with_jitter():
    # Given the default schedule and a seeded random source
    rng = random.Random(7)
    delays = []
    failures = 1
    while (delay := deliveries.next_delay(failures, rng)) is not None:
        delays.append(delay)
        failures += 1
    # Then there are 10 retries (11 attempts), the gaps grow, and the total is about three days
    assert len(delays) == 10
    assert delays[0] < 10 and delays[-1] > 20 * 3600
    assert 2.3 * 86400 < sum(delays) < 3.5 * 86400
    for i, delay in enumerate(delays):
        assert 0.8 * deliveries.SCHEDULE[i] <= delay <= 1.2 * deliveries.SCHEDULE[i]


def test_an_attempt_that_is_not_due_yet_waits_without_calling_the_endpoint(stack, monkeypatch):
    # Given a delivery that failed once under the default schedule (next attempt in about 5 s)
    monkeypatch.setenv("LOCAL_STACK", "true")
    get_settings.cache_clear()
    receiver = Receiver(replies=[500])
    try:
        setup_track(stack, receiver.url)
        post_result(stack, SEED)
        drain(stack, "events_queue_url", "DispatchFunction")
        [delivery_id] = [d["id"] for d in stack.api.get("/v1/deliveries").json()["items"]]
        clock = 1_000_000.0
        assert deliveries.deliver(delivery_id, now=clock) == "retrying"
        record = deliveries.repo.get(delivery_id)
        assert 4 <= record["next_attempt_at"] - clock <= 6
        # When the message comes back before it is due, nothing is sent
        assert deliveries.deliver(delivery_id, now=clock + 1) == "not due"
        assert len(receiver.requests) == 1
        # And once it is due, the next attempt goes out, with the same webhook-id
        assert deliveries.deliver(delivery_id, now=clock + 7) == "succeeded"
        assert len(receiver.requests) == 2
        assert receiver.requests[0]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]
    finally:
        receiver.close()
        get_settings.cache_clear()


def test_retry_delays_are_rounded_up_so_a_retry_never_arrives_early(stack, monkeypatch):
    # Given a delivery that fails once, with a next attempt due in 4.3 s
    monkeypatch.setenv("LOCAL_STACK", "true")
    get_settings.cache_clear()
    monkeypatch.setattr(deliveries, "next_delay", lambda failures, rng=None: 4.3)
    delays: list[int] = []

    def seen(params, **_):
        if params.get("QueueUrl") == get_settings().delivery_queue_url:
            delays.append(params["DelaySeconds"])

    receiver = Receiver(replies=[500])
    aws.client("sqs").meta.events.register("before-parameter-build.sqs.SendMessage", seen)
    try:
        setup_track(stack, receiver.url)
        post_result(stack, SEED)
        drain(stack, "events_queue_url", "DispatchFunction")
        [delivery_id] = [d["id"] for d in stack.api.get("/v1/deliveries").json()["items"]]
        delays.clear()
        clock = 1_000_000.0
        # When the attempt fails, then the retry is queued 5 s out (rounded up), never 4 s
        assert deliveries.deliver(delivery_id, now=clock) == "retrying"
        assert delays == [5]
        # When a message comes back 0.3 s before it is due, then it waits 1 s more, not 0 s
        assert deliveries.deliver(delivery_id, now=clock + 4.0) == "not due"
        assert delays == [5, 1]
        assert len(receiver.requests) == 1
    finally:
        aws.client("sqs").meta.events.unregister("before-parameter-build.sqs.SendMessage", seen)
        receiver.close()
        get_settings.cache_clear()
