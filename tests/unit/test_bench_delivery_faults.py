"""The fault run's accounting: what the receiver saw more than once, and why."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from bench.delivery_faults import BY_NAME, Seen, acknowledged, duplicates, subject_of


def _log(webhook_id: str, *outcomes: str, endpoint: str = "track-json", subject: str = "T1") -> list[Seen]:
    return [Seen(endpoint, webhook_id, subject, outcome) for outcome in outcomes]


def test_a_request_taken_in_before_a_stall_or_reset_makes_the_next_one_a_duplicate():
    # Given deliveries whose earlier attempts the receiver read and then stalled on, reset, or refused
    log = [
        *_log("a", "timeout", "2xx"),  # seen twice: caused by the stall
        *_log("b", "reset", "5xx", "timeout", "2xx"),  # seen three times: a reset, then a stall
        *_log("c", "5xx", "5xx", "2xx"),  # refusals are not deliveries: seen once
        *_log("d", "2xx"),
    ]
    # When the duplicates are counted
    found = duplicates(log)
    # Then every webhook-id taken in more than once counts, and each extra delivery has its cause
    assert found["webhook_ids_seen"] == 4
    assert found["seen_more_than_once"] == 2 and found["seen_more_than_once_share"] == 0.5
    assert found["extra_deliveries"] == 3
    assert found["by_cause"]["timeout"] == {"webhook_ids": 2, "share": 0.5, "extra_deliveries": 2}
    assert found["by_cause"]["reset"] == {"webhook_ids": 1, "share": 0.25, "extra_deliveries": 1}
    assert found["by_cause"]["2xx"]["extra_deliveries"] == 0


def test_a_2xx_the_sender_did_not_hear_of_is_its_own_cause():
    found = duplicates(_log("a", "2xx", "2xx"))
    assert found["by_cause"]["2xx"] == {"webhook_ids": 1, "share": 1.0, "extra_deliveries": 1}


def test_only_a_2xx_acknowledges_a_result_per_endpoint():
    log = [
        *_log("a", "timeout", endpoint="v2-callback", subject="7"),
        *_log("b", "5xx", "2xx", endpoint="track-itep-form", subject="T2"),
    ]
    assert acknowledged(log) == {"track-itep-form": {"T2"}}


def test_the_subject_is_read_from_each_endpoint_format():
    data = json.dumps({"TestID": "F00001", "Status": "Completed"})
    assert subject_of(BY_NAME["track-itep-form"], urlencode({"data": data}).encode()) == "F00001"
    assert subject_of(BY_NAME["track-json"], data.encode()) == "F00001"
    v2 = json.dumps({"TestInvitationId": 42, "CandidateEmailId": "a@example.com", "TotalScore": 50})
    assert subject_of(BY_NAME["v2-callback"], v2.encode()) == "42"
