"""moto made to cost what AWS's operations cost: transactions without table copies, SQS without rescans.

**TransactWriteItems.**

moto 5.2 backs a transaction up by ``copy.deepcopy`` of each table named in it (once per item, the same
table again for every item) and puts the copies back if any item fails. A transaction therefore costs time
in proportion to the size of the tables: measured on this project's backend, a 2-item transaction on a
1,000-item table took 1.2 s against 10 ms for an ``UpdateItem``, and 12 s at 4,000 items, with the local
stack's lock held all along. Real DynamoDB's cost does not depend on table size.

:func:`install` replaces the method with the same steps (same checks, same order, same errors) and a
journal instead of the copies: before each item runs, a deep copy of just that item (or its absence) is
kept, and a failed transaction puts those items back in reverse order. moto derives indexes from the
items on every query, so restoring items restores them; template tables declare no streams (a stream
record of a rolled-back write would stay, as it would not in AWS, so :func:`install` refuses such tables).

**SQS.** moto 5.2's ``ReceiveMessage`` checks each message it returns against the queue's retention period
by computing *every* queue attribute, three of which (``ApproximateNumberOfMessages``, ``...Delayed``,
``...NotVisible``) walk the whole queue reading the clock once or twice per message; ``SendMessage``
computes all attributes too, to read ``ContentBasedDeduplication``. A receive of 10 therefore cost
O(10 x queue length): measured 19 ms on an empty queue, 314 ms with 500 delayed messages, 840 ms with
2,000, under the local stack's lock (the delivery queue holds every retry in flight, the events queue the
whole backlog of a burst). :func:`install` reads the retention period straight from the queue and makes
the three counts and the visible-message list read the clock once per call: same results (the counts are
"approximate" in AWS too; one instant per call is what they describe), cost O(queue length) per call with
a small constant, and none per message returned.
"""

from __future__ import annotations

import copy
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import Queue, SQSBackend

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    Queue.messages = property(_visible_messages)  # type: ignore[assignment, method-assign]
    Queue.approximate_number_of_messages_delayed = property(_delayed_count)  # type: ignore[assignment, method-assign]
    Queue.approximate_number_of_messages_not_visible = property(_not_visible_count)  # type: ignore[assignment, method-assign]
    _installed = True


def _retained(self: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check, reading the one attribute it needs (not all of them)."""
    from moto.core.utils import unix_time

    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())


def _visible_messages(self: Any) -> list[Any]:
    """``Queue.messages``: visible and not delayed, against one reading of the clock."""
    from moto.core.utils import unix_time_millis

    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self: Any) -> int:
    from moto.core.utils import unix_time_millis

    now = unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _not_visible_count(self: Any) -> int:
    from moto.core.utils import unix_time_millis

    now = unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal: list[tuple[Any, Any, Any, Any]] = []  # (table, hash key, range key, item before or None)
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    def remember(table_name: str, key: dict[str, Any]) -> None:
        table = self.get_table(table_name)
        if table.stream_shard is not None:
            raise NotImplementedError("local stack: transactions on tables with streams are not supported")
        hash_key, range_key = self.get_keys_value(table, key)
        before = table.get_item(hash_key, range_key)
        journal.append((table, hash_key, range_key, copy.deepcopy(before)))

    def rollback() -> None:
        for table, hash_key, range_key, before in reversed(journal):
            if range_key is not None:
                if before is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                    if hash_key in table.items and not table.items[hash_key]:
                        del table.items[hash_key]
                else:
                    table.items[hash_key][range_key] = before
            elif before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                remember(table_name, key)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), original_item))  # type: ignore[arg-type]
        except NotImplementedError:
            rollback()
            raise
        except Exception as exc:  # as moto: any other failure of an item cancels the transaction
            errors.append((type(exc).__name__, str(exc), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)
