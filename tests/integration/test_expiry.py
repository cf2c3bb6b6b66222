"""Scheduled expiry of unused assignments: the sparse index, conditional releases, events, resumption."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from gateway import aws, events, expiry
from gateway.config import get_settings
from gateway.errors import Unavailable
from tests.helpers import LambdaContext, scheduled_event
from tests.integration.test_provisioning import add_ids

PAST_DATE, PAST_TIME, FUTURE = "2020-01-01", "2020-01-01T10:00:00+02:00", "2999-01-01"


def fulfil(stack, expire=None, **extra):
    body = {"product-code": "GTX-Academic-Plus", **extra}
    if expire is not None:
        body["assigned-to"] = {"student-name": "Mary Poppins", "expire": expire}
    reply = stack.api.post("/v1/fulfillments", body)
    assert reply.status == 201, reply.text
    return reply.json()


def raw(stack, test_id):
    return boto3.client("dynamodb").get_item(
        TableName=stack.table("InventoryTable"), Key={"pk": {"S": f"TID#{test_id}"}, "sk": {"S": "TID"}}
    )["Item"]


def published(kind=events.ASSIGNMENT_EXPIRED):
    sqs = boto3.client("sqs")
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=get_settings().events_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not got:
            return [e for e in found if e["type"] == kind]
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=get_settings().events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def assigned_at(stack, test_id):
    history = stack.api.get(f"/v1/test-ids/{test_id}").json()["history"]
    return [h for h in history if h["event"] == "assigned"][-1]["at"]


def run(stack):
    reply = stack.api.post("/v1/jobs/expire-assignments")
    assert reply.status == 200, reply.text
    return reply.json()


def test_an_expire_puts_the_assignment_in_the_expiry_index_and_a_release_takes_it_out(stack):
    add_ids(stack.api, 2)
    dated = fulfil(stack, FUTURE)
    plain = fulfil(stack)
    item = raw(stack, dated["test-id"])
    assert item["exp_pk"]["S"].startswith("EXP#") and item["exp_sk"]["S"].startswith("2999-01-02T00:00:00Z#")
    assert "exp_pk" not in raw(stack, plain["test-id"])  # no expire: not in the index
    assert stack.api.post(f"/v1/test-ids/{dated['test-id']}/release").status == 200
    assert "exp_pk" not in raw(stack, dated["test-id"])


def test_due_assignments_are_released_with_a_new_password_a_history_entry_and_one_event(stack):
    # Given two assignments past their expire date, one not yet due and one without an expire
    add_ids(stack.api, 5)
    due = [fulfil(stack, PAST_DATE, email="mary@example.com"), fulfil(stack, PAST_TIME)]
    later, plain = fulfil(stack, FUTURE), fulfil(stack)
    published()
    # When the job runs
    result = run(stack)
    # Then the two due ones are released: assigned-to cleared, new password, Ready, available, history
    assert result == {"examined": 2, "released": 2, "skipped": 0, "complete": True}
    for taken in due:
        view = stack.api.get(f"/v1/test-ids/{taken['test-id']}").json()
        assert view["available"] is True and view["assigned-to"] == {} and view["status"] == "Ready"
        assert view["password"] != taken["password"]
        assert [h["event"] for h in view["history"]] == ["added", "assigned", "expired"]
        assert "exp_pk" not in raw(stack, taken["test-id"])
    for kept in (later, plain):
        assert stack.api.get(f"/v1/test-ids/{kept['test-id']}").json()["available"] is False
    # And one assignment.expired event each, with a deterministic id and what was assigned
    sent = published()
    assert sorted(e["id"] for e in sent) == sorted(
        f"assignment.expired:{t['test-id']}:{assigned_at(stack, t['test-id'])}" for t in due
    )
    first = next(e for e in sent if e["data"]["test-id"] == due[0]["test-id"])
    assert first["data"]["assigned-to"] == {"student-name": "Mary Poppins", "expire": PAST_DATE}
    assert first["data"]["email"] == "mary@example.com" and first["org-unit"] == stack.root
    # And the released IDs can be handed out again
    assert stack.api.get("/v1/inventory").json()["available"] == 3


def test_the_job_is_idempotent(stack):
    add_ids(stack.api, 2)
    fulfil(stack, PAST_DATE)
    assert run(stack)["released"] == 1
    assert run(stack) == {"examined": 0, "released": 0, "skipped": 0, "complete": True}
    assert len(published()) == 1


def test_a_test_started_a_moment_before_the_release_is_left_alone(stack):
    # Given a due assignment whose candidate starts the test just as the job releases it
    add_ids(stack.api, 1)
    taken = fulfil(stack, PAST_DATE)
    other = boto3.client("dynamodb")

    def start_first(params, **_):
        if "pending_event" in params.get("UpdateExpression", ""):
            other.update_item(
                TableName=stack.table("InventoryTable"),
                Key={"pk": {"S": f"TID#{taken['test-id']}"}, "sk": {"S": "TID"}},
                UpdateExpression="SET #s = :s REMOVE avail_pk, avail_sk",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "Started"}},
            )

    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.UpdateItem", start_first)
    try:
        result = run(stack)
    finally:
        aws.dynamodb().meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", start_first)
    # Then the release does not happen: the test stays started and assigned, no event goes out
    assert result == {"examined": 1, "released": 0, "skipped": 1, "complete": True}
    view = stack.api.get(f"/v1/test-ids/{taken['test-id']}").json()
    assert view["status"] == "Started" and view["assigned-to"]["student-name"] == "Mary Poppins"
    assert view["password"] == taken["password"] and published() == []
    # And the stale entry left the index: the next run reads nothing
    assert run(stack)["examined"] == 0


def test_a_started_test_leaves_the_index_when_its_result_comes_in(stack):
    from gateway.repo import results as results_repo

    add_ids(stack.api, 1)
    taken = fulfil(stack, PAST_DATE)
    results_repo.apply(
        "itep",
        taken["test-id"],
        None,
        {"status": "Started", "result_digest": "d1"},
        {"at": "x", "event": "s"},
        None,
    )
    assert "exp_pk" not in raw(stack, taken["test-id"])
    assert run(stack)["examined"] == 0


def test_a_run_that_stopped_before_its_event_went_out_sends_it_next_time(stack, monkeypatch):
    # Given a run whose event publishing fails after the release (queue down, or a crash)
    add_ids(stack.api, 2)
    taken = fulfil(stack, PAST_DATE)
    real = events.publish

    def down(*_args, **_kwargs):
        raise Unavailable("events: the event queue is unavailable; retry")

    monkeypatch.setattr(events, "publish", down)
    first = run(stack)
    assert first["released"] == 1 and published() == []
    assert raw(stack, taken["test-id"])["exp_sk"]["S"].startswith("!")  # released, event pending
    # When the next run comes
    monkeypatch.setattr(events, "publish", real)
    second = run(stack)
    # Then it publishes the pending event (same id) and releases nothing twice
    assert second == {"examined": 1, "released": 0, "skipped": 0, "complete": True}
    sent = published()
    assert [e["id"] for e in sent] == [
        f"assignment.expired:{taken['test-id']}:{assigned_at(stack, taken['test-id'])}"
    ]
    view = stack.api.get(f"/v1/test-ids/{taken['test-id']}").json()
    assert [h["event"] for h in view["history"]].count("expired") == 1
    assert run(stack)["examined"] == 0


def test_a_run_out_of_time_is_resumed_by_the_next_and_nothing_is_lost_or_doubled(stack, monkeypatch):
    add_ids(stack.api, 12)
    due = [fulfil(stack, PAST_DATE)["test-id"] for _ in range(10)]
    monkeypatch.setattr(expiry, "PAGE", 2)
    clock = iter(range(10**6))
    monkeypatch.setattr(expiry.time, "monotonic", lambda: float(next(clock)))
    partial = expiry.run(deadline=3.0)
    assert partial.complete is False and 0 < partial.released < 10
    monkeypatch.undo()
    rest = expiry.run(deadline=time.monotonic() + 60)
    assert rest.complete is True and partial.released + rest.released == 10
    assert sorted(e["data"]["test-id"] for e in published()) == sorted(due)


def test_items_read_grow_with_due_assignments_not_with_the_inventory(stack):
    add_ids(stack.api, 60)
    for _ in range(5):
        fulfil(stack, FUTURE)
    for _ in range(3):
        fulfil(stack, PAST_TIME)
    read = []

    def count(parsed, model, **_):
        if model.name == "Query":
            read.append(parsed.get("ScannedCount", 0))

    aws.dynamodb().meta.events.register("after-call.dynamodb.Query", count)
    try:
        result = run(stack)
    finally:
        aws.dynamodb().meta.events.unregister("after-call.dynamodb.Query", count)
    assert result["released"] == 3 and sum(read) == 3


def test_only_a_root_admin_may_run_the_job_now(stack):
    unit = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    child_admin = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": "admin"}).json()["api-key"]
    reply = stack.api.as_key(child_admin).post("/v1/jobs/expire-assignments")
    assert reply.status == 403 and reply.json() == {
        "statuscode": "403.1",
        "description": "x-api-key: only an admin key of the root organisation unit may run jobs",
    }
    root_integration = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()
    assert stack.api.as_key(root_integration["api-key"]).post("/v1/jobs/expire-assignments").status == 403
    assert stack.api.post("/v1/jobs/expire-assignments", key=None).status == 401
    assert stack.api.get("/v1/jobs/expire-assignments").status == 405


def test_the_schedule_runs_the_same_job(stack):
    add_ids(stack.api, 1)
    fulfil(stack, PAST_DATE)
    result = stack.api.handler("ExpiryFunction")(scheduled_event(), LambdaContext())
    assert result == {"examined": 1, "released": 1, "skipped": 0, "complete": True}


@pytest.mark.parametrize(
    ("expire", "due"),
    [
        ("2024-09-01", "2024-09-02T00:00:00Z"),
        ("2024-09-01T10:30:00Z", "2024-09-01T10:30:00Z"),
        ("2024-09-01T10:30:00", "2024-09-01T10:30:00Z"),
        ("2024-09-01T10:30:00+02:00", "2024-09-01T08:30:00Z"),
    ],
)
def test_expire_dates_and_times_and_when_they_are_due(expire, due):
    assert expiry.due_at(expire) == due


def test_nan_or_infinity_in_assigned_to_is_a_400_not_a_crash(stack):
    add_ids(stack.api, 1)
    reply = stack.api.post(
        "/v1/fulfillments", '{"product-code": "GTX-Academic-Plus", "assigned-to": {"n": [NaN]}}'
    )
    assert reply.status == 400
    assert reply.description == "assigned-to: must not hold NaN or Infinity (not JSON numbers)"
