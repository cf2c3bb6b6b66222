"""Nothing lost, nothing doubled: certificates and failure events under injected faults and retries."""

from __future__ import annotations

import threading

import pytest

from gateway import certificates, certification, events
from gateway.config import get_settings
from gateway.errors import Unavailable
from gateway.repo import objects
from gateway.repo import outcomes as repo
from tests.integration.certification_helpers import (
    items,
    post_result,
    queue_messages,
    register,
    run_certificates,
    set_catalogue,
)
from tests.integration.test_certification import B1_FAIL, B1_PASS, FONTS
from tests.integration.test_results_intake import events as drain_events


@pytest.fixture
def passed(stack):
    set_catalogue(stack.api)
    inv = register(stack, 901, "ada@example.com")
    post_result(stack, {"TestInvitationId": inv, "Status": "Completed", "Items": items(B1_PASS)}, form=False)
    return inv


def certificate_items(stack):
    return [i for i in stack.items("CandidatesTable") if i["pk"]["S"].startswith("CERT#")]


def test_a_file_store_outage_while_issuing_is_retried_and_issues_once(stack, passed, monkeypatch):
    messages = queue_messages(get_settings().certificate_queue_url)
    real_put, calls = objects.put, []

    def flaky_put(key, body, content_type="text/csv"):
        calls.append(key)
        if len(calls) == 1:
            raise Unavailable("The file store is unavailable (SlowDown); retry.")
        real_put(key, body, content_type)

    monkeypatch.setattr(objects, "put", flaky_put)
    # When S3 refuses the first attempt, the message comes back
    failed = run_certificates(stack, messages)
    assert len(failed["batchItemFailures"]) == 1 and certificate_items(stack) == []
    # and the redelivery issues the certificate
    assert run_certificates(stack, messages) == {"batchItemFailures": []}
    assert len(certificate_items(stack)) == 1


def test_a_crash_after_the_pdf_before_the_record_is_finished_by_the_retry(stack, passed, monkeypatch):
    messages = queue_messages(get_settings().certificate_queue_url)
    real = repo.record_certificate

    def crash(*args, **kwargs):
        raise RuntimeError("injected crash")

    monkeypatch.setattr(repo, "record_certificate", crash)
    assert len(run_certificates(stack, messages)["batchItemFailures"]) == 1
    monkeypatch.setattr(repo, "record_certificate", real)
    assert run_certificates(stack, messages) == {"batchItemFailures": []}
    [record] = certificate_items(stack)
    assert record["code"]["S"] == certification.certificate_code("v2", str(passed))


def test_two_issuers_racing_on_one_result_store_one_certificate(stack, passed):
    [message] = queue_messages(get_settings().certificate_queue_url)
    barrier, codes, errors = threading.Barrier(4), [], []

    def issue():
        barrier.wait()
        try:
            codes.append(certificates.issue(message["Body"], FONTS))
        except Exception as exc:  # a lost transaction race is retried by the queue
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:  # what the queue would do: deliver again
        codes.append(certificates.issue(message["Body"]))
    assert set(codes) == {certification.certificate_code("v2", str(passed))}
    assert len(certificate_items(stack)) == 1


def test_a_lost_failure_event_is_recovered_by_the_engines_retry(stack, monkeypatch):
    set_catalogue(stack.api)
    inv = register(stack, 901, "bob@example.com")
    drain_events(stack)
    body = {"TestInvitationId": inv, "Status": "Completed", "Items": items(B1_FAIL)}
    real, published = events.publish, []

    def lossy(event_id, kind, *args, **kwargs):
        if kind == "certification.failed" and not published:
            published.append(event_id)
            raise Unavailable("events: the event queue is unavailable; retry")
        return real(event_id, kind, *args, **kwargs)

    monkeypatch.setattr(events, "publish", lossy)
    # When the queue refuses the failure event, the engine gets a 503 ...
    assert post_result(stack, body, form=False).status == 503
    # ... and its retry is a duplicate that publishes the same event, with the outcome stored once
    again = post_result(stack, body, form=False)
    assert again.status == 200 and again.json()["reason"] == "duplicate"
    [event] = [e for e in drain_events(stack) if e["type"] == "certification.failed"]
    assert event["id"] == published[0] == f"certification.failed:v2:{inv}:1"
    outcomes = [i for i in stack.items("CandidatesTable") if i["sk"]["S"].startswith("OUT#")]
    assert len(outcomes) == 1
