"""Function triggers other than ``Api``: where S3, SQS, SNS and schedule events get wired.

The template's function events are grouped by type (:meth:`local.cfn.Template.event_sources`); each
type has a wirer here. ``Api`` events are served by :mod:`local.server`. Wired generically from the
template, for any function that declares them:

- ``SQS``: :func:`local.sqs.wire_sqs` (pollers: batches, ReportBatchItemFailures, redelivery, DLQ);
- ``S3``: :func:`local.s3events.wire_s3` (object created / removed, prefix / suffix filters);
- ``Schedule`` / ``ScheduleV2``: :func:`local.schedules.wire_schedules` (rate and cron expressions).

The other types (SNS, EventBridge rules, DynamoDB streams) are not wired yet: their entries below are the
hooks to fill in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.cfn import EventSource, Template
from local.lambdas import LambdaRuntime


@dataclass
class TriggerContext:
    """What a wirer gets: the template, the functions, and moto's endpoint."""

    template: Template
    runtime: LambdaRuntime
    endpoint_url: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)  # called on stop, last first
    # Observers of every request moto answers (the stack passes its moto app's list).
    observers: list[Callable[[Any], None]] = field(default_factory=list)
    pollers: list[Any] = field(default_factory=list)  # local.sqs.QueuePoller
    notifiers: list[Any] = field(default_factory=list)  # local.s3events.S3Notifier
    schedules: list[Any] = field(default_factory=list)  # local.schedules.ScheduledTrigger


Wirer = Callable[[TriggerContext, list[EventSource]], None]


def _served_by_front(_context: TriggerContext, _sources: list[EventSource]) -> None:
    """``Api`` events are routes of :class:`local.server.FrontServer`."""


def _not_wired(event_type: str) -> Wirer:
    def wire(_context: TriggerContext, sources: list[EventSource]) -> None:
        # TODO(triggers): deliver these events locally.
        names = ", ".join(f"{source.function_id}.{source.name}" for source in sources)
        print(f"local stack: {event_type} events are not wired locally yet ({names})")

    return wire


def _sqs(context: TriggerContext, sources: list[EventSource]) -> None:
    from local.sqs import wire_sqs

    wire_sqs(context, sources)


def _s3(context: TriggerContext, sources: list[EventSource]) -> None:
    from local.s3events import wire_s3

    wire_s3(context, sources)


def _schedules(context: TriggerContext, sources: list[EventSource]) -> None:
    from local.schedules import wire_schedules

    wire_schedules(context, sources)


#: Event type → wirer. Replace an entry to wire that trigger type.
WIRERS: dict[str, Wirer] = {
    "Api": _served_by_front,
    "SQS": _sqs,
    "S3": _s3,
    "SNS": _not_wired("SNS"),
    "Schedule": _schedules,
    "ScheduleV2": _schedules,
    "EventBridgeRule": _not_wired("EventBridgeRule"),
    "CloudWatchEvent": _not_wired("CloudWatchEvent"),
    "DynamoDB": _not_wired("DynamoDB"),
}


def wire_triggers(context: TriggerContext) -> None:
    for event_type, sources in context.template.event_sources().items():
        WIRERS.get(event_type, _not_wired(event_type))(context, sources)


def stop_triggers(context: TriggerContext) -> None:
    while context.stoppers:
        context.stoppers.pop()()
