"""E-mail notifications: each event with its recipients and template, exactly once whatever the retries,
suppression after a bounce, per-unit settings (inherited) and previews."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from gateway import aws, events, notify
from gateway.config import get_settings
from gateway.repo import notifications as notifications_repo
from tests.integration import mailer
from tests.integration.test_expiry import published
from tests.integration.test_provisioning import add_ids
from tests.integration.test_results_intake import post_result

CANDIDATE = "amit.mishra@example.com"


def to(message) -> list[str]:
    return list(message.destinations["ToAddresses"])


def mails_to(address: str) -> list:
    return [m for m in mailer.sent_messages() if address in to(m)]


def register(stack, email=CANDIDATE, send=True, api=None, test_id=1001, name="Amit Mishra"):
    reply = (api or stack.api).post(
        f"/v2/tests/{test_id}/register", {"emailId": email, "fullName": name, "sendEmail": send}
    )
    assert reply.status == 200, reply.text
    return reply.json()["result"]


def child_unit(stack, name="North Campus", parent=None):
    body = {"name": name} | ({"parent-id": parent} if parent else {})
    unit = stack.api.post("/v1/org-units", body).json()["id"]
    key = stack.api.post("/v1/api-keys", {"org-unit": unit, "role": "admin"}).json()["api-key"]
    return unit, stack.api.as_key(key)


def settings(api, **body):
    return api.call("PUT", "/v1/notifications/settings", body)


def publish_failed(stack, email=CANDIDATE, event_id="ct:1", unit=None, path=None):
    return events.publish(
        event_id,
        "certification.failed",
        unit or stack.root,
        path or f"/{stack.root}/",
        {
            "candidate-id": "cand_1",
            "email": email,
            "full-name": "Amit Mishra",
            "test-type": "Academic",
            "level": "A2",
            "cant-do": ["Can understand the main points of short announcements.", "Can write a short note."],
            "review": ["Listening: Unit 4"],
        },
    )


def ses_event(kind: str, mail_id: str, message_id: str = "m-1", address: str = CANDIDATE) -> dict:
    event: dict = {
        "eventType": kind,
        "mail": {"messageId": message_id, "destination": [address], "tags": {"mail-id": [mail_id]}},
    }
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address}],
        }
    if kind == "Complaint":
        event["complaint"] = {
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
        }
    return event


def feed_back(event: dict) -> None:
    """What SES publishes through SNS, as the SQS subscription delivers it (SNS envelope)."""
    topic = boto3.client("sns").list_topics()["Topics"][0]["TopicArn"]
    boto3.client("sns").publish(TopicArn=topic, Message=json.dumps(event))
    mailer.run_feedback()


def mail_record(dedupe: str, address: str = CANDIDATE) -> dict | None:
    return notifications_repo.get_mail(notify.mail_id(dedupe, address))


def refuse_ses(code="Throttling", times=1):
    """SES refuses the next `times` sends with `code`."""
    left = {"n": times}

    def refuse(**_):
        if left["n"] > 0:
            left["n"] -= 1
            raise ClientError(
                {"Error": {"Code": code, "Message": "Maximum sending rate exceeded."}}, "SendEmail"
            )

    aws.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", refuse)
    return refuse


def stop_refusing(refuse):
    aws.client("sesv2").meta.events.unregister("before-call.sesv2.SendEmail", refuse)


# ---------------------------------------------------------------------------------------------- events
def test_an_invitation_with_send_email_mails_the_take_test_url_once(stack):
    # Given a V2 registration with "sendEmail": true
    result = register(stack)
    # When the mailer runs
    mailer.run_mailer()
    # Then the candidate got one e-mail with the take-test URL, in text and HTML, with the unit's name
    [message] = mails_to(CANDIDATE)
    assert result["takeTestURL"] in message.body
    assert "your test invitation" in message.subject
    # And the V2 reply is the seed's, unchanged
    assert set(result) == {"testInvitationId", "takeTestURL"}
    # When the candidate is registered again (sendEmail again) and the mailer runs again
    register(stack)
    mailer.run_mailer()
    # Then no second e-mail went out
    assert len(mails_to(CANDIDATE)) == 1


def test_without_send_email_nothing_is_mailed(stack):
    register(stack, send=False)
    mailer.run_mailer()
    assert mails_to(CANDIDATE) == []


def test_a_completed_v2_test_mails_the_candidate_and_opted_in_admins(stack):
    # Given admins who asked for completion e-mails, and a registered candidate
    assert (
        settings(
            stack.api, **{"admin-emails": ["head@school.example.com"], "admins-on-completed": True}
        ).status
        == 200
    )
    inv = register(stack, send=False)["testInvitationId"]
    # When the engine reports the test completed, and the pipeline runs (dispatch forwards to the mailer)
    v2 = {
        "TestInvitationId": inv,
        "Status": "Completed",
        "AttemptedOn": "2026-01-15T10:00:00",
        "TotalScore": 50,
        "CandidateScore": 34,
        "ReportPDFUrl": "https://engine.example.com/r/1.pdf",
    }
    assert post_result(stack, v2, form=False).status == 200
    mailer.run_queue(get_settings().events_queue_url, "dispatch")
    mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    # Then the candidate got the completion e-mail with the score and the report link
    [mine] = mails_to(CANDIDATE)
    assert "completed your test" in mine.subject and "34" in mine.body and "r/1.pdf" in mine.body
    # And the admin got the admin completion e-mail naming the candidate
    [admin] = mails_to("head@school.example.com")
    assert "a candidate completed a test" in admin.subject and "Amit Mishra" in admin.body
    # When the result is re-scored (a new completed event), no second completion e-mail goes out
    assert post_result(stack, v2 | {"CandidateScore": 35}, form=False).json()["applied"] is True
    mailer.run_queue(get_settings().events_queue_url, "dispatch")
    mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    assert len(mails_to(CANDIDATE)) == 1 and len(mails_to("head@school.example.com")) == 1


def test_admins_get_no_completion_mail_unless_they_opted_in(stack):
    settings(stack.api, **{"admin-emails": ["head@school.example.com"]})
    inv = register(stack, send=False)["testInvitationId"]
    post_result(
        stack,
        {"TestInvitationId": inv, "Status": "Completed", "TotalScore": 5, "CandidateScore": 4},
        form=False,
    )
    mailer.run_mailer()
    assert len(mails_to(CANDIDATE)) == 1 and mails_to("head@school.example.com") == []


def test_a_failed_certification_test_mails_the_areas_to_improve(stack):
    # Given a certification.failed event (published by the certification outcomes)
    publish_failed(stack)
    # When the mailer runs
    mailer.run_mailer()
    # Then the candidate got one e-mail listing the can't-do statements and the review list
    [message] = mails_to(CANDIDATE)
    assert "Academic A2 certification test" in message.subject
    for line in (
        "Can understand the main points of short announcements.",
        "Can write a short note.",
        "Listening: Unit 4",
    ):
        assert line in message.body


def test_an_expired_assignment_mails_the_candidate(stack):
    # Given an STX test ID assigned with an expiry date in the past
    add_ids(stack.api, 1)
    body = {
        "product-code": "STX-Academic-Plus",
        "email": CANDIDATE,
        "assigned-to": {"expire": "2020-01-01", "student-name": "Amit Mishra"},
    }
    assert stack.api.post("/v1/fulfillments", body).status == 201
    mailer.run_mailer()
    # When the expiry job runs and the pipeline after it
    assert stack.api.post("/v1/jobs/expire-assignments").json()["released"] == 1
    mailer.run_mailer()
    # Then the candidate got the test-ID e-mail, then one expiry e-mail
    subjects = [m.subject for m in mails_to(CANDIDATE)]
    assert subjects == ["Your Academic-Plus test ID", "Root: your Academic-Plus test has expired"]
    assert "T00000" in mails_to(CANDIDATE)[1].body


def test_an_stx_email_is_not_sent_when_the_claim_was_undone_before_the_mailer_ran(stack):
    # Given an STX fulfilment whose test ID is released before the mailer gets to it
    add_ids(stack.api, 1)
    taken = stack.api.post(
        "/v1/fulfillments", {"product-code": "STX-Academic-Plus", "email": CANDIDATE}
    ).json()
    assert stack.api.post(f"/v1/test-ids/{taken['test-id']}/release").status == 200
    # When the mailer runs
    mailer.run_mailer()
    # Then no e-mail gives out the old (or the new) password
    assert mails_to(CANDIDATE) == []


# ---------------------------------------------------------------------------------------------- de-dup
def test_duplicate_events_and_redelivered_records_send_one_email(stack):
    # Given the same event published three times (a producer retrying)
    for _ in range(3):
        publish_failed(stack, event_id="ct:dup")
    # When dispatch forwards each, and the mailer sees every record twice (SQS redelivery)
    mailer.run_queue(get_settings().events_queue_url, "dispatch")
    sqs, url = boto3.client("sqs"), get_settings().notifications_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 3
    batch = mailer.sqs_batch_event(messages + messages, mailer.queue_arn(url))
    reply = mailer.handler("mailer")(batch, mailer.LambdaContext())
    # Then every record succeeded, and one e-mail went out
    assert reply["batchItemFailures"] == []
    assert len(mails_to(CANDIDATE)) == 1
    assert mail_record("ct:dup")["status"] == "sent"


def test_ses_throttling_fails_the_record_and_the_retry_sends_once(stack):
    # Given SES throttling the first send
    publish_failed(stack)
    refuse = refuse_ses("Throttling", times=1)
    try:
        # When the mailer runs
        replies = mailer.run_mailer()
        # Then the record failed (SQS will retry it), nothing was sent, and the claim was given up
        assert len(replies[0]["batchItemFailures"]) == 1
        assert mails_to(CANDIDATE) == [] and mail_record("ct:1") is None
        # When the retry comes
        mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    finally:
        stop_refusing(refuse)
    # Then exactly one e-mail went out
    assert len(mails_to(CANDIDATE)) == 1


def test_an_ses_outage_retries_through_the_queue_until_it_recovers(stack):
    # Given SES down for five attempts
    publish_failed(stack)
    refuse = refuse_ses("ServiceUnavailable", times=5)
    try:
        # When the queue redelivers (six passes)
        mailer.run_mailer(rounds=6)
    finally:
        stop_refusing(refuse)
    # Then the message was not lost, and sent once
    assert len(mails_to(CANDIDATE)) == 1


def test_a_final_refusal_is_recorded_and_not_retried(stack):
    publish_failed(stack)
    refuse = refuse_ses("MessageRejected", times=1)
    try:
        replies = mailer.run_mailer(rounds=3)
    finally:
        stop_refusing(refuse)
    assert replies[0]["batchItemFailures"] == [] and len(replies) == 1
    assert mails_to(CANDIDATE) == [] and mail_record("ct:1")["status"] == "rejected"


def test_a_crash_after_ses_accepted_sends_nothing_twice(stack, monkeypatch):
    # Given a mailer that crashes right after SES accepted the message, before recording it
    publish_failed(stack)
    real_finish = notifications_repo.finish

    def crash(mail_id, attempt, status, extra):
        if status == "sent":
            raise RuntimeError("killed")
        return real_finish(mail_id, attempt, status, extra)

    monkeypatch.setattr(notifications_repo, "finish", crash)
    replies = mailer.run_mailer()
    monkeypatch.setattr(notifications_repo, "finish", real_finish)
    assert len(replies[0]["batchItemFailures"]) == 1 and len(mails_to(CANDIDATE)) == 1
    assert mail_record("ct:1")["status"] == "sending"
    # When SES's Send event arrives (SNS -> feedback queue) and the retry comes, even after the lease
    message = mails_to(CANDIDATE)[0]
    feed_back(ses_event("Send", notify.mail_id("ct:1", CANDIDATE), message.id))
    monkeypatch.setattr(notify, "clock", lambda: __import__("time").time() + notify.LEASE_SECONDS + 1)
    mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    # Then the record is sent, and the candidate has one e-mail, not two
    assert mail_record("ct:1")["status"] == "sent" and len(mails_to(CANDIDATE)) == 1


def test_a_timeout_reading_ses_answer_keeps_the_claim_until_ses_confirms(stack, monkeypatch):
    # Given SES accepts the message but the answer never arrives (read timeout)
    publish_failed(stack)

    def lose_answer(http_response, **_):
        raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")

    aws.client("sesv2").meta.events.register("after-call.sesv2.SendEmail", lose_answer)
    try:
        replies = mailer.run_mailer()
    finally:
        aws.client("sesv2").meta.events.unregister("after-call.sesv2.SendEmail", lose_answer)
    # Then the record is retried but the claim is kept: a retry inside the lease sends nothing
    assert len(replies[0]["batchItemFailures"]) == 1 and mail_record("ct:1")["status"] == "sending"
    again = mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    assert len(again[0]["batchItemFailures"]) == 1 and len(mails_to(CANDIDATE)) == 1
    # When SES's Send event confirms it, the next retry finishes without sending
    feed_back(ses_event("Send", notify.mail_id("ct:1", CANDIDATE)))
    assert mailer.run_queue(get_settings().notifications_queue_url, "mailer")[0]["batchItemFailures"] == []
    assert len(mails_to(CANDIDATE)) == 1


def test_a_crash_before_ses_accepted_is_sent_after_the_lease(stack, monkeypatch):
    # Given a mailer that dies after claiming, before SES got the message
    publish_failed(stack)
    from gateway import mail

    real_send = mail.send
    monkeypatch.setattr(mail, "send", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    mailer.run_mailer()
    monkeypatch.setattr(mail, "send", real_send)
    assert mail_record("ct:1")["status"] == "sending" and mails_to(CANDIDATE) == []
    # When the retry comes inside the lease, it waits; after the lease, it sends
    assert (
        len(mailer.run_queue(get_settings().notifications_queue_url, "mailer")[0]["batchItemFailures"]) == 1
    )
    monkeypatch.setattr(notify, "clock", lambda: __import__("time").time() + notify.LEASE_SECONDS + 1)
    mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    # Then the e-mail was not lost, and went out once
    assert len(mails_to(CANDIDATE)) == 1 and mail_record("ct:1")["status"] == "sent"


# ---------------------------------------------------------------------------------------------- bounces
def test_a_bounce_suppresses_the_address_marks_the_invitation_and_tells_the_tracks(stack):
    # Given a track that asked for bounce events, and an invitation e-mail that went out
    track = {
        "code": "LMS",
        "url": "https://lms.example.com/hook",
        "format": "json",
        "events": ["invitation.email_bounced"],
    }
    assert stack.api.post("/v1/tracks", track).status in (200, 201)
    inv = register(stack)["testInvitationId"]
    mailer.run_mailer()
    [message] = mails_to(CANDIDATE)
    published()  # (clear the events queue)
    # When SES reports a permanent bounce for it (SES -> SNS -> feedback queue)
    feed_back(ses_event("Bounce", notify.mail_id(f"invitation.email:{inv}", CANDIDATE), message.id))
    # Then the invitation shows emailBounced
    assert stack.api.get(f"/v2/invitations/{inv}").json()["result"]["emailBounced"] is True
    # And the address is suppressed for the unit
    [suppressed] = stack.api.get("/v1/notifications/suppressions").json()["items"]
    assert suppressed["email"] == CANDIDATE and suppressed["reason"] == "bounce"
    # And one invitation.email_bounced event went to the unit's tracks
    bounced = [e for e in mailer_events() if e["type"] == "invitation.email_bounced"]
    assert len(bounced) == 1 and bounced[0]["data"]["invitation-id"] == inv
    mailer.run_queue(get_settings().events_queue_url, "dispatch")
    deliveries = stack.api.get("/v1/deliveries").json()["items"]
    assert [d["event-type"] for d in deliveries if d["endpoint"] == "track:LMS"] == [
        "invitation.email_bounced"
    ]
    # When another e-mail is due to that address, it is not sent
    publish_failed(stack)
    mailer.run_mailer()
    assert len(mails_to(CANDIDATE)) == 1 and mail_record("ct:1")["status"] == "suppressed"
    # And the same bounce reported again changes nothing
    feed_back(ses_event("Bounce", notify.mail_id(f"invitation.email:{inv}", CANDIDATE), message.id))
    assert len(stack.api.get("/v1/notifications/suppressions").json()["items"]) == 1


def mailer_events() -> list[dict]:
    """The events on the events queue, left in place."""
    sqs, url = boto3.client("sqs"), get_settings().events_queue_url
    found, handles = [], []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not got:
            break
        found += [json.loads(m["Body"]) for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    for receipt in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return found


def test_a_complaint_suppresses_and_a_transient_bounce_does_not(stack):
    publish_failed(stack, email="a@example.com", event_id="ct:a")
    publish_failed(stack, email="b@example.com", event_id="ct:b")
    mailer.run_mailer()
    feed_back(ses_event("Complaint", notify.mail_id("ct:a", "a@example.com"), address="a@example.com"))
    transient = ses_event("Bounce", notify.mail_id("ct:b", "b@example.com"), address="b@example.com")
    transient["bounce"]["bounceType"] = "Transient"
    feed_back(transient)
    items = stack.api.get("/v1/notifications/suppressions").json()["items"]
    assert [(i["email"], i["reason"]) for i in items] == [("a@example.com", "complaint")]
    # An admin lifts the suppression: the address is mailed again
    lifted = stack.api.delete("/v1/notifications/suppressions", query={"email": "a@example.com"})
    assert lifted.status == 200 and lifted.json()["email"] == "a@example.com"
    assert stack.api.get("/v1/notifications/suppressions").json()["items"] == []


def test_a_suppressed_address_gets_no_stx_mail_and_the_reply_says_so(stack):
    publish_failed(stack)
    mailer.run_mailer()
    feed_back(ses_event("Bounce", notify.mail_id("ct:1", CANDIDATE)))
    add_ids(stack.api, 1)
    reply = stack.api.post("/v1/fulfillments", {"product-code": "STX-Academic-Plus", "email": CANDIDATE})
    assert reply.status == 201 and reply.json()["email-sent"] is False
    mailer.run_mailer()
    assert len(mails_to(CANDIDATE)) == 1


# ---------------------------------------------------------------------------------------------- settings
def test_a_unit_that_switches_client_mail_off_sends_none_and_its_children_inherit_it(stack):
    # Given a unit that switched candidate e-mail off, and its child that set nothing
    north, north_api = child_unit(stack)
    assert settings(north_api, **{"notify-clients": False}).status == 200
    east, east_api = child_unit(stack, "East Wing", parent=north)
    # When candidates of both are invited with sendEmail
    register(stack, "n@example.com", api=north_api)
    register(stack, "e@example.com", api=east_api)
    mailer.run_mailer()
    # Then no e-mail went out
    assert mails_to("n@example.com") == [] and mails_to("e@example.com") == []
    view = east_api.get("/v1/notifications/settings", query={"org-unit": east}).json()
    assert view["effective"]["notify-clients"] is False and view["inherited-from"]["notify-clients"] == north
    # When the child switches it back on for itself, its candidates are mailed again
    assert settings(east_api, **{"notify-clients": True}).json()["own"] == {"notify-clients": True}
    register(stack, "e2@example.com", api=east_api)
    mailer.run_mailer()
    assert len(mails_to("e2@example.com")) == 1
    # And a null puts it back to inheriting
    back = settings(east_api, **{"notify-clients": None}).json()
    assert back["own"] == {} and back["effective"]["notify-clients"] is False


def test_one_event_can_be_switched_off_and_stx_reports_it(stack):
    assert settings(stack.api, events={"test-id": False}).status == 200
    add_ids(stack.api, 1)
    reply = stack.api.post("/v1/fulfillments", {"product-code": "STX-Academic-Plus", "email": CANDIDATE})
    assert reply.status == 201 and reply.json()["email-sent"] is False
    register(stack)
    mailer.run_mailer()
    assert [m.subject for m in mails_to(CANDIDATE)] == ["Root: your test invitation"] or len(
        mails_to(CANDIDATE)
    ) == 1


def test_sender_reply_to_and_archive_bcc_are_applied(stack):
    settings(
        stack.api,
        sender="school@school.example.com",
        **{"reply-to": "office@school.example.com", "bcc": "archive@school.example.com"},
    )
    sent: list[dict] = []
    capture = lambda params, **_: sent.append(params)  # noqa: E731
    aws.client("sesv2").meta.events.register("provide-client-params.sesv2.SendEmail", capture)
    try:
        register(stack)
        mailer.run_mailer()
    finally:
        aws.client("sesv2").meta.events.unregister("provide-client-params.sesv2.SendEmail", capture)
    [params] = sent
    assert params["FromEmailAddress"] == "school@school.example.com"
    assert params["ReplyToAddresses"] == ["office@school.example.com"]
    assert params["Destination"]["BccAddresses"] == ["archive@school.example.com"]
    assert params["ConfigurationSetName"] == get_settings().mail_configuration_set
    assert params["EmailTags"][0]["Name"] == "mail-id"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"events": {"newsletter": True}}, "events: unknown e-mail 'newsletter'"),
        ({"language": "xx"}, "language: 'xx' is not available"),
        ({"sender": "not-mail"}, "sender: must be a valid e-mail"),
        ({}, "body: names no setting to change"),
    ],
)
def test_bad_settings_are_400_naming_the_field(stack, body, description):
    reply = settings(stack.api, **body)
    assert reply.status == 400 and reply.description.startswith(description), reply.text


def test_settings_and_previews_are_admin_only_and_scoped(stack):
    north, north_api = child_unit(stack)
    south, _ = child_unit(stack, "South")
    support = stack.api.post("/v1/api-keys", {"org-unit": north, "role": "support"}).json()["api-key"]
    assert stack.api.as_key(support).get("/v1/notifications/settings").status == 403
    assert north_api.get("/v1/notifications/settings", query={"org-unit": south}).status == 403
    assert settings(north_api, **{"org-unit": south, "language": "en"}).status == 403
    assert north_api.get("/v1/notifications/preview/invitation", query={"org-unit": south}).status == 403
    assert north_api.get("/v1/notifications/suppressions", query={"org-unit": south}).status == 403


# ---------------------------------------------------------------------------------------------- previews
def test_a_preview_renders_with_the_unit_name_and_given_data_escaping_html(stack):
    _, north_api = child_unit(stack)
    reply = north_api.get("/v1/notifications/preview/invitation", query={"full-name": "<b>Amit</b>"})
    assert reply.status == 200, reply.text
    body = reply.json()
    assert body["subject"] == "North Campus: your test invitation"
    assert "Hello <b>Amit</b>," in body["text"]  # text is text
    assert "&lt;b&gt;Amit&lt;/b&gt;" in body["html"] and "<b>Amit</b>" not in body["html"]


@pytest.mark.parametrize(
    "event",
    [
        "invitation",
        "test-id",
        "test-completed",
        "test-completed-admin",
        "certification-failed",
        "assignment-expired",
        "low-stock",
        "endpoint-disabled",
    ],
)
def test_every_email_has_a_preview_with_sample_data(stack, event):
    body = stack.api.get(f"/v1/notifications/preview/{event}").json()
    assert body["subject"] and body["text"].strip() and body["html"].startswith("<!doctype html>")


def test_an_unknown_preview_is_404(stack):
    reply = stack.api.get("/v1/notifications/preview/newsletter")
    assert reply.status == 404 and reply.description.startswith("event: no e-mail 'newsletter'")


def test_a_bounce_of_the_archive_copy_suppresses_it_but_leaves_the_invitation_alone(stack):
    # Given a unit archiving every e-mail to a BCC address, and an invitation e-mail that went out
    settings(stack.api, bcc="archive@school.example.com")
    inv = register(stack)["testInvitationId"]
    mailer.run_mailer()
    published()  # (clear the events queue)
    # When only the archive copy bounces
    bounce = ses_event(
        "Bounce", notify.mail_id(f"invitation.email:{inv}", CANDIDATE), address="archive@school.example.com"
    )
    feed_back(bounce)
    # Then the archive address is suppressed, but the candidate's invitation is not marked and no event goes out
    items = stack.api.get("/v1/notifications/suppressions").json()["items"]
    assert [i["email"] for i in items] == ["archive@school.example.com"]
    assert stack.api.get(f"/v2/invitations/{inv}").json()["result"]["emailBounced"] is False
    assert [e for e in mailer_events() if e["type"] == "invitation.email_bounced"] == []


def test_sent_bounced_and_suppressed_emails_are_counted_in_emf_metrics(stack, capsys):
    # Given an e-mail that is sent, then bounces, then a second one to the same address
    publish_failed(stack)
    mailer.run_mailer()
    feed_back(ses_event("Bounce", notify.mail_id("ct:1", CANDIDATE)))
    publish_failed(stack, event_id="ct:2")
    mailer.run_mailer()
    # Then the functions' EMF output counts one sent, one bounced, one suppressed
    metrics: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values = blob[definition["Name"]]
                metrics[definition["Name"]] = metrics.get(definition["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    assert metrics.get("EmailsSent") == 1 and metrics.get("EmailsBounced") == 1
    assert metrics.get("EmailsSuppressed") == 1


def test_lifting_a_suppression_is_scoped(stack):
    _, north_api = child_unit(stack)
    south, _ = child_unit(stack, "South")
    reply = north_api.delete(
        "/v1/notifications/suppressions", query={"email": "x@example.com", "org-unit": south}
    )
    assert reply.status == 403
    missing = stack.api.delete("/v1/notifications/suppressions", query={"email": "x@example.com"})
    assert missing.status == 404 and missing.description.startswith(
        "email: 'x@example.com' is not suppressed"
    )


def test_a_unit_in_spanish_mails_in_spanish_and_its_children_inherit_it(stack):
    # Given a unit whose e-mails are in Spanish, and a child unit that set nothing
    north, north_api = child_unit(stack)
    assert settings(north_api, language="es").json()["effective"]["language"] == "es"
    _, east_api = child_unit(stack, "East Wing", parent=north)
    # When a candidate of the child is invited, and an admin previews the same e-mail
    register(stack, api=east_api)
    mailer.run_mailer()
    preview = east_api.get("/v1/notifications/preview/invitation").json()
    # Then both are in Spanish, with the child's name
    [message] = mails_to(CANDIDATE)
    assert message.subject == "East Wing: su invitación a la prueba"
    assert preview["language"] == "es" and preview["subject"] == message.subject
    # And a preview may ask for another language
    english = east_api.get("/v1/notifications/preview/invitation", query={"language": "en"}).json()
    assert english["subject"] == "East Wing: your test invitation"


def test_an_email_costs_five_dynamodb_calls_and_one_ses_call(stack):
    # Given an invitation e-mail queued (the registration itself costs no extra DynamoDB call)
    register(stack)
    mailer.handler("mailer")
    calls: list[str] = []
    hook = lambda model, **_: calls.append(f"{model.service_model.service_name}:{model.name}")  # noqa: E731
    for service in ("dynamodb", "sesv2"):
        aws.client(service).meta.events.register(f"before-call.{service}", hook)
    try:
        # When the mailer sends it
        mailer.run_queue(get_settings().notifications_queue_url, "mailer")
    finally:
        for service in ("dynamodb", "sesv2"):
            aws.client(service).meta.events.unregister(f"before-call.{service}", hook)
    # Then: settings of the unit's path, the unit's name, the claim, the suppression check, SES, the record
    assert calls == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "sesv2:SendEmail",
        "dynamodb:UpdateItem",
    ]


def test_the_email_history_of_an_address_shows_each_email_its_status_and_feedback(stack):
    # Given an invitation e-mail that bounced, then a certification e-mail held back by the suppression
    inv = register(stack)["testInvitationId"]
    mailer.run_mailer()
    feed_back(ses_event("Bounce", notify.mail_id(f"invitation.email:{inv}", CANDIDATE)))
    publish_failed(stack)
    mailer.run_mailer()
    # When support looks the address up
    north_support = stack.api.post("/v1/api-keys", {"org-unit": stack.root, "role": "support"}).json()[
        "api-key"
    ]
    reply = stack.api.as_key(north_support).get(
        "/v1/notifications/emails", query={"email": CANDIDATE.upper()}
    )
    # Then both e-mails show, newest first, with what happened to them
    assert reply.status == 200, reply.text
    items = reply.json()["items"]
    assert [(i["template"], i["status"], i["feedback"]) for i in items] == [
        ("certification-failed", "suppressed", None),
        ("invitation", "sent", "bounce"),
    ]
    assert items[1]["event-id"] == f"invitation.email:{inv}" and items[1]["message-id"]
    # And another unit's admin cannot look into this unit
    _, north_api = child_unit(stack)
    assert (
        north_api.get("/v1/notifications/emails", query={"email": CANDIDATE, "org-unit": stack.root}).status
        == 403
    )
