"""E-mail templates (jinja2: text as text, HTML escaped) and the local stack's SES event publishing."""

from __future__ import annotations

import json

import pytest

from gateway import mailtexts, notify
from local.aws import MotoExchange
from local.cfn import Template
from local.sesevents import SesEventPublisher, destinations, ses_events
from tests.helpers import TEMPLATE

UNIT = {"id": "ou_1", "name": "North & South <Campus>"}


@pytest.mark.parametrize("name", mailtexts.NAMES)
@pytest.mark.parametrize("language", mailtexts.LANGUAGES)
def test_every_email_renders_in_every_language_with_its_sample(name, language):
    # Given the template's sample data and a unit whose name needs escaping in HTML
    context = mailtexts.SAMPLES[name] | {"unit": UNIT, "candidate": mailtexts.SAMPLE_CANDIDATE}
    # When it is rendered
    rendered = mailtexts.render(name, language, context)
    # Then subject, text and HTML are filled in, the subject on one line, the HTML escaped
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.strip() and "None" not in rendered.text
    assert "North &amp; South &lt;Campus&gt;" in rendered.html and "<Campus>" not in rendered.html


def test_candidate_data_is_escaped_in_html_and_kept_in_text():
    context = mailtexts.SAMPLES[mailtexts.CERTIFICATION_FAILED] | {
        "unit": UNIT,
        "candidate": {"full_name": "<script>alert(1)</script>", "email": "x@example.com"},
        "cant_do": ["<b>Can</b> read"],
    }
    rendered = mailtexts.render(mailtexts.CERTIFICATION_FAILED, "en", context)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "&lt;b&gt;Can&lt;/b&gt; read" in rendered.html
    assert "Hello <script>alert(1)</script>," in rendered.text and "- <b>Can</b> read" in rendered.text


def test_optional_data_missing_from_an_event_renders_as_nothing():
    rendered = mailtexts.render(mailtexts.TEST_COMPLETED, "en", {"unit": UNIT})
    assert "score" not in rendered.text.lower() and "None" not in rendered.text


def test_the_stx_email_keeps_its_text():
    context = {
        "unit": UNIT,
        "test_type": "Academic-Plus",
        "test_id": "T1",
        "password": "pw",
        "start_url": "https://e",
    }
    rendered = mailtexts.render(mailtexts.TEST_ID, "en", context)
    assert rendered.subject == "Your Academic-Plus test ID"
    assert (
        "Test ID:  T1\nPassword: pw\n" in rendered.text
        and "To start, open https://e and sign in" in rendered.text
    )


def test_an_unknown_language_falls_back_to_english():
    context = {"unit": UNIT} | mailtexts.SAMPLES[mailtexts.LOW_STOCK]
    assert mailtexts.render(mailtexts.LOW_STOCK, "xx", context) == mailtexts.render(
        mailtexts.LOW_STOCK, "en", context
    )


def test_the_mail_id_is_per_event_and_recipient_ignoring_case():
    assert notify.mail_id("e1", "A@Example.com") == notify.mail_id("e1", "a@example.com")
    assert notify.mail_id("e1", "a@example.com") != notify.mail_id("e2", "a@example.com")
    assert notify.path_ids("/root/a/b/") == ["b", "a", "root"]


@pytest.mark.parametrize("field", ["notify", "notified"])  # "notified": events queued by older versions
def test_a_low_stock_warning_goes_to_the_units_admins_and_the_thresholds_addresses_once_each(field):
    # Given a unit whose admins include an address the threshold names again, in other case
    settings = notify.Effective(
        {"admin_emails": ["Head@School.example.com", "dean@school.example.com"]}, {}, {}
    )
    event = {
        "type": notify.INVENTORY_LOW,
        "data": {
            "test-type": "Academic-Plus",
            "available": 2,
            "threshold": 3,
            field: ["head@school.example.com", "ops@school.example.com"],
        },
    }
    # When the mailer plans the warning
    mails = notify.plan(event, settings)
    # Then one admin e-mail per distinct address, the admins' spelling kept
    assert [(m.template, m.to, m.client) for m in mails] == [
        (mailtexts.LOW_STOCK, "Head@School.example.com", False),
        (mailtexts.LOW_STOCK, "dean@school.example.com", False),
        (mailtexts.LOW_STOCK, "ops@school.example.com", False),
    ]
    assert notify.plan(event | {"data": {field: []}}, notify.Effective({"admin_emails": []}, {}, {})) == []


# ------------------------------------------------------------------------------------ local SES events
def test_the_event_destinations_come_from_the_template():
    template = Template.load(TEMPLATE)
    found = destinations(template)
    [(topic, kinds)] = found[template.physical_name("MailConfigurationSet")]
    assert topic == template.arn("MailFeedbackTopic") and {"send", "bounce", "complaint"} <= kinds


def test_a_send_to_the_simulator_makes_send_bounce_complaint_and_delivery_events():
    request = {
        "FromEmailAddress": "no-reply@example.com",
        "Destination": {
            "ToAddresses": ["bounce+x@simulator.amazonses.com", "ok@example.com"],
            "BccAddresses": ["complaint@simulator.amazonses.com"],
        },
        "ConfigurationSetName": "cs",
        "EmailTags": [{"Name": "mail-id", "Value": "m1"}],
    }
    events = {e["eventType"]: e for e in ses_events(request, "msg-1")}
    assert set(events) == {"Send", "Bounce", "Complaint", "Delivery"}
    assert (
        events["Send"]["mail"]["tags"]["mail-id"] == ["m1"] and events["Send"]["mail"]["messageId"] == "msg-1"
    )
    assert events["Bounce"]["bounce"]["bouncedRecipients"] == [
        {"emailAddress": "bounce+x@simulator.amazonses.com"}
    ]
    assert events["Bounce"]["bounce"]["bounceType"] == "Permanent"
    assert events["Complaint"]["complaint"]["complainedRecipients"][0]["emailAddress"].startswith(
        "complaint@"
    )
    assert events["Delivery"]["delivery"]["recipients"] == ["ok@example.com"]


def test_the_publisher_queues_only_matching_events_of_its_configuration_sets():
    template = Template.load(TEMPLATE)
    published: list[tuple[str, str]] = []

    class Sns:
        def publish(self, TopicArn, Message):
            published.append((TopicArn, Message))

    publisher = SesEventPublisher(template, Sns)
    body = {
        "Destination": {"ToAddresses": ["bounce@simulator.amazonses.com"]},
        "ConfigurationSetName": template.physical_name("MailConfigurationSet"),
    }
    for config in (body, body | {"ConfigurationSetName": "other"}):
        publisher.observe(
            MotoExchange(
                method="POST",
                path="/v2/email/outbound-emails",
                operation=None,
                request_body=json.dumps(config).encode(),
                status=200,
                response_body=b'{"MessageId": "msg-9"}',
            )
        )
    publisher.start()
    publisher.stop()
    assert [json.loads(m)["eventType"] for _, m in published] == ["Send", "Bounce"]
