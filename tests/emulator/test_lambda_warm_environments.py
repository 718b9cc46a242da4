"""Warm Lambda execution environments: a worker imports the handler once and serves many events; a new one
starts on a code or configuration change, after a crash or timeout, or after an idle period; a function
never runs more environments than its concurrency; stopping or resetting the emulator ends them all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from batchops_local.emulator import read_invocation_log
from batchops_local.emulator.awslambda.workers import WorkerPool

from .conftest import Aws, make_zip, wait_until

COUNTING_HANDLER = """
import os
import time

import boto3

SNS = boto3.client("sns")  # module-level state, built once per environment
CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    print(f"call {CALLS} of {context.function_name}")
    return {
        "calls": CALLS,
        "request_id": context.aws_request_id,
        "time_left_ms": context.get_remaining_time_in_millis(),
        "version": os.environ.get("VERSION", "1"),
        "pid": os.getpid(),
    }
"""

CRASHING_HANDLER = """
import os
import subprocess


def handler(event, context):
    child = subprocess.Popen(["sleep", "60"])
    with open(event["detail"]["child_pid_file"], "w") as stream:
        stream.write(str(child.pid))
    print("about to exit")
    os._exit(3)
"""

HANGING_HANDLER = """
import subprocess
import time


def handler(event, context):
    if event.get("detail", {}).get("hang"):
        child = subprocess.Popen(["sleep", "60"])
        with open(event["detail"]["child_pid_file"], "w") as stream:
            stream.write(str(child.pid))
        time.sleep(60)
    return "quick"
"""

SLEEPING_HANDLER = """
import os
import time


def handler(event, context):
    started = time.time()
    time.sleep(0.4)
    return {"start": started, "end": time.time(), "pid": os.getpid()}
"""

CUSTOM_EVENTS = {"source": ["batchops.test"]}


@pytest.fixture
def warm(tmp_path) -> Iterator[Aws]:
    """An emulator whose short-timeout functions really time out quickly, and whose idle workers stay."""
    from batchops_local.emulator import Emulator

    instance = Emulator(
        tmp_path / "home",
        lambda_retry_delay_seconds=0.05,
        lambda_minimum_timeout_seconds=1,
        load_aws_managed_policies=False,
        warm_up_services=False,
    )
    instance.start()
    try:
        yield Aws(instance)
    finally:
        instance.stop()


def _invoke(aws: Aws, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    response = aws.awslambda.invoke(FunctionName=name, Payload=json.dumps(payload or {}))
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def _log(aws: Aws) -> list[dict[str, Any]]:
    return read_invocation_log(aws.emulator.home)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _worker_pids(aws: Aws) -> set[int]:
    return {worker.pid for worker in aws.emulator._context.lambda_invoker.workers.live_workers()}


def _put_custom_event(aws: Aws, detail: dict[str, Any]) -> str:
    response = aws.events.put_events(
        Entries=[{"Source": "batchops.test", "DetailType": "Test", "Detail": json.dumps(detail)}]
    )
    assert response["FailedEntryCount"] == 0
    return response["Entries"][0]["EventId"]


def test_the_second_invocation_reuses_the_warm_environment_and_is_much_cheaper(warm):
    warm.function("counter", COUNTING_HANDLER)

    first = _invoke(warm, "counter")
    second = _invoke(warm, "counter")

    assert (first["calls"], second["calls"]) == (1, 2)  # module state kept between invocations
    assert first["pid"] == second["pid"]
    cold, hot = _log(warm)
    assert (cold["cold_start"], hot["cold_start"]) == (True, False)
    assert cold["worker_pid"] == hot["worker_pid"] == first["pid"]
    # A fresh context each time, with its own request id and a full time budget.
    assert [first["request_id"], second["request_id"]] == [cold["request_id"], hot["request_id"]]
    assert first["request_id"] != second["request_id"]
    assert second["time_left_ms"] > 25_000
    # Each invocation's output is its own.
    assert cold["stdout_tail"] == "call 1 of counter\n" and hot["stdout_tail"] == "call 2 of counter\n"
    # The cold start pays the interpreter and `import boto3`; the warm call only the handler.
    assert hot["cpu_s"] * 5 < cold["cpu_s"], (cold["cpu_s"], hot["cpu_s"])
    assert hot["duration_s"] * 3 < cold["duration_s"], (cold["duration_s"], hot["duration_s"])


def test_new_code_or_configuration_gets_a_new_environment_and_retires_the_old_one(warm):
    warm.function("counter", COUNTING_HANDLER)
    original = _invoke(warm, "counter")

    new_source = COUNTING_HANDLER.replace('"calls": CALLS', '"calls": CALLS * 100')
    warm.awslambda.update_function_code(FunctionName="counter", ZipFile=make_zip({"app.py": new_source}))
    updated = _invoke(warm, "counter")

    assert updated["calls"] == 100 and updated["pid"] != original["pid"]
    assert _gone(original["pid"])

    warm.awslambda.update_function_configuration(FunctionName="counter", Environment={"Variables": {"VERSION": "2"}})
    configured = _invoke(warm, "counter")

    assert configured["version"] == "2" and configured["calls"] == 100
    assert configured["pid"] != updated["pid"] and _gone(updated["pid"])
    assert [entry["cold_start"] for entry in _log(warm)] == [True, True, True]


def test_a_handler_that_exits_the_process_is_replaced_and_its_event_retried_then_dead_lettered(warm, tmp_path):
    function_arn = warm.function("crasher", CRASHING_HANDLER)
    dlq_url, dlq_arn = warm.queue("crasher-dlq")
    # Lambda retries asynchronous invocations per the function's event invoke config, then records the failure at
    # its on-failure destination.
    warm.awslambda.put_function_event_invoke_config(
        FunctionName="crasher", MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": dlq_arn}}
    )
    warm.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    warm.events.put_targets(Rule="custom", Targets=[{"Id": "crasher", "Arn": function_arn}])

    child_pid_file = tmp_path / "child.pid"

    event_id = _put_custom_event(warm, {"child_pid_file": str(child_pid_file)})

    assert warm.emulator.wait_for_lambdas(60)
    attempts = _log(warm)
    assert [(entry["attempt"], entry["rc"], entry["cold_start"]) for entry in attempts] == [(1, 3, True), (2, 3, True)]
    assert attempts[0]["worker_pid"] != attempts[1]["worker_pid"]
    assert all(entry["error"] == "Runtime exited with status 3 before answering" for entry in attempts)
    assert attempts[0]["stdout_tail"] == "about to exit\n"
    assert all(_gone(entry["worker_pid"]) for entry in attempts)
    assert _gone(int(child_pid_file.read_text()))  # what the handler started went with its environment
    assert _worker_pids(warm) == set()
    [dead_letter] = warm.drain(dlq_url)
    record = json.loads(dead_letter["Body"])
    assert record["requestPayload"]["id"] == event_id
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorMessage"] == "Runtime exited with status 3 before answering"


def test_a_handler_that_hangs_past_the_timeout_is_killed_with_its_children_and_dead_lettered(warm, tmp_path):
    warm.role()
    warm.awslambda.create_function(
        FunctionName="hanger",
        Runtime="python3.12",
        Role=warm.role(),
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": HANGING_HANDLER})},
        Timeout=1,
    )
    function_arn = warm.awslambda.get_function(FunctionName="hanger")["Configuration"]["FunctionArn"]
    dlq_url, dlq_arn = warm.queue("hanger-dlq")
    warm.awslambda.put_function_event_invoke_config(
        FunctionName="hanger", MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": dlq_arn}}
    )
    warm.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    warm.events.put_targets(Rule="custom", Targets=[{"Id": "hanger", "Arn": function_arn}])
    child_pid_file = tmp_path / "child.pid"

    event_id = _put_custom_event(warm, {"hang": True, "child_pid_file": str(child_pid_file)})

    assert warm.emulator.wait_for_lambdas(30)
    [attempt] = _log(warm)
    assert attempt["rc"] is None and attempt["error"] == "Task timed out after 1 seconds"
    assert 1 <= attempt["duration_s"] < 10
    assert _gone(attempt["worker_pid"])
    child_pid = int(child_pid_file.read_text())  # the handler's own child goes with its environment (SIGKILL to
    wait_until(lambda: _gone(child_pid), timeout=5, what="the handler's child to end")  # its group lands async)
    [dead_letter] = warm.drain(dlq_url)
    record = json.loads(dead_letter["Body"])
    assert record["requestPayload"]["id"] == event_id
    assert record["responsePayload"]["errorMessage"].endswith("Task timed out after 1 seconds")

    assert _invoke(warm, "hanger") == "quick"  # a fresh environment serves the next event
    assert _log(warm)[-1]["cold_start"] is True


def _overlapping(results: list[dict[str, Any]]) -> int:
    """The largest number of invocations that ran at the same moment."""
    moments = sorted([(r["start"], 1) for r in results] + [(r["end"], -1) for r in results])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize(("reserved", "cap"), [(None, 2), (1, 1)])
def test_a_function_never_runs_more_environments_than_its_concurrency(warm, reserved, cap):
    warm.function("sleeper", SLEEPING_HANDLER)
    if reserved is not None:
        warm.awslambda.put_function_concurrency(FunctionName="sleeper", ReservedConcurrentExecutions=reserved)

    for _ in range(5):
        warm.awslambda.invoke(FunctionName="sleeper", InvocationType="Event", Payload=b"{}")

    assert warm.emulator.wait_for_lambdas(60)
    results = [entry["result"] for entry in _log(warm)]
    assert len(results) == 5 and all(entry["rc"] == 0 for entry in _log(warm))
    assert len({result["pid"] for result in results}) == cap
    assert _overlapping(results) == cap
    assert sum(entry["cold_start"] for entry in _log(warm)) == cap


def test_reserved_concurrency_zero_fails_every_invocation_with_a_clear_error(warm):
    warm.function("throttled", SLEEPING_HANDLER)
    warm.awslambda.put_function_concurrency(FunctionName="throttled", ReservedConcurrentExecutions=0)

    response = warm.awslambda.invoke(FunctionName="throttled", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    [entry] = _log(warm)
    assert entry["rc"] is None and "reserved concurrency 0" in entry["error"]
    assert _worker_pids(warm) == set()


def test_idle_environments_are_reaped_and_the_next_event_starts_cold(tmp_path):
    from batchops_local.emulator import Emulator

    with Emulator(
        tmp_path / "home", lambda_idle_seconds=0.3, load_aws_managed_policies=False, warm_up_services=False
    ) as emulator:
        aws = Aws(emulator)
        aws.function("counter", COUNTING_HANDLER)
        first = _invoke(aws, "counter")
        wait_until(lambda: _gone(first["pid"]), timeout=10, what="the idle worker to be reaped")
        assert _worker_pids(aws) == set()
        second = _invoke(aws, "counter")

    assert second["calls"] == 1 and second["pid"] != first["pid"]
    assert [entry["cold_start"] for entry in read_invocation_log(tmp_path / "home")] == [True, True]


def test_reset_and_stop_leave_no_worker_process(warm):
    warm.function("counter", COUNTING_HANDLER)
    warm.function("sleeper", SLEEPING_HANDLER)
    before_reset = {_invoke(warm, "counter")["pid"], _invoke(warm, "sleeper")["pid"]}
    assert _worker_pids(warm) == before_reset

    warm.emulator.reset()

    assert _worker_pids(warm) == set() and all(_gone(pid) for pid in before_reset)
    warm.function("counter", COUNTING_HANDLER)
    warm.function("sleeper", SLEEPING_HANDLER)
    before_stop = {_invoke(warm, "counter")["pid"]}
    warm.awslambda.invoke(FunctionName="sleeper", InvocationType="Event", Payload=b"{}")  # busy during stop
    wait_until(lambda: len(_worker_pids(warm)) == 2, what="both workers running")
    before_stop |= _worker_pids(warm)

    warm.emulator.stop()

    assert all(_gone(pid) for pid in before_stop)
    assert not [child for child in psutil.Process().children(recursive=True) if child.pid in before_stop]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"default_concurrency": 0}, "default_concurrency must be at least 1"), ({"idle_seconds": 0}, "idle_seconds")],
)
def test_pool_settings_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        WorkerPool(**options)


def test_the_worker_protocol_survives_a_handler_reading_stdin_and_printing_a_lot(warm):
    source = """
import sys


def handler(event, context):
    print("x" * 100_000)
    sys.stderr.write("warning\\n")
    return {"stdin": sys.stdin.read()}
"""
    warm.function("noisy", source)

    assert _invoke(warm, "noisy") == {"stdin": ""}
    assert _invoke(warm, "noisy") == {"stdin": ""}
    entries = _log(warm)
    assert [entry["stderr_tail"] for entry in entries] == ["warning\n", "warning\n"]
    assert all(entry["stdout_tail"] == "x" * 3999 + "\n" for entry in entries)
    assert entries[0]["worker_pid"] == entries[1]["worker_pid"]
