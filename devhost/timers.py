"""Timer triggers: NCRONTAB schedules, as the Functions host evaluates them.

The host uses the NCrontab library with six fields, ``{second} {minute} {hour}
{day} {month} {day-of-week}``, in UTC unless ``WEBSITE_TIME_ZONE`` says
otherwise (the dev host supports UTC only).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from devhost.discovery import FunctionSpec
from devhost.dispatcher import Dispatcher

__all__ = ["Schedule", "ScheduleError", "TimerScheduler"]

logger = logging.getLogger(__name__)

_MONTHS = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, low, high, names) per field, in NCRONTAB order.
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
# A run later than this after its occurrence is reported as past due, like the
# host's TimerInfo.IsPastDue after a stall or restart.
PAST_DUE_AFTER = timedelta(seconds=1)
SEARCH_LIMIT = timedelta(days=366 * 5)


class ScheduleError(ValueError):
    """An NCRONTAB expression is malformed; the message names the field."""


def _value(text: str, field: str, low: int, high: int, names: Sequence[str]) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + low
    try:
        value = int(text)
    except ValueError as exc:
        raise ScheduleError(f"{field} field: {text!r} is not a number") from exc
    if field == "day-of-week" and value == 7:
        return 0  # Sunday may be written 0 or 7.
    if not low <= value <= high:
        raise ScheduleError(f"{field} field: {value} is outside {low}-{high}")
    return value


def _parse_field(
    text: str, field: str, low: int, high: int, names: Sequence[str]
) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field} field: step {step_text!r} is invalid")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, field, low, high, names)
            end = _value(last, field, low, high, names)
        else:
            start = _value(base, field, low, high, names)
            end = high if step_text else start
        if start > end:
            raise ScheduleError(f"{field} field: range {base!r} is reversed")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed NCRONTAB expression.

    Parameters
    ----------
    expression : str
        Six fields; a five-field expression gets second 0, as NCrontab's
        non-seconds format does.
    """

    expression: str
    _fields: tuple[frozenset[int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = self.expression.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise ScheduleError(
                f"schedule {self.expression!r} needs six fields: "
                "second minute hour day month day-of-week"
            )
        fields = tuple(
            _parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)
        )
        object.__setattr__(self, "_fields", fields)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment`` (UTC)."""
        seconds, minutes, hours, days, months, weekdays = self._fields
        current = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        limit = current + SEARCH_LIMIT
        while current < limit:
            if current.month not in months:
                year, month = divmod(current.month, 12)
                current = current.replace(
                    year=current.year + year,
                    month=month + 1,
                    day=1,
                    hour=0,
                    minute=0,
                    second=0,
                )
                continue
            # NCrontab requires both day fields to match (Vixie cron would
            # accept either when both are restricted).
            weekday = (current.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
            if current.day not in days or weekday not in weekdays:
                current = (current + timedelta(days=1)).replace(
                    hour=0, minute=0, second=0
                )
                continue
            if current.hour not in hours:
                current = (current + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if current.minute not in minutes:
                current = (current + timedelta(minutes=1)).replace(second=0)
                continue
            if current.second not in seconds:
                current += timedelta(seconds=1)
                continue
            return current
        raise ScheduleError(f"schedule {self.expression!r} never fires")


class TimerScheduler:
    """Runs each timer function on its schedule in the worker pool.

    Occurrences do not overlap: the next one is computed when a run finishes, as
    the host's singleton lock for timer triggers ensures.
    """

    def __init__(self, functions: Sequence[FunctionSpec], dispatcher: Dispatcher):
        self.functions = list(functions)
        self.dispatcher = dispatcher
        self.schedules = {spec.name: Schedule(spec.schedule) for spec in functions}

    async def run(self, stop: asyncio.Event) -> None:
        """Run every timer until ``stop`` is set."""
        await asyncio.gather(*(self._run_one(spec, stop) for spec in self.functions))

    async def _run_one(self, spec: FunctionSpec, stop: asyncio.Event) -> None:
        schedule = self.schedules[spec.name]
        if spec.run_on_startup:
            await self._fire(spec, past_due=False)
        while not stop.is_set():
            due = schedule.next_after(datetime.now(UTC))
            wait = (due - datetime.now(UTC)).total_seconds()
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0))
                return
            except TimeoutError:
                pass
            await self._fire(spec, past_due=datetime.now(UTC) - due > PAST_DUE_AFTER)

    async def _fire(self, spec: FunctionSpec, *, past_due: bool) -> None:
        await self.dispatcher.invoke_once(
            spec.name, {"past_due": past_due}, str(uuid.uuid4()), "timer"
        )
