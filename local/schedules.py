"""Schedule event sources: ``Type: Schedule`` (EventBridge rules) and ``Type: ScheduleV2`` (EventBridge
Scheduler) run their function on the template's own expression.

``rate(15 minutes)`` fires every 15 minutes counted from the stack's start; ``cron(...)`` (EventBridge's
six fields: minutes hours day-of-month month day-of-week year, UTC, with ``*``, ``?``, lists, ranges, steps
and month / day names) fires at the matching minutes. ``L``, ``W`` and ``#`` are not supported locally
(the event is then reported as not wired). ``Enabled: false`` / ``State: DISABLED`` is honoured; ``Input``
replaces the event as on AWS. A run still going when its next time comes is not started twice.

:meth:`ScheduledTrigger.fire` runs one now (what tests and ``LocalStack.run_schedule`` use).
"""

from __future__ import annotations

import json
import re
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.cfn import EventSource, Template, TemplateError
from local.lambdas import LocalFunction

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}

NextTime = Callable[[datetime], datetime]


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows (None: any, for ``*`` and ``?``)."""
    if text in ("*", "?"):
        return None
    bare = re.sub("|".join(names), "", text.upper()) if names else text.upper()
    if any(c in bare for c in "LW#"):
        raise TemplateError(f"cron field {text!r}: L, W and # are not supported locally")
    allowed: set[int] = set()
    for part in text.split(","):
        part, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", ""):
            start, end = low, high
        else:
            first, _, last = part.partition("-")
            start = _value(first, names)
            end = _value(last, names) if last else (high if step_text else start)
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise TemplateError(f"cron field {text!r} is out of range {low}-{high}")
        allowed.update(range(start, end + 1, step))
    return allowed


def _value(text: str, names: dict[str, int] | None) -> int:
    text = text.strip().upper()
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise TemplateError(f"cron value {text!r} is not a number")
    return int(text)


def parse(expression: str) -> NextTime:
    """A function giving the first time after `t` (UTC, whole minutes) the expression fires."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        amount = int(rate.group(1))
        unit = rate.group(2).rstrip("s")
        if amount < 1:
            raise TemplateError(f"{expression}: the rate must be at least 1")
        period = timedelta(minutes=amount * {"minute": 1, "hour": 60, "day": 1440}[unit])
        return lambda t: t + period
    cron = _CRON.match(expression)
    if not cron:
        raise TemplateError(f"schedule expression {expression!r} is neither rate(...) nor cron(...)")
    parts = cron.group(1).split()
    if len(parts) != 6:
        raise TemplateError(f"{expression}: cron needs six fields (minutes hours day month weekday year)")
    minutes = _field(parts[0], 0, 59)
    hours = _field(parts[1], 0, 23)
    days = _field(parts[2], 1, 31)
    months = _field(parts[3], 1, 12, _MONTHS)
    weekdays = _field(parts[4], 1, 7, _DAYS)
    years = _field(parts[5], 1970, 2199)

    def next_time(t: datetime) -> datetime:
        moment = (t + timedelta(minutes=1)).replace(second=0, microsecond=0)
        limit = moment + timedelta(days=366 * 5)
        while moment < limit:
            weekday = (moment.isoweekday() % 7) + 1  # SUN = 1 ... SAT = 7
            day_ok = (days is None or moment.day in days) and (weekdays is None or weekday in weekdays)
            if (
                (years is None or moment.year in years)
                and (months is None or moment.month in months)
                and day_ok
            ):
                if (hours is None or moment.hour in hours) and (minutes is None or moment.minute in minutes):
                    return moment
                moment += timedelta(minutes=1)
                continue
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
        raise TemplateError(f"{expression} never fires in the next five years")

    return next_time


@dataclass
class ScheduledTrigger:
    """One schedule of the template, with its function and its next time."""

    function_id: str
    event_name: str
    expression: str
    function: LocalFunction
    rule_arn: str
    account_id: str
    region: str
    next_time: NextTime = field(repr=False)
    payload: Any = None  # the template's Input (replaces the event), if any
    scheduler: bool = False  # ScheduleV2 (EventBridge Scheduler)
    next_run: datetime = field(default_factory=lambda: datetime.now(UTC))
    runs: int = 0
    running: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def event(self) -> Any:
        if self.payload is not None:
            return json.loads(json.dumps(self.payload))
        if self.scheduler:
            return {}
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [self.rule_arn],
            "detail": {},
        }

    def fire(self) -> Any:
        """Run the function now with the scheduled event; returns its reply."""
        with self.running:
            self.runs += 1
            return self.function.invoke(self.event())


class Ticker:
    """Fires due schedules in worker threads; one thread sleeps until the next one is due."""

    def __init__(self, triggers: list[ScheduledTrigger]) -> None:
        self.triggers = triggers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)

    def start(self) -> None:
        now = datetime.now(UTC)
        for trigger in self.triggers:
            trigger.next_run = trigger.next_time(now)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for trigger in self.triggers:
                if trigger.next_run <= now:
                    trigger.next_run = trigger.next_time(now)
                    threading.Thread(target=self._fire, args=(trigger,), daemon=True).start()
            soonest = min((t.next_run for t in self.triggers), default=now + timedelta(seconds=1))
            self._stop.wait(max(0.05, min(1.0, (soonest - datetime.now(UTC)).total_seconds())))

    @staticmethod
    def _fire(trigger: ScheduledTrigger) -> None:
        if trigger.running.locked():
            print(
                f"local stack: {trigger.function_id}.{trigger.event_name} is still running; "
                "this tick is skipped"
            )
            return
        try:
            trigger.fire()
        except Exception:
            print(f"local stack: scheduled {trigger.function_id}.{trigger.event_name} failed:")
            traceback.print_exc()


def trigger_for(template: Template, runtime: Any, source: EventSource) -> ScheduledTrigger | None:
    props = source.properties
    scheduler = source.type == "ScheduleV2"
    expression = str(props.get("ScheduleExpression" if scheduler else "Schedule", ""))
    state = str(props.get("State", "ENABLED")).upper()
    if str(props.get("Enabled", True)).lower() == "false" or state == "DISABLED":
        print(f"local stack: schedule {source.function_id}.{source.name} is disabled")
        return None
    payload = props.get("Input")
    if isinstance(payload, str):
        payload = json.loads(payload)
    name = str(props.get("Name") or f"{source.function_id}{source.name}")
    return ScheduledTrigger(
        function_id=source.function_id,
        event_name=source.name,
        expression=expression,
        function=runtime[source.function_id],
        rule_arn=f"arn:aws:{'scheduler' if scheduler else 'events'}:{template.region}:{template.account_id}:"
        f"{'schedule/default' if scheduler else 'rule'}/{name}",
        account_id=template.account_id,
        region=template.region,
        next_time=parse(expression),
        payload=payload,
        scheduler=scheduler,
    )


def wire_schedules(context: Any, sources: list[EventSource]) -> None:
    """Run the template's Schedule / ScheduleV2 events on their expressions (see the module's docstring)."""
    triggers: list[ScheduledTrigger] = []
    for source in sources:
        try:
            trigger = trigger_for(context.template, context.runtime, source)
        except (TemplateError, ValueError) as exc:
            print(f"local stack: schedule {source.function_id}.{source.name} is not wired: {exc}")
            continue
        if trigger is not None:
            triggers.append(trigger)
    if not triggers:
        return
    ticker = Ticker(triggers)
    ticker.start()
    context.schedules.extend(triggers)
    context.stoppers.append(ticker.stop)
