"""QualityCheck steps: baseline calculation, checks against supplied or registered baselines, FailOnViolation."""

from __future__ import annotations

import json

import numpy as np
from runner_support import ANALYZER_IMAGE, ROLE, XGBOOST_IMAGE


def _dataset(rows: int, *, shift: float = 0.0, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["size,weight,colour"]
    for _ in range(rows):
        lines.append(f"{rng.normal(10 + shift, 1):.4f},{rng.uniform(0, 1) + shift:.4f},"
                     f"{rng.choice(['red', 'blue'])}")
    return "\n".join(lines) + "\n"


def _quality_step(aws, name: str, data_uri: str, output_key: str, *, skip: bool, register: bool,
                  fail: bool = True, group: str | None = None, supplied: tuple | None = None):
    return {
        "Name": name, "Type": "QualityCheck",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": ANALYZER_IMAGE},
            "RoleArn": ROLE,
            "ProcessingInputs": [{"InputName": "baseline_dataset_input", "AppManaged": False, "S3Input": {
                "S3Uri": data_uri, "LocalPath": "/opt/ml/processing/input/baseline_dataset_input",
                "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output", "AppManaged": False,
                                                    "S3Output": {"S3Uri": aws.uri(output_key),
                                                                 "LocalPath": "/opt/ml/processing/output",
                                                                 "S3UploadMode": "EndOfJob"}}]},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "Environment": {"dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                            "output_path": "/opt/ml/processing/output",
                            "dataset_format": json.dumps({"csv": {"header": True,
                                                                  "output_columns_position": "START"}}),
                            "publish_cloudwatch_metrics": "Disabled"},
        },
        "CheckType": "DATA_QUALITY", "ModelPackageGroupName": group, "SkipCheck": skip, "FailOnViolation": fail,
        "RegisterNewBaseline": register,
        "SuppliedBaselineStatistics": supplied[0] if supplied else None,
        "SuppliedBaselineConstraints": supplied[1] if supplied else None,
    }


def _baseline(runner, aws) -> tuple[str, str]:
    aws.put("train/baseline.csv", _dataset(400))
    step = _quality_step(aws, "DataQualityBaseline", aws.uri("train/baseline.csv"), "dq/baseline",
                         skip=True, register=True)
    sink, _ = runner.run([step])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    metadata = sink.last("DataQualityBaseline")["metadata"]["QualityCheck"]
    return metadata["CalculatedBaselineStatistics"], metadata["CalculatedBaselineConstraints"]


def test_first_baseline_calculates_and_uses_the_new_baseline(runner, aws):
    statistics, constraints = _baseline(runner, aws)
    assert statistics == aws.uri("dq/baseline/statistics.json")
    assert constraints == aws.uri("dq/baseline/constraints.json")
    assert json.loads(aws.get("dq/baseline/statistics.json"))["dataset"]["item_count"] == 400
    names = [f["name"] for f in json.loads(aws.get("dq/baseline/constraints.json"))["features"]]
    assert names == ["size", "weight", "colour"]


def test_check_against_a_supplied_baseline_fails_on_drift_and_reports_the_violations(runner, aws):
    statistics, constraints = _baseline(runner, aws)
    aws.put("batch/drifted.csv", _dataset(300, shift=3.0, seed=5))
    step = _quality_step(aws, "DataQualityCheck", aws.uri("batch/drifted.csv"), "dq/check", skip=False,
                         register=False, supplied=(statistics, constraints))
    sink, _ = runner.run([step])
    last = sink.last("DataQualityCheck")
    assert last["status"] == "Failed"
    assert "data-quality violation(s) against the baseline" in last["reason"]
    assert "baseline_drift_check" in last["reason"]
    metadata = last["metadata"]["QualityCheck"]
    assert metadata["ViolationReport"] == aws.uri("dq/check/constraint_violations.json")
    assert metadata["BaselineUsedForDriftCheckStatistics"] == statistics
    violations = json.loads(aws.get("dq/check/constraint_violations.json"))["violations"]
    assert {v["feature_name"] for v in violations} >= {"size", "weight"}


def test_without_fail_on_violation_the_check_succeeds_and_still_writes_the_report(runner, aws):
    statistics, constraints = _baseline(runner, aws)
    aws.put("batch/drifted.csv", _dataset(300, shift=3.0, seed=6))
    step = _quality_step(aws, "DataQualityCheck", aws.uri("batch/drifted.csv"), "dq/check", skip=False,
                         register=True, fail=False, supplied=(statistics, constraints))
    sink, _ = runner.run([step])
    assert sink.final == ("Succeeded", None)
    metadata = sink.last("DataQualityCheck")["metadata"]["QualityCheck"]
    # RegisterNewBaseline: the newly calculated baseline becomes the one used for drift checks.
    assert metadata["BaselineUsedForDriftCheckStatistics"] == aws.uri("dq/check/statistics.json")
    assert json.loads(aws.get("dq/check/constraint_violations.json"))["violations"]


def test_previous_baseline_comes_from_the_latest_approved_package(runner, aws):
    statistics, constraints = _baseline(runner, aws)
    sagemaker = aws.client("sagemaker")
    group = f"dq-{aws.bucket[-8:]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    missing_step = _quality_step(aws, "DataQualityCheck", aws.uri("train/baseline.csv"), "dq/none", skip=False,
                                 register=False, group=group)
    sink, _ = runner.run([missing_step])
    assert "no baseline to check against" in sink.last("DataQualityCheck")["reason"]
    assert f"no Approved model package in group '{group}'" in sink.last("DataQualityCheck")["reason"]

    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": aws.uri("m/model.tar.gz")}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        DriftCheckBaselines={"ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": statistics},
            "Constraints": {"ContentType": "application/json", "S3Uri": constraints}}})["ModelPackageArn"]
    aws.put("batch/similar.csv", _dataset(300, seed=9))
    step = _quality_step(aws, "DataQualityCheck", aws.uri("batch/similar.csv"), "dq/ok", skip=False,
                         register=False, group=group)
    sink, request = runner.run([step])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    metadata = sink.last("DataQualityCheck")["metadata"]["QualityCheck"]
    assert metadata["BaselineUsedForDriftCheckConstraints"] == constraints
    assert json.loads(aws.get("dq/ok/constraint_violations.json"))["violations"] == []
    from batchops_local.runner import read_step_log
    assert f"previous baseline from {arn}" in read_step_log(runner.home, request.execution_id, "DataQualityCheck")


def test_model_quality_checks_are_refused_clearly(runner, aws):
    aws.put("train/baseline.csv", _dataset(20))
    step = _quality_step(aws, "ModelCheck", aws.uri("train/baseline.csv"), "dq/m", skip=True, register=True)
    step["CheckType"] = "MODEL_QUALITY"
    sink, _ = runner.run([step])
    assert "CheckType 'MODEL_QUALITY' has no local implementation" in sink.last("ModelCheck")["reason"]
