"""EventBridge schedules: expression parsing, cadence, fire_rule_now, never fired by events."""

import json
import time
from datetime import UTC, datetime

import pytest

from batchops_local.emulator import Emulator
from batchops_local.emulator.events.schedules import RuleNotFound, ScheduleExpressionError, parse_schedule

T0 = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", T0, datetime(2026, 11, 21, 6, 35, tzinfo=UTC)),
        ("rate(1 day)", T0, datetime(2026, 11, 22, 6, 30, tzinfo=UTC)),
        ("cron(0 2 * * ? *)", T0, datetime(2026, 11, 22, 2, 0, tzinfo=UTC)),
        ("cron(0 3 ? * SUN *)", T0, datetime(2026, 11, 22, 3, 0, tzinfo=UTC)),
        ("cron(0 3 ? * 2 *)", T0, datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),  # 2 = Monday in EventBridge
        ("cron(15 10 ? * 6L *)", T0, datetime(2026, 11, 27, 10, 15, tzinfo=UTC)),  # last Friday
        ("cron(0 0 1 * ? 2027)", T0, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", T0, datetime(2026, 11, 21, 6, 45, tzinfo=UTC)),
    ],
)
def test_schedule_expressions_give_the_next_run_in_utc(expression, after, expected):
    assert parse_schedule(expression).next_after(after) == expected


def test_a_cron_whose_years_are_over_never_runs_again():
    assert parse_schedule("cron(0 0 1 1 ? 2020)").next_after(T0) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("every 5 minutes", "expected 'rate"),
        ("rate(0 minutes)", "at least 1"),
        ("cron(0 2 * * *)", "6 fields"),
        ("cron(0 2 * * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 2 ? * 9 *)", "day-of-week '9'"),
        ("cron(0 2 * * ? 20x6)", "year field"),
    ],
)
def test_bad_schedule_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(ScheduleExpressionError, match=message):
        parse_schedule(expression)


def _scheduled_rule(aws, name="retrain", expression="rate(1 minute)"):
    queue, queue_arn = aws.queue(f"{name}-target")
    aws.events.put_rule(Name=name, ScheduleExpression=expression)
    aws.events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue


def test_schedule_rules_fire_on_their_cadence_and_never_on_events(aws):
    queue = _scheduled_rule(aws)
    aws.events.put_events(Entries=[{"Source": "batchops.test", "DetailType": "x", "Detail": "{}"}])
    scheduler = aws.emulator.scheduler
    start = time.time()
    assert scheduler.tick(start) == []  # first sight: the first run is one interval later
    assert scheduler.tick(start + 59) == []
    assert aws.drain(queue) == []
    assert scheduler.tick(start + 61) == ["retrain"]
    assert scheduler.tick(start + 62) == []
    assert scheduler.tick(start + 122) == ["retrain"]
    events = aws.events_in(queue)
    assert [(e["source"], e["detail-type"], e["detail"]) for e in events] == [("aws.events", "Scheduled Event", {})] * 2
    assert events[0]["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/retrain"]


def test_disabled_schedules_do_not_fire(aws):
    queue = _scheduled_rule(aws)
    aws.events.disable_rule(Name="retrain")
    start = time.time()
    aws.emulator.scheduler.tick(start)
    assert aws.emulator.scheduler.tick(start + 3600) == []
    assert aws.drain(queue) == []


def test_fire_rule_now_delivers_a_scheduled_event_at_once(aws):
    queue = _scheduled_rule(aws, "weekly", "cron(0 3 ? * SUN *)")
    event = aws.emulator.fire_rule_now("weekly")
    [received] = aws.events_in(queue)
    assert received["id"] == event["id"] and received["detail-type"] == "Scheduled Event"
    assert received["time"] == event["time"] and event["time"].endswith("Z")
    with pytest.raises(RuleNotFound, match="rule 'nope' does not exist"):
        aws.emulator.fire_rule_now("nope")
    aws.events.put_rule(Name="pattern-only", EventPattern=json.dumps({"source": ["x"]}))
    with pytest.raises(ValueError, match="has no ScheduleExpression"):
        aws.emulator.fire_rule_now("pattern-only")


def test_the_scheduler_thread_fires_a_rate_rule_by_itself(tmp_path):
    real_start = time.time()

    def fast_clock():  # one real second is two scheduled minutes
        return real_start + (time.time() - real_start) * 120

    with Emulator(
        tmp_path / "home", scheduler_clock=fast_clock, scheduler_poll_seconds=0.05, load_aws_managed_policies=False
    ) as emulator:
        sqs, events = emulator.client("sqs"), emulator.client("events")
        url = sqs.create_queue(QueueName="ticks")["QueueUrl"]
        events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
        events.put_targets(
            Rule="every-minute", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:ticks"}]
        )
        time.sleep(2.0)
        count = int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
    assert 2 <= count <= 5  # about 4 scheduled minutes passed
