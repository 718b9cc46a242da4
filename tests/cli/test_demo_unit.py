"""Demo pieces that need no emulator: cleaning earlier demo state, refusing a foreign schema, reading the
model-quality result and checking the email that reports it."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from batchops import operations as ops
from batchops.demo import (
    DEMO_STATE,
    Demo,
    DemoFailure,
    clear_previous_demo,
    gate_line_problem,
    quality_gate_lines,
    run_demo,
)
from batchops_core.results import StepResult
from batchops_core.settings import load_settings


def test_clear_previous_demo_removes_only_demo_state(tmp_path):
    for name in DEMO_STATE:
        if name.endswith((".html", ".jsonl")):
            (tmp_path / name).write_text("old")
        else:
            (tmp_path / name / "nested").mkdir(parents=True)
    (tmp_path / "terraform" / "local" / "data").mkdir(parents=True)
    (tmp_path / "emulator.log").write_text("keep")
    clear_previous_demo(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emulator.log", "terraform"]
    assert (tmp_path / "terraform" / "local" / "data").is_dir()  # providers stay installed: faster re-runs


def test_demo_refuses_a_schema_it_cannot_generate(tmp_path):
    settings = load_settings("local")
    columns = [c for c in settings.dataset.columns if c.name != "sex"]
    other = settings.model_copy(update={"dataset": settings.dataset.model_copy(update={"columns": columns})})
    with pytest.raises(ValueError, match="this env file has another schema"):
        run_demo(tmp_path, settings=other)
    assert not (tmp_path / "outbox").exists()



# ------------------------------------------------------------------------------- the model-quality email check

VIOLATION = StepResult(step="ModelQualityCheck", outcome="failed", message="m", metric="rmse", value=4.56789,
                       threshold=3.0, comparison="<=")


def email(body: str, subject: str = "[local] model quality below threshold: retraining starts") -> dict:
    return {"to": "ml-team@example.com", "subject": subject, "body": body}


def test_gate_lines_come_from_the_violation_email_of_that_execution():
    messages = [
        email("Step ModelQualityViolated of pipeline p failed.\nExecution:  other\nQuality gate: rmse = 1.0000"),
        email("Step Preprocess of pipeline p failed.\nExecution:  exec7\nQuality gate: not this one"),
        email("Step ModelQualityViolated of pipeline p failed.\nExecution:  exec7\n\n"
              "Quality gate: rmse = 4.5679, rmse must be <= 3.0 (model quality threshold; retraining starts)\n"),
    ]
    assert quality_gate_lines(messages, "exec7") == [
        "Quality gate: rmse = 4.5679, rmse must be <= 3.0 (model quality threshold; retraining starts)"]
    assert quality_gate_lines(messages[:2], "exec7") == []


def test_gate_line_must_show_metric_value_and_threshold_of_the_result():
    good = "Quality gate: rmse = 4.5679, rmse must be <= 3.0 (model quality threshold; retraining starts)"
    assert gate_line_problem(good, VIOLATION) is None
    unavailable = "Quality gate: (not available: the result of ModelQualityCheck could not be read: NoSuchKey)"
    assert gate_line_problem(unavailable, VIOLATION) == (
        f"{unavailable!r} lacks metric 'rmse', value '4.5679', threshold '3.0'")
    other_threshold = good.replace("<= 3.0", "<= 3.5")
    assert gate_line_problem(other_threshold, VIOLATION).endswith("lacks threshold '3.0'")


@pytest.fixture
def demo(tmp_path, target):
    return Demo(target.settings, tmp_path, target, console=Console(file=io.StringIO()))


def execution(settings) -> ops.Execution:
    name = settings.pipelines.inference_name
    return ops.Execution(name, f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{name}/execution/exec7", "Failed",
                         None)


def put_result(demo: Demo, text: str) -> None:
    settings = demo.settings
    key = f"{settings.prefixes.outputs}/{settings.pipelines.inference_name}/exec7/ModelQualityCheck/result/result.json"
    demo.target.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=text.encode())


def test_model_quality_result_is_read_from_result_json(demo):
    put_result(demo, VIOLATION.to_json())
    assert demo._model_quality(execution(demo.settings)) == VIOLATION


def test_demo_fails_clearly_without_a_model_quality_result(demo):
    with pytest.raises(DemoFailure, match="ModelQualityCheck of exec7 wrote no result.json"):
        demo._model_quality(execution(demo.settings))


def test_demo_fails_clearly_on_a_result_without_value_or_threshold(demo):
    put_result(demo, StepResult(step="ModelQualityCheck", outcome="failed", message="m", metric="rmse").to_json())
    with pytest.raises(DemoFailure, match="should carry metric rmse, its value and the threshold used"):
        demo._model_quality(execution(demo.settings))
