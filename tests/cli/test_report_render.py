"""The HTML report as a pure function of collected data: self-contained, every section present, drift maths."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from batchops import operations as ops
from batchops.aws_session import AwsTarget
from batchops.report import (
    DriftView,
    ExecutionView,
    Gate,
    ReportData,
    _numeric_distance,
    compare_statistics,
    gates,
    model_evaluation,
    render,
    shown_status,
    step_result,
)
from batchops_core.results import StepResult
from batchops_core.settings import load_settings

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def numeric_feature(name: str, counts: list[int], low: float = 0.0, width: float = 1.0) -> dict:
    buckets = [{"lower_bound": low + i * width, "upper_bound": low + (i + 1) * width, "count": c}
               for i, c in enumerate(counts)]
    return {"name": name, "inferred_type": "Fractional",
            "numerical_statistics": {"distribution": {"kll": {"buckets": buckets}}}}


def categorical_feature(name: str, counts: dict[str, int]) -> dict:
    buckets = [{"value": v, "count": c} for v, c in counts.items()]
    return {"name": name, "inferred_type": "String",
            "string_statistics": {"distribution": {"categorical": {"buckets": buckets}}}}


def test_numeric_distance_is_the_largest_cdf_gap():
    same = [(0.0, 1.0, 0.5), (1.0, 2.0, 0.5)]
    assert _numeric_distance(same, same) == 0
    disjoint = [(5.0, 6.0, 1.0)]
    assert _numeric_distance([(0.0, 1.0, 1.0)], disjoint) == pytest.approx(1.0)
    shifted = [(0.0, 1.0, 0.25), (1.0, 2.0, 0.75)]
    assert _numeric_distance(same, shifted) == pytest.approx(0.25)


def test_compare_statistics_per_feature_with_violations():
    baseline = {"features": [numeric_feature("length", [10, 10]), categorical_feature("sex", {"M": 5, "F": 5}),
                             numeric_feature("gone", [1])]}
    batch = {"features": [numeric_feature("length", [5, 15]), categorical_feature("sex", {"M": 2, "F": 6, "I": 2})]}
    violations = [{"feature_name": "length", "constraint_check_type": "baseline_drift_check",
                   "description": "Numerical distance: 0.25 exceeds numerical threshold: 0.1"}]
    features = {f.name: f for f in compare_statistics(baseline, batch, violations)}
    assert features["length"].kind == "numeric"
    assert features["length"].distance == pytest.approx(0.25)
    assert features["length"].violations == ["baseline_drift_check: Numerical distance: 0.25 exceeds numerical "
                                             "threshold: 0.1"]
    assert features["sex"].kind == "categorical"
    assert dict(features["sex"].batch) == {"F": 0.6, "I": 0.2, "M": 0.2}
    assert features["sex"].distance == pytest.approx(0.3)
    assert features["gone"].kind == "missing"


def sample_data() -> ReportData:
    training = ops.Execution("abalone-local-training", "arn:aws:sagemaker:us-east-1:1:pipeline/t/execution/exec1",
                             "Succeeded", T0, T0 + timedelta(seconds=30))
    inference = ops.Execution("abalone-local-inference", "arn:aws:sagemaker:us-east-1:1:pipeline/i/execution/exec2",
                              "Failed", T0 + timedelta(seconds=40), T0 + timedelta(seconds=60),
                              "ModelQualityViolated: rmse 6.2 > 3.0")
    steps = [ops.Step("Train", "Succeeded", T0, T0 + timedelta(seconds=20), None),
             ops.Step("RegisterModel", "Succeeded", T0 + timedelta(seconds=25), T0 + timedelta(seconds=26), None)]
    failed = [ops.Step("ModelQualityCheck", "Succeeded", T0 + timedelta(seconds=50), T0 + timedelta(seconds=58),
                       None),
              ops.Step("ModelQualityViolated", "Failed", T0 + timedelta(seconds=59), T0 + timedelta(seconds=60),
                       "rmse 6.2 > 3.0")]
    version = ops.ModelVersion(1, "arn:aws:sagemaker:us-east-1:1:model-package/g/1", "Approved", T0,
                               {"rmse": 1.42, "r2": 0.8}, "ok", {}, training.arn, True)
    drift = DriftView("exec2", "abalone-local-inference", compare_statistics(
        {"features": [numeric_feature("length", [10, 10]), categorical_feature("sex", {"M": 1, "<b>": 1})]},
        {"features": [numeric_feature("length", [2, 18]), categorical_feature("sex", {"M": 1, "<b>": 3})]},
        [{"feature_name": "length", "constraint_check_type": "baseline_drift_check", "description": "d"}]), 0.1)
    return ReportData("local", T0, "rmse", 2.6, 3.0,
                      [ExecutionView(training, steps, [Gate("registration", "pass", "rmse 1.42 within 2.6")]),
                       ExecutionView(inference, failed, [Gate("model quality", "fail", "rmse 6.2 > 3.0")])],
                      [version], [drift],
                      [{"date": "Sat, 01 Jun 2024 12:00:00 +0000", "to": to,
                        "subject": "[local] training Succeeded", "body": "execution exec1 <ok>"}
                       for to in ("a@example.com", "b@example.com")])


def test_render_is_self_contained_and_complete():
    page = render(sample_data())
    assert page.startswith("<!DOCTYPE html>")
    # No external assets: no scripts, stylesheets, images or fonts fetched from anywhere.
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    for text in ("Executions", "Quality gates", "Model versions", "Data drift per feature", "Emails", "exec1",
                 "exec2", "ModelQualityViolated: rmse 6.2 &gt; 3.0", "registration threshold 2.6",
                 "comparison threshold 0.1", "[local] training Succeeded", "execution exec1 &lt;ok&gt;"):
        assert text in page, text
    assert page.count("<svg") >= 5  # timeline, metrics chart, drift chart, one per feature
    assert "&lt;b&gt;" in page and "<b>:" not in page  # category values are escaped
    assert "1 message(s), 2 outbox file(s)" in page
    assert "to a@example.com, b@example.com: <b>[local] training Succeeded</b>" in page


def test_render_empty_environment():
    page = render(ReportData("dev", T0, "r2", 0.7, 0.6, [], [], [], []))
    for text in ("No executions yet.", "No model version registered yet.", "No data-quality check has run yet.",
                 "No emails."):
        assert text in page


# ------------------------------------------------------------------------------------------ gates from result.json

SETTINGS = load_settings("local")
INFERENCE = ops.Execution(SETTINGS.pipelines.inference_name,
                          f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{SETTINGS.pipelines.inference_name}"
                          "/execution/exec9", "Failed", T0, T0 + timedelta(seconds=60))
TRAINING = ops.Execution(SETTINGS.pipelines.training_name,
                         f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{SETTINGS.pipelines.training_name}"
                         "/execution/exec8", "Failed", T0, T0 + timedelta(seconds=60))


def put_result(target: AwsTarget, execution: ops.Execution, step: str, text: str) -> str:
    key = f"{SETTINGS.prefixes.outputs}/{execution.pipeline}/{execution.execution_id}/{step}/result/result.json"
    target.client("s3").put_object(Bucket=SETTINGS.bucket, Key=key, Body=text.encode())
    return f"s3://{SETTINGS.bucket}/{key}"


def step(name: str, status: str = "Succeeded", reason: str | None = None) -> ops.Step:
    return ops.Step(name, status, T0, T0 + timedelta(seconds=5), reason)


def test_model_quality_violation_is_read_from_the_result_with_the_run_threshold(target):
    put_result(target, INFERENCE, "ModelQualityCheck", StepResult(
        step="ModelQualityCheck", outcome="failed", message="rmse above threshold", metric="rmse", value=6.2,
        threshold=3.25, comparison="<=", counts={"rows": 900, "matched": 880}).to_json())
    steps = [step("DataQualityCheck"), step("ModelQualityCheck"), step("CheckModelQuality"),
             step("ModelQualityViolated", "Failed", "violated")]
    by_name = {g.name: g for g in gates(target, INFERENCE, steps)}
    assert by_name["model quality"] == Gate(
        "model quality", "fail", "rmse 6.2000, must be <= 3.25, 880 of 900 rows matched: violated (retraining starts)",
        "rmse 6.2000 <= 3.25, 880/900 rows")
    assert by_name["data quality"] == Gate("data quality", "pass", "no violations against the model's baseline")
    page = render(ReportData("local", T0, "rmse", 2.6, 3.0, [ExecutionView(INFERENCE, steps, list(by_name.values()))],
                             [], [], []))
    assert "rmse 6.2000, must be &lt;= 3.25, 880 of 900 rows matched: violated (retraining starts)" in page


def test_passed_and_skipped_model_quality(target):
    steps = [step("ModelQualityCheck"), step("CheckModelQuality")]
    put_result(target, INFERENCE, "ModelQualityCheck", StepResult(
        step="ModelQualityCheck", outcome="passed", message="ok", metric="r2", value=0.81234, threshold=0.5,
        comparison=">=").to_json())
    [gate] = gates(target, INFERENCE, steps)
    assert (gate.outcome, gate.detail) == ("pass", "r2 0.8123, must be >= 0.5")
    put_result(target, INFERENCE, "ModelQualityCheck", StepResult(
        step="ModelQualityCheck", outcome="skipped", message="no ground truth for this batch").to_json())
    [gate] = gates(target, INFERENCE, steps)
    assert (gate.outcome, gate.detail) == ("skipped", "no ground truth for this batch")


def test_a_batch_scored_without_labels_shows_waiting_for_ground_truth_not_succeeded(target):
    steps = [step("ModelQualityCheck"), step("CheckModelQuality")]
    put_result(target, INFERENCE, "ModelQualityCheck", StepResult(
        step="ModelQualityCheck", outcome="skipped", message="model quality waiting for ground truth",
        details={"waiting_for_ground_truth": True}).to_json())
    found = gates(target, INFERENCE, steps)
    assert [(g.name, g.outcome) for g in found] == [("model quality", "waiting")]
    succeeded = dataclasses.replace(INFERENCE, status="Succeeded")
    assert shown_status(succeeded, found) == "model quality: waiting for ground truth"
    assert shown_status(INFERENCE, found) == "Failed"  # a failed run says so, whatever its gates
    page = render(ReportData("local", T0, "rmse", 2.6, 3.0, [ExecutionView(succeeded, steps, found)], [], [], []))
    # The execution's status cell (after its folded steps table).
    assert re.findall(r"</details></td><td><span[^>]*>([^<]*)</span>", page) == [
        "model quality: waiting for ground truth"]


def test_registration_gate_reads_the_evaluate_result(target):
    put_result(target, TRAINING, "Evaluate", StepResult(
        step="Evaluate", outcome="failed", message="m", metric="rmse", value=2.91, threshold=2.6,
        comparison="<=").to_json())
    steps = [step("Train"), step("Evaluate"), step("CheckMetric"), step("MetricAboveThreshold", "Failed")]
    assert gates(target, TRAINING, steps) == [
        Gate("registration", "fail", "rmse 2.9100, must be <= 2.6: not registered", "rmse 2.9100 <= 2.6")]


def test_missing_or_malformed_result_is_stated_not_raised(target):
    steps = [step("ModelQualityCheck"), step("CheckModelQuality")]
    [gate] = gates(target, INFERENCE, steps)
    assert (gate.outcome, gate.detail) == ("skipped", "(result not available: ModelQualityCheck wrote no result.json)")
    uri = put_result(target, INFERENCE, "ModelQualityCheck", '{"schema_version": 7}')
    with pytest.raises(ops.OperationError, match=f"{uri}: schema_version 7, this reader understands 1"):
        step_result(target, INFERENCE, "ModelQualityCheck")
    [gate] = gates(target, INFERENCE, steps)
    assert gate.outcome == "skipped" and gate.detail.startswith(f"(result not available: {uri}: schema_version 7")


def test_a_broken_model_quality_check_is_a_failed_gate_with_its_reason(target):
    steps = [step("ModelQualityCheck", "Failed", "ground truth has no column rings")]
    assert gates(target, INFERENCE, steps) == [
        Gate("model quality", "fail", "ModelQualityCheck failed: ground truth has no column rings")]


# ------------------------------------------------------------------------------------------ classification gates

BINARY_MATRIX_HTML = ('<table class="matrix"><tr><th>actual \\ predicted</th><th>benign</th><th>malignant</th></tr>'
                      "<tr><th>benign</th><td>70</td><td>2</td></tr><tr><th>malignant</th><td>3</td><td>39</td></tr>"
                      "</table>")


def test_registration_gate_of_a_classifier_renders_its_confusion_matrix_as_a_table(target, classification_summaries):
    summary = classification_summaries["binary"]
    put_result(target, TRAINING, "Evaluate", StepResult(
        step="Evaluate", outcome="passed", message="m", metric="f1", value=0.939759, threshold=0.9, comparison=">=",
        counts={"rows": 114}, details=summary.to_details()).to_json())
    steps = [step("Train"), step("Evaluate"), step("CheckMetric"), step("RegisterModel")]
    [gate] = gates(target, TRAINING, steps)
    assert gate == Gate("registration", "pass", "f1 0.9398, must be >= 0.9: registered for approval",
                        "f1 0.9398 >= 0.9", summary)
    page = render(ReportData("local", T0, "f1", 0.9, 0.85, [ExecutionView(TRAINING, steps, [gate])], [], [], []))
    assert ("f1 0.9398, must be &gt;= 0.9: registered for approval<div class=\"muted\">confusion matrix (rows: "
            "actual, columns: predicted; decision threshold 0.5)</div>" + BINARY_MATRIX_HTML) in page
    assert ("<tr><th>malignant</th><td>0.9512</td><td>0.9286</td><td>0.9398</td><td>42</td></tr>") in page
    assert "accuracy 0.9561, auc 0.9921, f1 0.9398, logloss 0.1183, precision 0.9512, recall 0.9286" in page


def test_model_quality_gate_of_a_multiclass_model_escapes_its_labels(target, classification_summaries):
    summary = dataclasses.replace(
        classification_summaries["multiclass"], labels=["setosa", "versi<b>color", "virginica"],
        per_class={("versi<b>color" if label == "versicolor" else label): scores
                   for label, scores in classification_summaries["multiclass"].per_class.items()})
    put_result(target, INFERENCE, "ModelQualityCheck", StepResult(
        step="ModelQualityCheck", outcome="failed", message="m", metric="accuracy", value=0.9, threshold=0.95,
        comparison=">=", counts={"rows": 40, "matched": 30}, details=summary.to_details()).to_json())
    steps = [step("ModelQualityCheck"), step("CheckModelQuality"), step("ModelQualityViolated", "Failed")]
    [gate] = gates(target, INFERENCE, steps)
    assert gate.classification == summary and gate.outcome == "fail"
    page = render(ReportData("local", T0, "accuracy", 0.9, 0.95, [ExecutionView(INFERENCE, steps, [gate])], [], [],
                             []))
    assert "<th>versi&lt;b&gt;color</th><td>0</td><td>9</td><td>1</td></tr>" in page
    assert "versi<b>" not in page
    assert "confusion matrix (rows: actual, columns: predicted)</div>" in page  # no decision threshold


def test_regression_report_has_no_classification_tables():
    page = render(sample_data())
    assert '<table class="matrix"' not in page and "confusion matrix" not in page


def test_model_versions_of_a_classifier_chart_and_list_its_metrics():
    version = ops.ModelVersion(3, "arn:aws:sagemaker:us-east-1:1:model-package/g/3", "PendingManualApproval", T0,
                               {"f1": 0.939759, "auc": 0.992063}, None, {}, None, False)
    page = render(ReportData("local", T0, "f1", 0.9, 0.85, [], [version], [], []))
    assert 'aria-label="f1 per model version"' in page and "registration threshold 0.9" in page
    assert "<th>auc</th><th>f1</th>" in page and "<td>0.9921</td><td>0.9398</td>" in page


def test_model_evaluation_says_why_it_cannot_be_had(target, monkeypatch, classification_summaries):
    version = ops.ModelVersion(1, "arn:aws:sagemaker:us-east-1:1:model-package/g/1", "Approved", T0, {}, None, {},
                               TRAINING.arn, False)
    assert model_evaluation(target, dataclasses.replace(version, generated_by=None)) == (
        None, None, "(evaluation not available: the version names no training execution)")
    result, summary, problem = model_evaluation(target, version)  # moto knows no such execution
    assert (result, summary) == (None, None) and problem.startswith(f"(evaluation not available: execution "
                                                                    f"{TRAINING.arn}: ")
    monkeypatch.setattr(ops, "describe_execution", lambda _target, arn, pipeline=None: TRAINING)
    assert model_evaluation(target, version) == (None, None,
                                                 "(result not available: Evaluate wrote no result.json)")
    evaluated = StepResult(step="Evaluate", outcome="passed", message="m", metric="f1", value=0.94, threshold=0.9,
                           comparison=">=", details=classification_summaries["binary"].to_details())
    put_result(target, TRAINING, "Evaluate", evaluated.to_json())
    assert model_evaluation(target, version) == (evaluated, classification_summaries["binary"], "")


def label_statistics(counts: dict[str, int]) -> dict:
    return {"features": [numeric_feature("length", [10, 10])],
            "label_distribution": {"name": "diagnosis", "inferred_type": "String", "num_present": sum(counts.values()),
                                   "num_missing": 0,
                                   "classes": [{"value": k, "count": v} for k, v in sorted(counts.items())]}}


def test_the_label_columns_class_balance_is_a_drift_card_with_the_checks_verdict():
    baseline = label_statistics({"benign": 70, "malignant": 30})
    batch = label_statistics({"benign": 45, "malignant": 55})
    verdict = {"compared": True, "drifted": True, "message": "Class balance drift on 'diagnosis': distance 0.2500"}
    *features, label = compare_statistics(baseline, batch, [], verdict)
    assert [f.name for f in features] == ["length"]
    assert (label.name, label.kind, label.violations) == ("diagnosis (label)", "categorical", [verdict["message"]])
    assert label.distance == pytest.approx(0.25)
    assert dict(label.baseline) == pytest.approx({"benign": 0.7, "malignant": 0.3})
    assert dict(label.batch) == pytest.approx({"benign": 0.45, "malignant": 0.55})
    [quiet] = compare_statistics(baseline, batch, [], {"compared": True, "drifted": False})[1:]
    assert quiet.violations == []
    unlabelled = {"features": baseline["features"]}
    assert [f.name for f in compare_statistics(baseline, unlabelled, [])] == ["length"]  # an inference batch
    page = render(ReportData("local", T0, "f1", 0.9, 0.85, [], [], [DriftView("exec2", "inference",
                                                                              [*features, label], 0.1)], []))
    assert "diagnosis (label)" in page and "Class balance drift on &#x27;diagnosis&#x27;" in page


def test_an_inference_run_shows_the_model_version_and_account_it_was_scored_with(target):
    from batchops.report import scored_with
    from batchops_core import results

    steps = [step("ResolveModel")]
    details = {results.MODEL_VERSION_DETAIL: 3, results.MODEL_GROUP_DETAIL: "abalone-dev-models",
               results.MODEL_ACCOUNT_DETAIL: "111111111111"}
    put_result(target, INFERENCE, "ResolveModel",
               StepResult(step="ResolveModel", outcome="passed", message="m", details=details).to_json())
    text = scored_with(target, INFERENCE, steps)
    assert text == "version 3 of abalone-dev-models (account 111111111111)"
    assert scored_with(target, TRAINING, [step("Evaluate")]) == ""
    page = render(ReportData("local", T0, "rmse", 2.6, 3.0, [ExecutionView(INFERENCE, steps, [], text)], [], [], []))
    assert "<th>scored with</th>" in page and f"<td>{text}</td>" in page
