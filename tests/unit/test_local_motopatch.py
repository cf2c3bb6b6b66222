"""The local stack's TransactWriteItems: what moto's own does, without copying the tables it touches."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from local import motopatch

ORIGINAL = DynamoDBBackend.transact_write_items


def _tables(client):
    for name, range_key in (("plain", False), ("ranged", True)):
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "S"})
        client.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
        )
    client.put_item(TableName="plain", Item={"pk": {"S": "kept"}, "n": {"N": "1"}})
    client.put_item(TableName="ranged", Item={"pk": {"S": "p"}, "sk": {"S": "old"}, "n": {"N": "1"}})


def _put(table, pk, sk=None, condition=None):
    item = {"pk": {"S": pk}, **({"sk": {"S": sk}} if sk else {}), "n": {"N": "9"}}
    return {
        "Put": {"TableName": table, "Item": item, **({"ConditionExpression": condition} if condition else {})}
    }


SCENARIOS = {
    "all succeed": [
        _put("plain", "new"),
        {
            "Update": {
                "TableName": "plain",
                "Key": {"pk": {"S": "kept"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "p"}, "sk": {"S": "old"}}}},
    ],
    "the last condition fails": [
        _put("plain", "new"),
        _put("ranged", "p", "fresh"),
        {
            "Update": {
                "TableName": "plain",
                "Key": {"pk": {"S": "kept"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "p"}, "sk": {"S": "old"}}}},
        {
            "ConditionCheck": {
                "TableName": "plain",
                "Key": {"pk": {"S": "absent"}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ],
    "a put over an existing item fails its condition": [
        {
            "Update": {
                "TableName": "ranged",
                "Key": {"pk": {"S": "p"}, "sk": {"S": "old"}},
                "UpdateExpression": "SET n = :z",
                "ExpressionAttributeValues": {":z": {"N": "0"}},
            }
        },
        _put("plain", "kept", condition="attribute_not_exists(pk)"),
    ],
    "the same item twice": [_put("plain", "new"), _put("plain", "new")],
}


def _run(scenario, implementation, monkeypatch):
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", implementation)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _tables(client)
        try:
            client.transact_write_items(TransactItems=SCENARIOS[scenario])
            outcome = "committed"
        except ClientError as exc:
            outcome = (exc.response["Error"]["Code"], exc.response.get("CancellationReasons"))
        state = {t: sorted(map(str, client.scan(TableName=t)["Items"])) for t in ("plain", "ranged")}
    return outcome, state


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_patched_transaction_commits_and_rolls_back_as_motos_own(scenario, monkeypatch):
    # Given the same tables and transaction, When moto's and the local stack's implementations run it
    expected = _run(scenario, ORIGINAL, monkeypatch)
    got = _run(scenario, motopatch._transact_write_items, monkeypatch)
    # Then the reply (commit, or cancellation with the same reasons) and the stored items are the same
    assert got == expected


def test_a_transaction_copies_no_table(monkeypatch):
    # Given tables that refuse to be copied
    def refuse(self, memo):
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    # When a transaction fails and is rolled back, Then no table was copied and nothing was written
    outcome, state = _run("the last condition fails", motopatch._transact_write_items, monkeypatch)
    assert outcome[0] == "TransactionCanceledException"
    assert state["plain"] == sorted(map(str, [{"pk": {"S": "kept"}, "n": {"N": "1"}}]))


# SQS: the counts, the visible messages and the retention check, without rescanning the queue per message.

SQS_PATCHES = {
    "is_message_valid_based_on_retention_period": motopatch._retained,
    "messages": property(motopatch._visible_messages),
    "approximate_number_of_messages_delayed": property(motopatch._delayed_count),
    "approximate_number_of_messages_not_visible": property(motopatch._not_visible_count),
}
COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)


def _sqs_implementation(monkeypatch, patched: bool) -> None:
    from moto.sqs.models import Queue, SQSBackend

    for name, implementation in SQS_PATCHES.items():
        owner = SQSBackend if name.startswith("is_") else Queue
        monkeypatch.setattr(owner, name, implementation if patched else ORIGINAL_SQS[name])


def _original_sqs():
    from moto.sqs.models import Queue, SQSBackend

    return {name: (SQSBackend if name.startswith("is_") else Queue).__dict__[name] for name in SQS_PATCHES}


ORIGINAL_SQS = _original_sqs()


def _queue_life(monkeypatch, patched: bool):
    """Visible, delayed and in-flight messages; the counts and what receives return, step by step."""
    _sqs_implementation(monkeypatch, patched)
    seen = []
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "600"})["QueueUrl"]
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"now-{n}")
        for n in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"later-{n}", DelaySeconds=900)

        def counts():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return {name: attributes[name] for name in COUNTS}

        seen.append(counts())
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=300)["Messages"]
        seen.append(sorted(m["Body"] for m in first))
        seen.append(counts())
        rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
        seen.append(sorted(m["Body"] for m in rest))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        seen.append(counts())
        seen.append(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))
    return seen


def test_the_patched_queue_counts_and_receives_as_motos_own(monkeypatch):
    # Given the same messages (visible, delayed, in flight), When moto's and the patched queue run them
    # Then every count and every receive is the same
    assert _queue_life(monkeypatch, patched=True) == _queue_life(monkeypatch, patched=False)


def test_a_message_past_the_retention_period_is_not_returned(monkeypatch):
    # Given a queue that keeps messages 60 s, and a message sent two minutes ago
    from moto.sqs.models import sqs_backends

    _sqs_implementation(monkeypatch, patched=True)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        sqs.send_message(QueueUrl=url, MessageBody="old too")
        queue = sqs_backends["123456789012"]["us-east-1"].queues["short"]
        queue._messages[0].sent_timestamp -= 120_000
        # When it is received, Then it is not returned (moto's own behaviour: the receive stops there)
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []


def test_a_receive_computes_no_queue_attributes(monkeypatch):
    # Given queue attributes that refuse to be computed (each costs three walks of the queue)
    from moto.sqs.models import Queue

    _sqs_implementation(monkeypatch, patched=True)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="busy")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(10)]
        )

        def refuse(self):
            raise AssertionError("all queue attributes computed for a receive")

        monkeypatch.setattr(Queue, "attributes", property(refuse))
        # When ten messages are received, Then all ten come back and no attribute was computed
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(got) == 10
