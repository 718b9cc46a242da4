"""The demo end to end in a temporary BATCHOPS_HOME: every outcome checked again from outside the demo."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from batchops.demo import run_demo
from batchops_core.metrics import get as get_metric
from batchops_core.settings import load_settings

pytestmark = pytest.mark.slow

SETTINGS = load_settings("local")


def _executions(sagemaker, pipeline: str) -> list[dict]:
    summaries = sagemaker.list_pipeline_executions(PipelineName=pipeline, SortBy="CreationTime",
                                                   SortOrder="Ascending")["PipelineExecutionSummaries"]
    return [sagemaker.describe_pipeline_execution(PipelineExecutionArn=s["PipelineExecutionArn"]) for s in summaries]


def _steps(sagemaker, arn: str) -> dict[str, dict]:
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {s["StepName"]: s for s in steps}


def test_demo_runs_the_whole_lifecycle(tmp_path):
    home = tmp_path / "home"
    output = io.StringIO()
    seen: dict = {}

    def inspect(demo, local_aws) -> None:
        sagemaker, ssm = local_aws.client("sagemaker"), local_aws.client("ssm")
        packages = sagemaker.list_model_packages(ModelPackageGroupName=SETTINGS.pipelines.model_package_group,
                                                 SortBy="CreationTime", SortOrder="Ascending")
        seen["packages"] = [(p["ModelPackageArn"], p["ModelApprovalStatus"])
                            for p in packages["ModelPackageSummaryList"]]
        seen["active"] = ssm.get_parameter(Name=f"/{SETTINGS.project}/local/active-model-package-arn")[
            "Parameter"]["Value"]
        seen["training"] = _executions(sagemaker, SETTINGS.pipelines.training_name)
        seen["inference"] = _executions(sagemaker, SETTINGS.pipelines.inference_name)
        seen["retraining"] = _executions(sagemaker, SETTINGS.pipelines.training_hpo_name)
        seen["steps"] = {e["PipelineExecutionArn"]: _steps(sagemaker, e["PipelineExecutionArn"])
                         for key in ("training", "inference", "retraining") for e in seen[key]}
        seen["outcome"] = demo.outcome

    outcome = run_demo(home, console=Console(file=output, width=200), execution_timeout=600, before_stop=inspect)
    log = output.getvalue()
    # The definitions the demo built while Terraform applied are the ones stored (the upsert reused them).
    assert "(definitions built while Terraform applied)" in log

    # Model versions: the first approved and active, the retrained one waiting for approval.
    (first_arn, first_status), (second_arn, second_status) = seen["packages"]
    assert (first_status, second_status) == ("Approved", "PendingManualApproval")
    assert seen["active"] == first_arn  # set by the approval_trigger Lambda, not by the demo
    assert outcome.first_version.arn == first_arn and outcome.retrained_version.arn == second_arn
    assert outcome.first_version.metrics["rmse"] <= SETTINGS.model.registration_threshold

    # Executions: one training, two scorings (clean passes, drifted fails at ModelQualityViolated), one retraining.
    assert [e["PipelineExecutionStatus"] for e in seen["training"]] == ["Succeeded"]
    assert [e["PipelineExecutionStatus"] for e in seen["inference"]] == ["Succeeded", "Failed"]
    assert [e["PipelineExecutionStatus"] for e in seen["retraining"]] == ["Succeeded"]
    clean, drifted = (seen["steps"][e["PipelineExecutionArn"]] for e in seen["inference"])
    assert {name: s["StepStatus"] for name, s in clean.items()} == {
        "ResolveModel": "Succeeded", "Preprocess": "Succeeded", "CreateModel": "Succeeded",
        "DataQualityCheck": "Succeeded", "BatchTransform": "Succeeded", "PublishPredictions": "Succeeded",
        "ModelQualityCheck": "Succeeded", "CheckModelQuality": "Succeeded"}
    assert drifted["DataQualityCheck"]["StepStatus"] == "Succeeded"  # drift warns (on_drift = warn)
    # The check itself succeeds with outcome "failed"; the Condition routes to the Fail step the retraining
    # rule matches.
    assert {name: drifted[name]["StepStatus"] for name in ("ModelQualityCheck", "CheckModelQuality",
                                                           "ModelQualityViolated")} == {
        "ModelQualityCheck": "Succeeded", "CheckModelQuality": "Succeeded", "ModelQualityViolated": "Failed"}
    quality = outcome.model_quality
    assert quality.outcome == "failed" and quality.metric == SETTINGS.model.metric
    assert quality.threshold == SETTINGS.model.model_quality_threshold  # the run used the configured default
    assert not get_metric(quality.metric).passes(quality.value, quality.threshold)
    retraining_steps = seen["steps"][seen["retraining"][0]["PipelineExecutionArn"]]
    assert retraining_steps["Tune"]["StepStatus"] == "Succeeded"
    assert retraining_steps["RegisterModel"]["StepStatus"] == "Succeeded"

    # Drift is reported on features that were shifted.
    assert {"length", "whole_weight"} <= set(outcome.drift_features)

    # Emails: the outbox names every execution; the configured retraining subject was rendered.
    from batchops_local.emulator import read_outbox

    messages = read_outbox(home)
    assert outcome.emails == len(messages) > 0
    text = "\n".join(f"{m['subject']}\n{m['body']}" for m in messages)
    for execution in seen["training"] + seen["inference"] + seen["retraining"]:
        assert execution["PipelineExecutionArn"].rsplit("/", 1)[-1] in text
    assert "[local] model quality below threshold: retraining starts" in {m["subject"] for m in messages}
    # The model-quality email shows metric, value and threshold from ModelQualityCheck's result.json.
    drifted_id = seen["inference"][1]["PipelineExecutionArn"].rsplit("/", 1)[-1]
    metric = get_metric(quality.metric)
    gate = (f"Quality gate: {quality.metric} {metric.format(quality.value)} (must be {metric.comparison} "
            f"{quality.threshold}) on {quality.counts['matched']} of {quality.counts['rows']} rows "
            "(model quality threshold; retraining starts)")
    assert any(drifted_id in m["body"] and gate in m["body"] for m in messages), gate
    assert {m["to"] for m in messages} == set(SETTINGS.notifications.recipients)

    # The report: self-contained HTML naming every execution and the drift.
    report = (home / "demo-report.html").read_text()
    assert outcome.report == home / "demo-report.html"
    assert report.count("<svg") >= 4 and "<script" not in report
    for execution in seen["training"] + seen["inference"] + seen["retraining"]:
        assert execution["PipelineExecutionArn"].rsplit("/", 1)[-1] in report
    assert "baseline_drift_check" in report

    # Runner logs landed in the demo's home; the progress display ended with the summary.
    training_id = seen["training"][0]["PipelineExecutionArn"].rsplit("/", 1)[-1]
    assert (home / "runs" / training_id / "Train" / "job.log").is_file()
    assert re.search(r"every expected outcome happened", log)
    assert set(outcome.phase_seconds) >= {"infrastructure", "training", "clean batch", "drifted batch",
                                          "emails and report"}
