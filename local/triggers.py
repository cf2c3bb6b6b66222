"""Function triggers other than ``Api``: where S3, SQS, SNS and schedule events get wired.

The template's function events are grouped by type (:meth:`local.cfn.Template.event_sources`); each
type has a wirer here. ``Api`` events are served by :mod:`local.server`. The others are not wired yet:
their wirers are the hooks to fill in (an SQS poller that calls the handler with SQS batches and
honours ``ReportBatchItemFailures``, an S3 object-created watcher, a schedule ticker, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from local.cfn import EventSource, Template
from local.lambdas import LambdaRuntime


@dataclass
class TriggerContext:
    """What a wirer gets: the template, the functions, and moto's endpoint."""

    template: Template
    runtime: LambdaRuntime
    endpoint_url: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)  # called on stop, last first


Wirer = Callable[[TriggerContext, list[EventSource]], None]


def _served_by_front(_context: TriggerContext, _sources: list[EventSource]) -> None:
    """``Api`` events are routes of :class:`local.server.FrontServer`."""


def _not_wired(event_type: str) -> Wirer:
    def wire(_context: TriggerContext, sources: list[EventSource]) -> None:
        # TODO(triggers): deliver these events locally.
        names = ", ".join(f"{source.function_id}.{source.name}" for source in sources)
        print(f"local stack: {event_type} events are not wired locally yet ({names})")

    return wire


#: Event type → wirer. Replace an entry to wire that trigger type.
WIRERS: dict[str, Wirer] = {
    "Api": _served_by_front,
    "SQS": _not_wired("SQS"),
    "S3": _not_wired("S3"),
    "SNS": _not_wired("SNS"),
    "Schedule": _not_wired("Schedule"),
    "ScheduleV2": _not_wired("ScheduleV2"),
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
