"""Low-stock warnings (one e-mail and one event per crossing, re-armed by a refill) and the burn rate."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from gateway import aws, stock
from gateway.repo import batch
from tests.integration.harness import Importer, csv_file
from tests.integration.test_expiry import PAST_DATE, fulfil, published
from tests.integration.test_expiry import run as run_expiry
from tests.integration.test_provisioning import add_ids, sent_mail

ADMINS = ["ops@school.example.com", "head@school.example.com"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    stock.forget_cache()
    yield
    stock.forget_cache()


def set_threshold(stack, threshold, test_type="Academic-Plus", notify=ADMINS, **extra):
    return stack.api.call(
        "PUT",
        "/v1/inventory/thresholds",
        {"test-type": test_type, "threshold": threshold, "notify": notify, **extra},
    )


def take(stack, n=1):
    for _ in range(n):
        assert stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).status == 201


def warnings_sent(before):
    return [m for m in sent_mail()[before:] if m.subject.startswith("Low stock")]


@pytest.mark.parametrize(
    ("body", "status", "description"),
    [
        (
            {"test-type": "Academic-Plus", "threshold": 5, "notify": ["not-mail"]},
            400,
            "notify: must be a valid e-mail",
        ),
        (
            {"test-type": "Academic-Plus", "threshold": -1, "notify": ADMINS},
            400,
            "threshold: must be at least 0",
        ),
        (
            {"test-type": "Academic-Plus", "threshold": "x", "notify": ADMINS},
            400,
            "threshold: must be an integer",
        ),
        ({"threshold": 5, "notify": ADMINS}, 400, "test-type: is required"),
        (
            {"test-type": "Bad Type!", "threshold": 5, "notify": ADMINS},
            400,
            "test-type: must be 1-63 letters",
        ),
        (
            {"test-type": "A", "threshold": 5, "notify": ADMINS, "org-unit": "ou_nope"},
            404,
            "org-unit: no organisation",
        ),
        ({"test-type": "A", "threshold": 5, "notify": ADMINS * 6}, 400, "notify: "),
    ],
)
def test_bad_thresholds_are_refused_naming_the_field(stack, body, status, description):
    reply = stack.api.call("PUT", "/v1/inventory/thresholds", body)
    assert reply.status == status and reply.description.startswith(description), reply.text
    assert stack.api.get("/v1/inventory/thresholds").json() == {"items": []}


def test_only_admins_set_thresholds(stack):
    key = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "integration"}).json()["api-key"]
    assert stack.api.as_key(key).call("PUT", "/v1/inventory/thresholds", {}).status == 403
    assert stack.api.as_key(key).get("/v1/inventory/thresholds").status == 403


def test_falling_below_the_threshold_warns_once_and_a_refill_rearms_it(stack):
    # Given 6 test IDs and a threshold of 3 with two admins to warn
    add_ids(stack.api, 6)
    reply = set_threshold(stack, 3)
    assert reply.status == 200, reply.text
    assert reply.json()["armed"] is True and reply.json()["warnings"] == 0
    published(kind="inventory.low")
    mail = len(sent_mail())
    # When fulfilments take the stock down to 2, then to 0
    take(stack, 3)
    assert warnings_sent(mail) == []
    take(stack, 1)
    take(stack, 2)
    # Then each admin got one e-mail, and one inventory.low event went out, not one per fulfilment
    sent = warnings_sent(mail)
    assert sorted(m.destinations["ToAddresses"][0] for m in sent) == sorted(ADMINS)
    assert all("2 Academic-Plus test IDs left" in m.subject for m in sent)
    low = published(kind="inventory.low")
    assert [e["id"] for e in low] == [f"inventory.low:{stack.root}:Academic-Plus:1"]
    assert low[0]["data"] == {
        "test-type": "Academic-Plus",
        "available": 2,
        "threshold": 3,
        "notify": ADMINS,
    }
    state = stack.api.get("/v1/inventory/thresholds").json()["items"][0]
    assert state["armed"] is False and state["warnings"] == 1
    # When the stock is refilled, the warning re-arms; the next fall warns again
    add_ids(stack.api, 4, prefix="R")
    assert stack.api.get("/v1/inventory/thresholds").json()["items"][0]["armed"] is True
    take(stack, 2)
    assert len(warnings_sent(mail)) == 2 * len(ADMINS)
    assert [e["id"] for e in published(kind="inventory.low")] == [
        f"inventory.low:{stack.root}:Academic-Plus:2"
    ]


def settings(api, **fields):
    reply = api.call("PUT", "/v1/notifications/settings", fields)
    assert reply.status == 200, reply.text


def low_stock_recipients(before):
    return sorted(m.destinations["ToAddresses"][0] for m in warnings_sent(before))


def test_the_units_admins_and_the_thresholds_addresses_each_get_one_warning(stack):
    # Given the unit's admins in its notification settings (candidate e-mails switched off: admin e-mails
    # do not depend on that switch) and a threshold naming one of them again, in other case, and one more
    settings(
        stack.api,
        **{"admin-emails": ["Head@School.example.com", "dean@school.example.com"], "notify-clients": False},
    )
    add_ids(stack.api, 3)
    reply = set_threshold(stack, 2, notify=["head@school.example.com", "ops@school.example.com"])
    assert reply.status == 200, reply.text
    assert reply.json()["recipients"] == [
        "Head@School.example.com",
        "dean@school.example.com",
        "ops@school.example.com",
    ]
    mail = len(sent_mail())
    # When fulfilments take the stock below the threshold, and further down
    take(stack, 3)
    # Then each distinct address got exactly one warning
    assert low_stock_recipients(mail) == sorted(
        ["Head@School.example.com", "dean@school.example.com", "ops@school.example.com"]
    )
    assert len(published(kind="inventory.low")) == 1


def test_a_unit_without_admin_emails_of_its_own_warns_its_parents_admins(stack):
    # Given admins set on the root only, a child unit with other settings of its own, and a threshold
    # on the child without extra addresses
    settings(stack.api, **{"admin-emails": ["head@school.example.com"]})
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    settings(stack.api, **{"org-unit": north, "reply-to": "north@school.example.com"})
    add_ids(stack.api, 2, unit=north)
    assert set_threshold(stack, 2, notify=[], **{"org-unit": north}).status == 200
    key = stack.api.post("/v1/api-keys", {"org-unit": north, "role": "admin"}).json()["api-key"]
    mail = len(sent_mail())
    # When a fulfilment in the child takes its stock below the threshold
    assert stack.api.as_key(key).post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}).status == 201
    # Then the inherited admin-emails get the warning
    assert low_stock_recipients(mail) == ["head@school.example.com"]
    assert [e["org-unit"] for e in published(kind="inventory.low")] == [north]
    state = stack.api.get("/v1/inventory/thresholds").json()["items"][0]
    assert state["recipients"] == ["head@school.example.com"] and state["notify"] == []


def test_with_nobody_to_mail_the_event_still_goes_out_and_the_warning_is_counted(stack):
    # Given a threshold without addresses in a unit without admin-emails
    add_ids(stack.api, 2)
    reply = set_threshold(stack, 2, notify=[])
    assert reply.status == 200, reply.text
    assert reply.json()["recipients"] == []
    mail = len(sent_mail())
    # When the stock falls below it
    take(stack, 1)
    # Then no e-mail, but one event, and the thresholds list says the warning went out to nobody
    assert warnings_sent(mail) == []
    assert [e["data"]["notify"] for e in published(kind="inventory.low")] == [[]]
    state = stack.api.get("/v1/inventory/thresholds").json()["items"][0]
    assert (state["armed"], state["warnings"], state["recipients"]) == (False, 1, [])


def warning_ids(stack):
    return [e["id"] for e in published(kind="inventory.low")]


def armed(stack):
    return stack.api.get("/v1/inventory/thresholds").json()["items"][0]["armed"]


def test_an_import_that_refills_the_stock_rearms_the_warning(stack, monkeypatch):
    monkeypatch.setattr(batch, "sleep", lambda _seconds: None)
    # Given a threshold of 3 that warned once when fulfilments took the stock from 4 to 2
    add_ids(stack.api, 4)
    set_threshold(stack, 3)
    mail = len(sent_mail())
    take(stack, 2)
    assert len(warnings_sent(mail)) == len(ADMINS)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:1"]
    assert not armed(stack)
    # When an import (another function, with a cold cache) brings the stock back to 5
    stock.forget_cache()
    refill = [[f"I{i:05d}", f"pw{i}", "Academic-Plus", "Ready", ""] for i in range(3)]
    status = Importer(stack).run(csv_file(refill))
    assert status["status"] == "completed" and status["added"] == 3, status
    # Then the warning is armed again, and the next fall below the threshold warns a second time
    assert armed(stack)
    take(stack, 2)
    assert warnings_sent(mail)[len(ADMINS) :] == []  # 3 left: not below 3 yet
    take(stack, 1)
    assert len(warnings_sent(mail)) == 2 * len(ADMINS)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:2"]


def test_the_expiry_job_that_releases_stock_rearms_the_warning(stack):
    # Given a threshold of 2 that warned once when two assignments, already due, took the stock to 1
    add_ids(stack.api, 3)
    set_threshold(stack, 2)
    mail = len(sent_mail())
    fulfil(stack, PAST_DATE)
    fulfil(stack, PAST_DATE)
    assert len(warnings_sent(mail)) == len(ADMINS)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:1"]
    assert not armed(stack)
    # When the expiry job (another function, with a cold cache) releases both
    stock.forget_cache()
    assert run_expiry(stack)["released"] == 2
    # Then the warning is armed again, and the next fall below the threshold warns a second time
    assert armed(stack)
    take(stack, 2)
    assert len(warnings_sent(mail)) == 2 * len(ADMINS)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:2"]


def lagging_index(monkeypatch, seen):
    """The available index as DynamoDB's eventually consistent GSI may show it: the next count returns
    `seen` (what it held a few writes ago) instead of what is there."""
    from gateway.repo import stock as stock_repo

    real, pending = stock_repo.count_available, [seen]

    def count(unit_id, test_type, up_to):
        return min(pending.pop(), up_to) if pending else real(unit_id, test_type, up_to)

    monkeypatch.setattr(stock_repo, "count_available", count)


def test_a_lagging_index_during_fulfilments_does_not_rearm_the_warning(stack, monkeypatch):
    # Given a threshold of 3 that warned when fulfilments took the stock from 4 to 2
    add_ids(stack.api, 4)
    set_threshold(stack, 3)
    mail = len(sent_mail())
    take(stack, 2)
    assert len(warnings_sent(mail)) == len(ADMINS)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:1"]
    # When the next fulfilment's count reads an index that still shows 3 available (it lags two claims),
    # and one more fulfilment follows
    lagging_index(monkeypatch, 3)
    take(stack, 2)
    # Then nothing was refilled, so the warning stays disarmed: no second event, no second e-mail
    assert not armed(stack)
    assert len(warnings_sent(mail)) == len(ADMINS)
    assert warning_ids(stack) == []
    # And a real refill still re-arms it, and the next fall warns again
    add_ids(stack.api, 4, prefix="R")
    assert armed(stack)
    take(stack, 2)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:2"]


def test_a_refill_the_index_does_not_show_yet_is_rearmed_by_the_next_fulfilment(stack, monkeypatch):
    # Given a threshold of 3 that warned when the stock fell to 2
    add_ids(stack.api, 4)
    set_threshold(stack, 3)
    take(stack, 2)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:1"]
    # When 4 test IDs are added but the refill's own count still reads the old 2 (the index lags)
    lagging_index(monkeypatch, 2)
    add_ids(stack.api, 4, prefix="R")
    assert not armed(stack)
    # Then the next fulfilment, which counts 5, re-arms it, and the fall below 3 warns again
    take(stack, 1)
    assert armed(stack)
    take(stack, 3)
    assert warning_ids(stack) == [f"inventory.low:{stack.root}:Academic-Plus:2"]


def test_a_threshold_above_the_current_stock_warns_at_once_and_0_removes_it(stack):
    add_ids(stack.api, 2)
    mail = len(sent_mail())
    reply = set_threshold(stack, 10, notify=["ops@school.example.com"])
    assert reply.json()["armed"] is False and reply.json()["available"] == 2
    assert len(warnings_sent(mail)) == 1
    removed = set_threshold(stack, 0, notify=[])
    assert removed.status == 200 and removed.json()["threshold"] == 0
    assert stack.api.get("/v1/inventory/thresholds").json() == {"items": []}
    take(stack, 2)
    assert len(warnings_sent(mail)) == 1


def test_thresholds_are_per_unit_and_a_sibling_cannot_see_them(stack):
    north = stack.api.post("/v1/org-units", {"name": "North"}).json()["id"]
    south = stack.api.post("/v1/org-units", {"name": "South"}).json()["id"]
    assert set_threshold(stack, 2, **{"org-unit": north}).status == 200
    south_admin = stack.api.post("/v1/api-keys", {"org-unit": south, "role": "admin"}).json()["api-key"]
    assert stack.api.as_key(south_admin).get("/v1/inventory/thresholds").json() == {"items": []}
    assert (
        stack.api.as_key(south_admin)
        .call(
            "PUT",
            "/v1/inventory/thresholds",
            {"org-unit": north, "test-type": "A", "threshold": 1, "notify": ADMINS},
        )
        .status
        == 403
    )
    assert [t["org-unit"] for t in stack.api.get("/v1/inventory/thresholds").json()["items"]] == [north]


def test_a_warning_that_cannot_be_mailed_does_not_fail_the_fulfilment(stack):
    add_ids(stack.api, 3)
    set_threshold(stack, 2)

    def refuse(**_):
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail"
        )

    published(kind="inventory.low")
    aws.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", refuse)
    try:
        reply = stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"})
        reply = stack.api.post("/v1/fulfillments", {"product-code": "GTX-Academic-Plus"})
    finally:
        aws.client("sesv2").meta.events.unregister("before-call.sesv2.SendEmail", refuse)
    assert reply.status == 201
    assert len(published(kind="inventory.low")) == 1  # the event still went out, once


def test_the_inventory_reports_the_burn_rate_and_days_of_stock_left(stack):
    add_ids(stack.api, 10)
    add_ids(stack.api, 3, test_type="General", prefix="G")
    take(stack, 6)
    report = stack.api.get("/v1/inventory").json()
    by_type = {s["test-type"]: s for s in report["stock"]}
    assert by_type["Academic-Plus"] == {
        "test-type": "Academic-Plus",
        "available": 4,
        "used-last-30-days": 6,
        "burn-rate-per-day": 0.2,
        "days-of-stock-left": 20.0,
    }
    assert by_type["General"]["burn-rate-per-day"] == 0.0 and by_type["General"]["days-of-stock-left"] is None


def test_fulfilments_older_than_30_days_are_not_in_the_burn_rate(stack, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from gateway import fulfilment

    def days_ago(days):
        at = datetime.now(UTC) - timedelta(days=days)
        return lambda: at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # Given 10 test IDs: 4 handed out 31 days ago, 1 handed out 29 days ago and 2 today
    add_ids(stack.api, 10)
    monkeypatch.setattr(fulfilment, "now_iso", days_ago(31))
    take(stack, 4)
    monkeypatch.setattr(fulfilment, "now_iso", days_ago(29))
    take(stack, 1)
    monkeypatch.undo()
    take(stack, 2)
    # When the inventory is read
    report = stack.api.get("/v1/inventory").json()
    # Then only the 3 of the last 30 days make the burn rate; the 3 left last 30 days at 0.1 a day
    assert report["stock"] == [
        {
            "test-type": "Academic-Plus",
            "available": 3,
            "used-last-30-days": 3,
            "burn-rate-per-day": 0.1,
            "days-of-stock-left": 30.0,
        }
    ]
