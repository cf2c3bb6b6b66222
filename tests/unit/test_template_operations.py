"""template.yaml keeps its production patterns for every function and queue, including ones added later."""

import json

from local.cfn import Template
from tests.helpers import TEMPLATE


def _template() -> Template:
    return Template.load(TEMPLATE)


def _resources() -> dict:
    return _template().data["Resources"]


def _skips(resource: dict) -> dict[str, str]:
    skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return {s["id"]: s.get("comment", "") for s in skips}


def test_every_function_has_an_errors_alarm_and_a_place_on_the_dashboard():
    resources = _resources()
    body = json.loads(resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    dashboard = json.dumps(body)
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        alarm = resources.get(f"{name}ErrorsAlarm")
        assert alarm and alarm["Properties"]["MetricName"] == "Errors", name
        assert alarm["Properties"]["Dimensions"][0]["Value"] == {"Ref": name}, name
        assert "${" + name + "}" in dashboard, name


def test_every_dead_letter_queue_raises_an_alarm_on_its_first_message():
    resources = _resources()
    dlqs = {
        res["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for res in resources.values()
        if res["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in res.get("Properties", {})
    } | {
        res["Properties"]["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
        for res in resources.values()
        if res["Type"] == "AWS::Serverless::Function" and "DeadLetterQueue" in res["Properties"]
    }
    assert dlqs
    for dlq in dlqs:
        alarm = resources[f"{dlq}Alarm"]["Properties"]
        assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "ApproximateNumberOfMessagesVisible",
            0,
            "GreaterThanThreshold",
        ), dlq


def test_queues_are_encrypted_and_every_checkov_skip_says_why():
    for name, res in _resources().items():
        if res["Type"] == "AWS::SQS::Queue":
            assert res["Properties"].get("SqsManagedSseEnabled") is True, name
        for check, comment in _skips(res).items():
            assert len(comment) > 20, f"{name}: skip of {check} needs its reason"


def test_tables_keep_their_data_safe():
    for name, res in _resources().items():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = res["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        if name != "IdempotencyTable":  # 24 h of TTL'd records: nothing to restore (skip listed)
            assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
            assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}, name
