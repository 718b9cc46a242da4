"""`models list` and `models show` read a version's metrics from its registered evaluation report, whatever the
problem type, and `models show` adds the registration gate and, for a classifier, the confusion matrix and per-class
scores of the training run that registered it."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from batchops import operations as ops
from batchops.aws_session import AwsTarget
from batchops.cli import app
from batchops.cli._base import CliState, console
from batchops_core.contracts import Step
from batchops_core.results import StepResult

TRAINING_ID = "train7"


def training_execution(target: AwsTarget) -> ops.Execution:
    name = target.settings.pipelines.training_name
    return ops.Execution(name, f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{name}/execution/{TRAINING_ID}",
                         "Succeeded", None)


def register(target: AwsTarget, evaluation: dict, generated_by: str | None) -> None:
    """One model version whose model-quality statistics are `evaluation` (evaluation.json), as RegisterModel does."""
    settings = target.settings
    s3, sagemaker = target.client("s3"), target.client("sagemaker")
    key = f"{settings.prefixes.outputs}/{TRAINING_ID}/evaluation.json"
    s3.put_object(Bucket=settings.bucket, Key=key, Body=json.dumps(evaluation).encode())
    group = settings.pipelines.model_package_group
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        pass  # the second version of the test
    request = {
        "ModelPackageGroupName": group, "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {"Containers": [{"Image": "xgboost:1.7-1"}], "SupportedContentTypes": ["text/csv"],
                                   "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": f"s3://{settings.bucket}/{key}"}}},
    }
    if generated_by:
        request["MetadataProperties"] = {"GeneratedBy": generated_by}
    sagemaker.create_model_package(**request)


def put_evaluate_result(target: AwsTarget, result: StepResult) -> None:
    execution = training_execution(target)
    key = (f"{target.settings.prefixes.outputs}/{execution.pipeline}/{execution.execution_id}/{Step.EVALUATE}"
           "/result/result.json")
    target.client("s3").put_object(Bucket=target.settings.bucket, Key=key, Body=result.to_json().encode())


@pytest.fixture
def cli_target(target, monkeypatch):
    """The CLI reads this target; the training execution that registered the versions is `training_execution`."""
    monkeypatch.setattr(CliState, "target", property(lambda self: target))
    execution = training_execution(target)
    monkeypatch.setattr(ops, "describe_execution",
                        lambda _target, arn, pipeline=None: execution if arn == execution.arn else
                        pytest.fail(f"unexpected execution {arn}"))
    return target


def cli(*args: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(console, "_width", 200)
        patch.setattr(console, "_height", 50)
        return CliRunner().invoke(app, ["--env", "local", *args])


BINARY_EVALUATION = {"binary_classification_metrics": {  # metrics.STATISTICS_KEYS in the core
    name: {"value": value, "standard_deviation": 0.0}
    for name, value in (("accuracy", 0.95614), ("auc", 0.992063), ("f1", 0.939759), ("logloss", 0.118312),
                        ("precision", 0.95122), ("recall", 0.928571))}}


def test_models_show_of_a_classifier_has_its_metrics_gate_and_confusion_matrix(cli_target, classification_summaries):
    register(cli_target, BINARY_EVALUATION, training_execution(cli_target).arn)
    put_evaluate_result(cli_target, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="f1", value=0.939759, threshold=0.9,
        comparison=">=", counts={"rows": 114}, details=classification_summaries["binary"].to_details()))
    shown = cli("models", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert re.search(r"metric auc\s+│ 0\.9921", shown.output) and re.search(r"metric f1\s+│ 0\.9398", shown.output)
    assert re.search(r"registration gate\s+│ f1 0\.9398, must be >= 0\.9", shown.output)
    assert ("evaluation on the test split: binary classification, 2 classes; confusion matrix (rows: actual, "
            "columns: predicted; decision threshold 0.5):") in shown.output.splitlines()
    assert "  malignant                3         39" in shown.output.splitlines()
    assert "  benign        0.9589  0.9722  0.9655       72" in shown.output.splitlines()


def test_models_list_shows_the_configured_classification_metric(cli_target, monkeypatch):
    classifying = classifying_settings(cli_target)
    monkeypatch.setattr(CliState, "settings", property(lambda self: classifying))
    register(cli_target, BINARY_EVALUATION, None)
    listed = cli("models", "list")
    assert listed.exit_code == 0, listed.output
    assert re.search(r"┃ version ┃ status\s+┃ f1\s+┃", listed.output)
    assert re.search(r"│ 1\s+│ PendingManualApproval │ 0\.9398 │", listed.output)


def test_models_show_of_a_regressor_is_unchanged(cli_target):
    register(cli_target, {"regression_metrics": {"rmse": {"value": 2.25, "standard_deviation": 0.1}}},
             training_execution(cli_target).arn)
    assert "not available" not in cli("models", "show", "1").output  # no Evaluate result: nothing more to say
    put_evaluate_result(cli_target, StepResult(
        step=Step.EVALUATE, outcome="passed", message="ok", metric="rmse", value=2.25, threshold=2.6,
        comparison="<=", counts={"rows": 300}))
    shown = cli("models", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert re.search(r"metric rmse\s+│ 2\.2500", shown.output)
    assert "registration gate" not in shown.output and "confusion matrix" not in shown.output
    assert re.search(r"│ 1\s+│ PendingManualApproval │ 2\.2500 │", cli("models", "list").output)


def classifying_settings(target: AwsTarget):
    """The target's settings with a classification gate metric (built without validation: only the CLI's reading
    of the registry is under test here)."""
    settings = target.settings
    return settings.model_copy(update={"model": settings.model.model_copy(update={"metric": "f1"})})


def test_models_show_of_a_classifier_says_why_its_evaluation_is_missing(cli_target, monkeypatch):
    classifying = classifying_settings(cli_target)
    monkeypatch.setattr(CliState, "settings", property(lambda self: classifying))
    register(cli_target, BINARY_EVALUATION, training_execution(cli_target).arn)
    shown = cli("models", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "(result not available: Evaluate wrote no result.json)" in shown.output
