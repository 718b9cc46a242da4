"""The HTML report as a pure function of collected data: self-contained, every section present, drift maths."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from batchops import operations as ops
from batchops.report import (
    DriftView,
    ExecutionView,
    Gate,
    ReportData,
    _numeric_distance,
    compare_statistics,
    render,
)

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
                              "ModelQualityCheck: rmse 6.2 > 3.0")
    steps = [ops.Step("Train", "Succeeded", T0, T0 + timedelta(seconds=20), None),
             ops.Step("RegisterModel", "Succeeded", T0 + timedelta(seconds=25), T0 + timedelta(seconds=26), None)]
    failed = [ops.Step("ModelQualityCheck", "Failed", T0 + timedelta(seconds=50), T0 + timedelta(seconds=60),
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
                 "exec2", "ModelQualityCheck: rmse 6.2 &gt; 3.0", "registration threshold 2.6",
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
