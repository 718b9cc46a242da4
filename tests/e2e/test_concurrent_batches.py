"""Load: 20 inference batches dropped at the same moment into the Terraform-applied local stack with an approved
model. Each becomes one Succeeded execution with one prediction file holding exactly its own batch's records, the
notifications name every execution, and no Lambda event is parked as failed: nothing lost, nothing overwritten.

The stack, the drops and the per-execution read-back are benchmarks/bench_load.py's (the benchmark measures the
batches/minute of the same run shape)."""

from __future__ import annotations

import json
from collections import Counter

import bench_load  # benchmarks/: on the path by tests/e2e/conftest.py
import pytest

from batchops_core.settings import load_settings
from batchops_local.emulator import read_invocation_log, read_outbox

pytestmark = pytest.mark.slow

BATCHES = 20
ROWS = 40


def test_twenty_batches_dropped_at_once_each_end_scored_once(approved_stack, tmp_path):
    local_aws, target = approved_stack
    settings = load_settings("local")
    batches = bench_load.write_batches(tmp_path / "batches", BATCHES, ROWS, "at-once")

    run = bench_load.run_at_once(target, batches)

    assert len(run.executions) == BATCHES, bench_load.losses(target, run)
    outcomes = [bench_load.scored(target, execution) for execution in run.executions]
    failed = {o.execution.execution_id: o.execution.failure_reason for o in outcomes
              if o.execution.status != "Succeeded"}
    assert not failed, failed
    # One execution per batch: the twenty input keys are the twenty dropped batches, none twice.
    expected = {f"{settings.prefixes.inference}/{batch.name}": batch for batch in batches}
    assert Counter(o.input_key for o in outcomes) == Counter(list(expected))
    for outcome in outcomes:
        batch = expected[outcome.input_key]
        assert len(outcome.outputs) == 1, (batch.name, outcome.outputs)
        # Exactly this batch's records, each scored once: no rows lost, none from another batch.
        assert len(outcome.scored_keys) == ROWS and set(outcome.scored_keys) == batch.record_keys, batch.name
    assert len({o.outputs[0] for o in outcomes}) == BATCHES  # twenty distinct prediction files
    assert bench_load.losses(target, run) == []

    # The notifications kept up: every execution's final status was mailed, no Lambda attempt failed, no event was
    # parked at an on-failure destination or EventBridge's dead-letter queue.
    assert local_aws.wait_for_lambdas(300)
    mailed = "\n".join(f"{m['subject']}\n{m['body']}" for m in read_outbox(local_aws.home))
    assert all(o.execution.execution_id in mailed for o in outcomes)
    failures = [i for i in read_invocation_log(local_aws.home) if i["rc"] != 0]
    assert failures == [], [(i["function"], i["stderr_tail"][-300:]) for i in failures]
    sqs = local_aws.client("sqs")
    parked = {}
    for url in sqs.list_queues(QueueNamePrefix=settings.resource_prefix).get("QueueUrls", []):
        if url.endswith("-dlq"):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            parked.update({url: [json.loads(m["Body"]) for m in messages]} if messages else {})
    assert parked == {}
