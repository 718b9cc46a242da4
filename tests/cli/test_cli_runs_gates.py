"""`runs list` and `runs show` put the numbers of a run's metric gates where people look: the metric, the threshold
the run used and the matched rows, read from the deciding steps' result.json; execution ids are never cut."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from batchops import operations as ops
from batchops.aws_session import AwsTarget
from batchops.cli import app
from batchops.cli._base import CliState, console
from batchops_core.contracts import Step
from batchops_core.results import StepResult
from batchops_core.settings import load_settings

SETTINGS = load_settings("local")
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
# An execution id must survive an 80-column terminal whole: people copy it into `runs show`.
LONG_ID = "k3x9q2m7w1zt"  # 12 characters, as SageMaker and the emulator name executions
INFERENCE = ops.Execution(SETTINGS.pipelines.inference_name,
                          f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{SETTINGS.pipelines.inference_name}"
                          f"/execution/{LONG_ID}", "Failed", T0, T0 + timedelta(seconds=42))
TRAINING = ops.Execution(SETTINGS.pipelines.training_name,
                         f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{SETTINGS.pipelines.training_name}"
                         "/execution/train01", "Succeeded", T0, T0 + timedelta(seconds=30))
STEPS = {
    INFERENCE.arn: [ops.Step(name, status, T0, T0 + timedelta(seconds=5), reason) for name, status, reason in (
        (Step.MODEL_QUALITY_CHECK, "Succeeded", None), (Step.CHECK_MODEL_QUALITY, "Succeeded", None),
        (Step.MODEL_QUALITY_VIOLATED, "Failed", "violated"))],
    TRAINING.arn: [ops.Step(name, "Succeeded", T0, T0 + timedelta(seconds=5), None)
                   for name in (Step.EVALUATE, Step.CHECK_METRIC, Step.REGISTER_MODEL)],
}


@pytest.fixture
def cli_target(target, monkeypatch):
    """The CLI reads this target and sees the two executions above (their steps, their result.json in moto)."""
    monkeypatch.setattr(CliState, "target", property(lambda self: target))
    monkeypatch.setattr(ops, "list_executions", lambda _target, _names=None: [INFERENCE, TRAINING])
    monkeypatch.setattr(ops, "find_execution", lambda _target, ref: {LONG_ID: INFERENCE}.get(ref, TRAINING))
    monkeypatch.setattr(ops, "execution_steps", lambda _target, arn: STEPS[arn])
    return target


def put_result(target: AwsTarget, execution: ops.Execution, result: StepResult) -> None:
    key = (f"{SETTINGS.prefixes.outputs}/{execution.pipeline}/{execution.execution_id}/{result.step}"
           "/result/result.json")
    target.client("s3").put_object(Bucket=SETTINGS.bucket, Key=key, Body=result.to_json().encode())


def cli(*args: str, width: int = 160):
    # The CLI's console sizes itself once from the environment; a width set here holds whatever the test runner's
    # environment says (COLUMNS, LINES, TERM).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(console, "_width", width)
        patch.setattr(console, "_height", 50)
        return CliRunner().invoke(app, ["--env", "local", *args])


def test_runs_show_prints_metric_threshold_and_matched_rows(cli_target):
    put_result(cli_target, INFERENCE, StepResult(
        step=Step.MODEL_QUALITY_CHECK, outcome="failed", message="rmse above threshold", metric="rmse", value=6.2,
        threshold=3.25, comparison="<=", counts={"rows": 1000, "matched": 990}))
    shown = cli("runs", "show", LONG_ID)
    assert shown.exit_code == 0, shown.output
    text = " ".join(re.sub(r"[│┃]", " ", shown.output).split())  # the table's cells, wrapping undone
    assert "quality gates" in text
    assert "model quality fail rmse 6.2000, must be <= 3.25, 990 of 1000 rows matched: violated" in text


def test_runs_list_has_the_metric_gate_column_and_whole_execution_ids(cli_target):
    put_result(cli_target, INFERENCE, StepResult(
        step=Step.MODEL_QUALITY_CHECK, outcome="passed", message="ok", metric="rmse", value=2.1, threshold=3.0,
        comparison="<=", counts={"rows": 40, "matched": 40}))
    put_result(cli_target, TRAINING, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="rmse", value=2.4, threshold=2.6,
        comparison="<=", counts={"rows": 300}))
    listed = cli("runs", "list")
    assert listed.exit_code == 0, listed.output
    assert "metric gate" in listed.output
    assert re.search(rf"{LONG_ID}\s+│ inference\s+│ Failed .*│ pass rmse 2.1000 <= 3, 40/40 rows\s+│", listed.output)
    assert re.search(r"train01\s+│ training\s+│ Succeeded .*│ pass rmse 2.4000 <= 2.6\s+│", listed.output)
    narrow = cli("runs", "list", width=80)
    assert narrow.exit_code == 0, narrow.output
    assert re.search(rf"│ {LONG_ID} │ .* │ Failed +│", narrow.output)  # whole, on one line
    assert re.search(r"│ Succeeded +│", narrow.output)


def test_a_run_without_results_lists_no_numbers_and_says_why_in_show(cli_target):
    listed = cli("runs", "list")
    assert listed.exit_code == 0, listed.output
    assert "rmse" not in listed.output
    shown = cli("runs", "show", LONG_ID)
    text = " ".join(re.sub(r"[│┃]", " ", shown.output).split())
    assert "model quality skipped (result not available: ModelQualityCheck wrote no result.json)" in text


def test_runs_show_prints_the_confusion_matrix_of_a_classification_gate(cli_target, classification_summaries):
    put_result(cli_target, INFERENCE, StepResult(
        step=Step.MODEL_QUALITY_CHECK, outcome="failed", message="accuracy below threshold", metric="accuracy",
        value=0.9, threshold=0.95, comparison=">=", counts={"rows": 40, "matched": 30},
        details=classification_summaries["multiclass"].to_details()))
    shown = cli("runs", "show", LONG_ID)
    assert shown.exit_code == 0, shown.output
    text = " ".join(re.sub(r"[│┃]", " ", shown.output).split())
    assert "model quality fail accuracy 0.9000, must be >= 0.95, 30 of 40 rows matched: violated" in text
    lines = shown.output.splitlines()
    start = lines.index("model quality: multiclass classification, 3 classes; confusion matrix (rows: actual, "
                        "columns: predicted):")
    assert lines[start + 1:start + 5] == ["  actual \\ predicted  setosa  versicolor  virginica",
                                          "  setosa                  10           0          0",
                                          "  versicolor               0           9          1",
                                          "  virginica                0           2          8"]
    assert "  virginica      0.8889  0.8000  0.8421       10" in lines


def test_runs_show_of_a_binary_training_run_shows_the_threshold_and_per_class_scores(cli_target,
                                                                                    classification_summaries):
    put_result(cli_target, TRAINING, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="f1", value=0.939759, threshold=0.9,
        comparison=">=", counts={"rows": 114}, details=classification_summaries["binary"].to_details()))
    shown = cli("runs", "show", "train01")
    assert shown.exit_code == 0, shown.output
    assert ("registration: binary classification, 2 classes; confusion matrix (rows: actual, columns: predicted; "
            "decision threshold 0.5):") in shown.output
    assert "  malignant     0.9512  0.9286  0.9398       42" in shown.output.splitlines()
    listed = cli("runs", "list")
    assert re.search(r"train01\s+│ training\s+│ Succeeded .*│ pass f1 0.9398 >= 0.9\s+│", listed.output)


def test_runs_show_of_a_regression_run_prints_no_classification_table(cli_target):
    put_result(cli_target, TRAINING, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="rmse", value=2.4, threshold=2.6,
        comparison="<=", counts={"rows": 300}))
    shown = cli("runs", "show", "train01")
    assert shown.exit_code == 0, shown.output
    assert "rmse 2.4000, must be <= 2.6" in " ".join(re.sub(r"[│┃]", " ", shown.output).split())
    assert "confusion matrix" not in shown.output and "classification" not in shown.output


def test_runs_show_states_an_unreadable_classification_summary(cli_target):
    put_result(cli_target, TRAINING, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="f1", value=0.8, threshold=0.5, comparison=">=",
        counts={"rows": 50}, details={"classification": {"problem_type": "binary", "labels": ["a", "b"]}}))
    shown = cli("runs", "show", "train01")
    assert shown.exit_code == 0, shown.output
    text = " ".join(re.sub(r"[│┃]", " ", shown.output).split())
    assert "(classification summary not readable: Evaluate: details.classification:" in text


def test_a_model_quality_violation_says_where_retraining_runs(target):
    from batchops import report
    from batchops_core.settings import ENV_DIR

    put_result(target, INFERENCE, StepResult(
        step=Step.MODEL_QUALITY_CHECK, outcome="failed", message="rmse above threshold", metric="rmse", value=6.2,
        threshold=3.25, comparison="<=", counts={"rows": 1000, "matched": 990}))
    # The same run read as a consumer's: only the environment's role differs.
    consumer_accounts = load_settings(ENV_DIR / "multi-account" / "staging.tfvars").accounts
    as_consumer = AwsTarget(SETTINGS.model_copy(update={"accounts": consumer_accounts}), target.session)
    details = {where.settings.accounts.role: [g.detail for g in report.gates(where, INFERENCE, STEPS[INFERENCE.arn])
                                              if g.name == "model quality"]
               for where in (target, as_consumer)}
    assert details["standalone"] == ["rmse 6.2000, must be <= 3.25, 990 of 1000 rows matched: violated "
                                     "(retraining starts)"]
    assert details["consumer"] == ["rmse 6.2000, must be <= 3.25, 990 of 1000 rows matched: violated "
                                   "(retraining in registry 'dev' (account 111111111111))"]
