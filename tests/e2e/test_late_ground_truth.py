"""Ground truth that arrives after its batch (issue 18 item 2), on the Terraform-applied local stack with an
approved model: a batch scored without labels says "model quality: waiting for ground truth"; violating labels
dropped later with `batchops data drop --ground-truth-for` start the model-quality pipeline, whose
ModelQualityViolated fails, which starts retraining with HPO and an email naming the metric. Labels dropped before
their batch still are checked by the batch's inference run, and the model-quality run they start adds no failure.

The stack and the batches are benchmarks/bench_load.py's."""

from __future__ import annotations

import uuid

import bench_load  # benchmarks/: on the path by tests/e2e/conftest.py
import pandas as pd
import pytest

from batchops import operations as ops
from batchops import report
from batchops.demo_data import DEMO_TARGET
from batchops_core import results
from batchops_core.contracts import Step
from batchops_local.emulator import read_outbox

pytestmark = pytest.mark.slow

ROWS = 40
TIMEOUT = 600


def started(target, key: str, known: set[str], *, wait: bool = True) -> ops.Execution:
    """The one execution of pipeline `key` started since `known`, waited for until it ends (unless not `wait`)."""
    fresh = ops.wait_for(lambda: bench_load.execution_arns(target, key) - known, timeout=120,
                         what=f"a new {key} execution")
    assert len(fresh) == 1, fresh
    [arn] = fresh
    if not wait:
        return next(e for e in ops.list_executions(target, [target.settings.pipeline_names[key]]) if e.arn == arn)
    return ops.wait_for_execution(target, arn, timeout=TIMEOUT, poll=1.0)


def statuses(target, execution: ops.Execution) -> dict[str, str]:
    return {step.name: step.status for step in ops.execution_steps(target, execution.arn)}


def test_labels_dropped_after_the_batch_start_the_gate_and_retraining(approved_stack, stack_cli, tmp_path):
    local_aws, target = approved_stack
    settings = target.settings
    [batch] = bench_load.write_batches(tmp_path, 1, ROWS, "late")
    known = {key: bench_load.execution_arns(target, key) for key in ("inference", "model_quality", "training_hpo")}

    ops.drop_data(target, batch.batch_file, "inference", rel_path=batch.name)
    scored = started(target, "inference", known["inference"])
    assert scored.status == "Succeeded", scored.failure_reason
    gates = report.gates(target, scored, ops.execution_steps(target, scored.arn))
    assert report.shown_status(scored, gates) == "model quality: waiting for ground truth"
    listed = stack_cli("runs", "list", "--pipeline", "inference")
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.output.splitlines() if scored.execution_id in line]
    assert "model quality: waiting for ground truth" in row and "Succeeded" not in row
    assert bench_load.execution_arns(target, "model_quality") == known["model_quality"]  # nothing evaluated yet

    # The labels, weeks later: far off the predictions.
    labels = pd.read_csv(batch.truth_file)
    labels[DEMO_TARGET] = labels[DEMO_TARGET] + 15
    violating = tmp_path / "labels.csv"
    labels.to_csv(violating, index=False)
    dropped = stack_cli("data", "drop", str(violating), "--kind", "ground-truth",
                  "--ground-truth-for", f"{settings.prefixes.inference}/{batch.name}")
    assert dropped.exit_code == 0, dropped.output
    assert f"dropped s3://{settings.bucket}/{settings.prefixes.ground_truth}/{batch.name}" in dropped.output

    late = started(target, "model_quality", known["model_quality"])
    assert late.status == "Failed"
    assert statuses(target, late) == {Step.MODEL_QUALITY_CHECK: "Succeeded", Step.CHECK_MODEL_QUALITY: "Succeeded",
                                      Step.MODEL_QUALITY_VIOLATED: "Failed"}
    result = report.step_result(target, late, Step.MODEL_QUALITY_CHECK)
    metric = settings.model.metric
    assert (result.outcome, result.metric, result.counts) == (results.FAILED, metric, {"rows": ROWS, "matched": ROWS})
    assert result.value > result.threshold == settings.model.model_quality_threshold

    retraining = started(target, "training_hpo", known["training_hpo"], wait=False)  # by the retrain_trigger Lambda
    assert late.arn in (target.client("sagemaker").describe_pipeline_execution(
        PipelineExecutionArn=retraining.arn).get("PipelineExecutionDescription") or "")
    target.client("sagemaker").stop_pipeline_execution(PipelineExecutionArn=retraining.arn,
                                                       ClientRequestToken=uuid.uuid4().hex)
    ops.wait_for_execution(target, retraining.arn, timeout=TIMEOUT, poll=1.0)

    def violation_email():
        return [m for m in read_outbox(local_aws.home)
                if late.execution_id in f"{m.get('subject')}\n{m.get('body')}"
                and "model quality below threshold" in str(m.get("subject"))]

    emails = ops.wait_for(violation_email, timeout=120, what="the model-quality email of the late run")
    assert len({m["subject"] for m in emails}) == 1  # one message (to each recipient)
    assert metric in emails[0]["body"] and late.execution_id in emails[0]["body"]


def test_labels_dropped_before_the_batch_are_checked_by_its_inference_run(approved_stack, tmp_path):
    _, target = approved_stack
    [batch] = bench_load.write_batches(tmp_path, 1, ROWS, "early")
    known = {key: bench_load.execution_arns(target, key) for key in ("inference", "model_quality")}

    ops.drop_data(target, batch.truth_file, "ground-truth", rel_path=batch.name)
    before = started(target, "model_quality", known["model_quality"])
    ops.drop_data(target, batch.batch_file, "inference", rel_path=batch.name)
    scored = started(target, "inference", known["inference"])

    assert scored.status == "Succeeded", scored.failure_reason
    checked = report.step_result(target, scored, Step.MODEL_QUALITY_CHECK)
    assert checked.outcome == results.PASSED and checked.counts == {"rows": ROWS, "matched": ROWS}
    # The run the labels started found the batch not scored yet: no second evaluation, no failure.
    assert before.status == "Succeeded", before.failure_reason
    skipped = report.step_result(target, before, Step.MODEL_QUALITY_CHECK)
    assert skipped.outcome == results.SKIPPED and "is not scored yet" in skipped.message
