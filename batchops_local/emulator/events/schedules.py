"""EventBridge schedules: rules with a ScheduleExpression fire on their own cadence (moto never fires them).

`rate(N unit)` and six-field `cron(min hour day-of-month month day-of-week year)` in EventBridge syntax
(UTC; day-of-week 1-7 = SUN-SAT, `?`, `L`, `W`, `#`), evaluated with croniter. A scheduler thread polls
the rules; `fire_rule_now` delivers a `Scheduled Event` to a rule's targets at once (tests, CLI).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from .bus import deliver_to_targets, event_for_targets, new_event

log = logging.getLogger("batchops_local.emulator.schedules")

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON = re.compile(r"cron\((.+)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MAX_YEAR_SKIPS = 500


class ScheduleExpressionError(ValueError):
    pass


class RuleNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Schedule:
    expression: str
    interval_seconds: int | None = None  # rate(...)
    cron_fields: str | None = None  # croniter's five fields
    years: frozenset[int] | None = None  # None: every year

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after `moment` (a rate's first run is one interval after creation)."""
        if self.interval_seconds is not None:
            return moment + timedelta(seconds=self.interval_seconds)
        iterator = croniter(self.cron_fields, moment)
        for _ in range(_MAX_YEAR_SKIPS * 366):
            candidate: datetime = iterator.get_next(datetime)
            if self.years is None or candidate.year in self.years:
                return candidate
            if self.years and candidate.year > max(self.years):
                return None
        return None


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression; raise ScheduleExpressionError naming what is wrong."""
    text = (expression or "").strip()
    rate = _RATE.fullmatch(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ScheduleExpressionError(f"{expression!r}: a rate must be at least 1")
        return Schedule(expression=text, interval_seconds=value * _UNIT_SECONDS[unit])
    cron = _CRON.fullmatch(text)
    if not cron:
        raise ScheduleExpressionError(f"{expression!r}: expected 'rate(N minutes|hours|days)' or 'cron(...)'")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{expression!r}: a cron expression has 6 fields (min hour day-of-month month day-of-week year), "
            f"found {len(fields)}"
        )
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    cron_fields = " ".join(
        [
            minute,
            hour,
            "*" if day_of_month == "?" else day_of_month,
            month,
            "*" if day_of_week == "?" else _croniter_day_of_week(day_of_week, expression),
        ]
    )
    try:
        croniter(cron_fields, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception as error:
        raise ScheduleExpressionError(f"{expression!r}: {error}") from None
    return Schedule(expression=text, cron_fields=cron_fields, years=_years(year, expression))


def _croniter_day_of_week(field: str, expression: str) -> str:
    """EventBridge numbers days 1-7 from Sunday, croniter 0-6; `6L` (last Friday) becomes `L5`."""

    def convert(day: str) -> str:
        if day.upper() in _DAY_NAMES:
            return day.upper()
        if not day.isdigit() or not 1 <= int(day) <= 7:
            raise ScheduleExpressionError(f"{expression!r}: day-of-week {day!r} is not 1-7 or SUN-SAT")
        return str(int(day) - 1)

    parts = []
    for part in field.split(","):
        if part == "*":
            parts.append(part)
        elif part.upper().endswith("L") and len(part) > 1:
            parts.append("L" + convert(part[:-1]))
        elif "#" in part:
            day, nth = part.split("#", 1)
            parts.append(f"{convert(day)}#{nth}")
        elif "-" in part:
            low, high = part.split("-", 1)
            parts.append(f"{convert(low)}-{convert(high)}")
        elif "/" in part:
            start, step = part.split("/", 1)
            parts.append(f"{'*' if start == '*' else convert(start)}/{step}")
        else:
            parts.append(convert(part))
    return ",".join(parts)


def _years(field: str, expression: str) -> frozenset[int] | None:
    if field == "*":
        return None
    years: set[int] = set()
    try:
        for part in field.split(","):
            if "/" in part:
                start, step = part.split("/", 1)
                first = 1970 if start == "*" else int(start)
                years.update(range(first, 2200, int(step)))
            elif "-" in part:
                low, high = part.split("-", 1)
                years.update(range(int(low), int(high) + 1))
            else:
                years.add(int(part))
    except ValueError:
        raise ScheduleExpressionError(f"{expression!r}: year field {field!r} is not understood") from None
    return frozenset(years)


# --------------------------------------------------------------------------------------- rules


def iter_scheduled_rules() -> list[Any]:
    """Every rule with a ScheduleExpression on any event bus of any account/region moto has created."""
    from moto.events.models import events_backends

    rules = []
    for account_backends in list(dict.values(events_backends)):
        for backend in list(dict.values(account_backends)):
            for bus in list(backend.event_buses.values()):
                rules.extend(rule for rule in list(bus.rules.values()) if rule.scheduled_expression)
    return rules


def find_rule(name: str, *, account_id: str, region: str, event_bus: str = "default") -> Any:
    from moto.events.models import events_backends

    bus = events_backends[account_id][region].event_buses.get(event_bus)
    rule = bus.rules.get(name) if bus is not None else None
    if rule is None:
        raise RuleNotFound(f"EventBridge rule {name!r} does not exist on event bus {event_bus!r} in {region}")
    return rule


def scheduled_event(rule: Any) -> dict[str, Any]:
    return new_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=[rule.arn],
        account_id=rule.account_id,
        region=rule.region_name,
    )


def fire_rule(rule: Any) -> dict[str, Any]:
    """Deliver a Scheduled Event to every target of `rule` now; return the event."""
    event = scheduled_event(rule)
    log.info("schedule: firing rule %s (%s)", rule.name, rule.scheduled_expression)
    deliver_to_targets(rule, event)
    return event


def fire_rule_now(name: str, *, account_id: str, region: str, event_bus: str = "default") -> dict[str, Any]:
    """Fire a scheduled rule at once, whatever its cadence or state; return the event its targets received."""
    rule = find_rule(name, account_id=account_id, region=region, event_bus=event_bus)
    if not rule.scheduled_expression:
        raise ValueError(f"EventBridge rule {name!r} has no ScheduleExpression; it runs on matching events only")
    return event_for_targets(fire_rule(rule))


class Scheduler:
    """Polls scheduled rules and fires each when its next time has come.

    `clock` returns seconds since the epoch; tests pass a faster clock to see a rate fire in real time.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, poll_interval: float = 1.0):
        self.clock = clock
        self.poll_interval = poll_interval
        self._next_fire: dict[tuple[str, str], datetime | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="eventbridge-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def reset(self) -> None:
        with self._lock:
            self._next_fire.clear()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")

    def tick(self, now: float | None = None) -> list[str]:
        """Fire every enabled scheduled rule that is due at `now`; return the names fired."""
        moment = datetime.fromtimestamp(self.clock() if now is None else now, UTC)
        due = []
        with self._lock:
            for rule in iter_scheduled_rules():
                key = (rule.arn, rule.scheduled_expression)
                if rule.state == "DISABLED":
                    self._next_fire.pop(key, None)
                    continue
                if key not in self._next_fire:
                    try:
                        self._next_fire[key] = parse_schedule(rule.scheduled_expression).next_after(moment)
                    except ScheduleExpressionError as error:
                        log.warning("rule %s: %s; it will not fire", rule.name, error)
                        self._next_fire[key] = None
                    continue
                next_time = self._next_fire[key]
                if next_time is not None and next_time <= moment:
                    due.append(rule)
                    self._next_fire[key] = parse_schedule(rule.scheduled_expression).next_after(max(moment, next_time))
        for rule in due:
            try:
                fire_rule(rule)
            except Exception:
                log.exception("rule %s: firing failed", rule.name)
        return [rule.name for rule in due]
