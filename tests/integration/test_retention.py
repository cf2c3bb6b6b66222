"""Retention: data that must not live for ever carries a TTL (`expiration`, unix seconds) with the
configured value, on tables whose TTL is on in the template."""

from __future__ import annotations

import time

import pytest

from gateway.config import get_settings
from gateway.intake import result_expiration
from gateway.repo.deliveries import RETENTION_SECONDS
from tests.integration import test_deliveries
from tests.integration.test_deliveries import pump, setup_track
from tests.integration.test_results_intake import SEED, post_result

DAY = 86400
local, receiver = test_deliveries.local, test_deliveries.receiver  # the delivery tests' fixtures


def _ttl(item):
    return int(item["expiration"]["N"]) if "expiration" in item else None


def test_every_table_holding_expiring_items_has_ttl_on_expiration(stack):
    for logical_id in ("CandidatesTable", "DeliveriesTable", "IdempotencyTable"):
        spec = stack.template.properties(logical_id)["TimeToLiveSpecification"]
        assert spec == {"AttributeName": "expiration", "Enabled": True}, logical_id


def test_result_retention_is_a_template_parameter_passed_to_every_function(stack):
    parameter = stack.template.data["Parameters"]["ResultRetentionDays"]
    assert parameter["Default"] == 730 and parameter["MinValue"] == 0
    assert stack.template.lambda_environment()["RESULT_RETENTION_DAYS"] == "730"


@pytest.mark.parametrize("days", [30, 730])
def test_a_result_version_expires_after_the_configured_retention(stack, monkeypatch, days):
    # Given results are kept `days` days
    monkeypatch.setenv("RESULT_RETENTION_DAYS", str(days))
    get_settings.cache_clear()
    setup_track(stack, "https://results.example.com/itep")
    # When a result arrives
    before = int(time.time())
    assert post_result(stack, SEED).status == 200
    # Then its stored version expires `days` days from now
    [version] = [i for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("RES#")]
    assert before + days * DAY <= _ttl(version) <= int(time.time()) + days * DAY
    # And the test's state (the subject) has no TTL: only the result version expires
    assert all(_ttl(i) is None for i in stack.items("InventoryTable"))


def test_retention_zero_keeps_results_for_ever(stack, monkeypatch):
    monkeypatch.setenv("RESULT_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    setup_track(stack, "https://results.example.com/itep")
    assert post_result(stack, SEED).status == 200
    [version] = [i for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("RES#")]
    assert _ttl(version) is None
    assert result_expiration(0) is None and result_expiration(1, now=100) == 100 + DAY


def test_delivery_logs_expire_after_thirty_days(local, receiver):
    setup_track(local, receiver.url)
    before = int(time.time())
    post_result(local, SEED)
    pump(local)
    deliveries = local.items("DeliveriesTable")
    assert {i["sk"]["S"][:3] for i in deliveries} == {"DLV", "ATT"}  # the delivery and its attempt
    for item in deliveries:
        assert before + RETENTION_SECONDS <= _ttl(item) <= int(time.time()) + RETENTION_SECONDS


def test_idempotency_records_and_signature_nonces_expire(stack):
    # Given a fulfilment with an Idempotency-Key and a signed engine request
    setup_track(stack, "https://results.example.com/itep")
    stack.api.post(
        "/v1/test-ids", {"test-ids": [{"test-id": "TTL1", "password": "p", "test-type": "Academic-Plus"}]}
    )
    before = int(time.time())
    reply = stack.api.post(
        "/v1/fulfillments", {"product-code": "GTX-Academic-Plus"}, headers={"Idempotency-Key": "ttl-1"}
    )
    assert reply.status == 201
    assert post_result(stack, SEED, timestamp=str(before)).status == 200
    items = stack.items("IdempotencyTable")
    records = [i for i in items if not i["id"]["S"].startswith("nonce#")]
    nonces = [i for i in items if i["id"]["S"].startswith("nonce#")]
    # Then the idempotency record lives 24 h and the nonce just past the signature window
    assert records and all(before + DAY <= _ttl(i) <= int(time.time()) + DAY for i in records)
    window = get_settings().signature_window_seconds
    assert nonces and all(_ttl(i) == before + window + 60 for i in nonces)
