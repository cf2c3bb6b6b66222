"""The local stack's snapshot reads tables straight from moto's backend: the same items a Scan returns."""

from __future__ import annotations

import boto3
from moto import mock_aws

from local.aws import table_items
from local.state import decode_item, encode_item

ITEM = {
    "pk": {"S": "a"},
    "n": {"N": "1.50"},
    "b": {"B": b"\x00\xff"},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2"]},
    "flag": {"BOOL": False},
    "none": {"NULL": True},
    "m": {"M": {"bin": {"B": b"\x03"}, "l": {"L": [{"N": "7"}, {"M": {"deep": {"B": b"\x04"}}}]}}},
}


def test_a_snapshot_of_a_table_holds_what_a_scan_reads(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with mock_aws():
        # Given a table with an item of every attribute type, binary nested in maps and lists included
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=ITEM)
        # When the snapshot reads the table from moto's backend
        items = table_items("t", region="us-east-1")
        # Then it holds the item a Scan returns, in snapshot form, and restores to the same item
        scanned = client.scan(TableName="t")["Items"]
        assert items == [encode_item(item) for item in scanned]
        assert decode_item(items[0]) == ITEM
