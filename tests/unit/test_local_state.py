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


def test_snapshots_run_once_a_quiet_delay_after_the_last_change_and_touches_wake_the_thread_once():
    # Given a debounced action, and a count of the times a touch wakes its thread
    import threading
    import time

    from local.state import Debouncer

    runs: list[float] = []
    ran = threading.Event()

    def action() -> None:
        runs.append(time.monotonic())
        ran.set()

    debouncer = Debouncer(action, delay=0.3, max_delay=30)
    wakes = []
    notify = debouncer._condition.notify
    debouncer._condition.notify = lambda n=1: (wakes.append(n), notify(n))[1]  # type: ignore[method-assign]
    debouncer.start()
    try:
        # When changes come in a burst (every write the stack serves touches it)
        for _ in range(50):
            debouncer.touch()
            time.sleep(0.002)
        last = time.monotonic()
        assert ran.wait(5)
        # Then the action ran once, a quiet delay after the last change, and only the first touch woke it
        time.sleep(0.4)
        assert len(runs) == 1 and runs[0] - last >= 0.25
        assert len(wakes) == 1
        # And a change after the run is picked up again
        ran.clear()
        debouncer.touch()
        assert ran.wait(5) and len(runs) == 2
    finally:
        debouncer.stop()
