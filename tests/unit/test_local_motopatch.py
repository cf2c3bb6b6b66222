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
