"""The notification Lambda under moto: rules, defaults, readable messages, drift and gate details, dedup."""

from __future__ import annotations

import json

import pytest
from lambda_testkit import (
    INFERENCE,
    REGION,
    TRAINING,
    execution_arn,
    execution_event,
    log_records,
    step_event,
)

from batchops_core import contracts
from batchops_core.contracts import STEP_RESULT_OUTPUT, OutputFile
from batchops_core.results import StepResult
from batchops_core.settings import load_settings
from lambdas.notification import rules as rule_engine
from lambdas.notification.content import Deployment, template_variables
from lambdas.notification.events import parse_event, state_change_key
from lambdas.notification.handler import handler
from lambdas.shared.outbound import OutboundError
from lambdas.shared.runtime import ConfigurationError, EventError, client


def rule(pipeline="*", step="*", status="*", mute=False, subject="", body=""):
    return {"pipeline": pipeline, "step": step, "status": status, "mute": mute, "subject": subject, "body": body}


@pytest.fixture
def notification_env(stack, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_RULES", "[]")
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", "")
    return stack


def set_rules(monkeypatch, *entries):
    monkeypatch.setenv("NOTIFICATION_RULES", json.dumps(list(entries)))


# ----------------------------------------------------------------------------------------- defaults


def test_final_execution_status_is_sent_as_a_readable_plain_text_message(notification_env):
    result = handler(execution_event("Succeeded", pipeline=TRAINING), None)

    assert result["status"] == "sent"
    [message] = notification_env.published()
    assert message["subject"] == f"[test] {TRAINING}: execution succeeded"
    body = message["message"]
    assert f"Pipeline {TRAINING} succeeded." in body
    assert "Execution:  exec0001" in body
    assert "Duration:   1h 03m 09s" in body
    link = f"https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}#/pipelines/{TRAINING}/executions/exec0001"
    assert link in body
    assert not body.lstrip().startswith("{"), "the body is text for people, not the event JSON"


def test_non_final_statuses_are_not_sent_without_a_rule(notification_env):
    assert handler(execution_event("Executing"), None)["status"] == "skipped"
    assert handler(step_event("Preprocess", "Starting"), None)["status"] == "skipped"
    assert handler(step_event("Preprocess", "Succeeded"), None)["status"] == "skipped"
    assert notification_env.published() == []


def test_failed_step_is_always_sent_with_its_failure_reason(notification_env):
    event = step_event("Preprocess", "Failed", failureReason="column 'sex' missing in row 3")
    handler(event, None)

    [message] = notification_env.published()
    assert message["subject"] == f"[test] {INFERENCE}: step Preprocess failed"
    assert "Failure reason:\n  column 'sex' missing in row 3" in message["message"]
    assert "Step:       Preprocess (Processing)" in message["message"]
    assert "Duration:   2m 05s" in message["message"]


# ----------------------------------------------------------------------------------------- rules


def test_matched_custom_rule_is_sent_with_its_own_templates(notification_env, monkeypatch):
    set_rules(
        monkeypatch,
        rule(
            pipeline="*inference",
            step="BatchTransform",
            status="Succeeded",
            subject="[{{ environment }}] scored batch ready ({{ duration }})",
            body="Batch {{ execution_id }} of {{ pipeline }} is scored.\n{{ console_link }}",
        ),
    )
    result = handler(step_event("BatchTransform", "Succeeded", stepType="Transform"), None)

    assert result["status"] == "sent"
    [message] = notification_env.published()
    assert message["subject"] == "[test] scored batch ready (2m 05s)"
    assert message["message"].startswith(f"Batch exec0001 of {INFERENCE} is scored.\nhttps://")


def test_custom_template_failing_at_render_time_still_sends_the_default_message(notification_env, monkeypatch, capsys):
    set_rules(monkeypatch, rule(step="Train", status="Failed", body="first feature: {{ drift_violations[0].feature }}"))
    handler(step_event("Train", "Failed", pipeline=TRAINING), None)

    [message] = notification_env.published()
    assert message["subject"] == f"[test] {TRAINING}: step Train failed"
    assert "(The custom template of NOTIFICATION_RULES[0] failed:" in message["message"]
    assert any(
        r["level"] == "error" and "NOTIFICATION_RULES[0]" in r["message"] for r in log_records(capsys.readouterr().out)
    )


def test_rule_with_empty_templates_uses_the_defaults(notification_env, monkeypatch):
    set_rules(monkeypatch, rule(step="Train", status="Succeeded"))
    handler(step_event("Train", "Succeeded", pipeline=TRAINING, stepType="Training"), None)

    [message] = notification_env.published()
    assert message["subject"] == f"[test] {TRAINING}: step Train succeeded"


def test_first_matching_rule_wins(notification_env, monkeypatch):
    set_rules(
        monkeypatch,
        rule(step="Train", status="Succeeded", subject="first"),
        rule(step="*", status="Succeeded", subject="second"),
    )
    handler(step_event("Train", "Succeeded"), None)
    handler(step_event("Evaluate", "Succeeded"), None)

    assert [m["subject"] for m in notification_env.published()] == ["first", "second"]


def test_mute_rule_silences_even_default_notifications(notification_env, monkeypatch):
    set_rules(monkeypatch, rule(pipeline=TRAINING, step="Preprocess", status="Failed", mute=True))

    result = handler(step_event("Preprocess", "Failed", pipeline=TRAINING), None)
    assert result == {"status": "skipped", "reason": "muted by NOTIFICATION_RULES[0]", "event_id": result["event_id"]}
    handler(step_event("Preprocess", "Failed", pipeline=INFERENCE), None)  # other pipeline: not muted
    assert len(notification_env.published()) == 1


def test_pipeline_wildcard_does_not_match_other_pipelines(notification_env, monkeypatch):
    set_rules(monkeypatch, rule(pipeline="*inference", step="Preprocess", status="Succeeded", subject="matched"))
    handler(step_event("Preprocess", "Succeeded", pipeline=TRAINING), None)
    handler(step_event("Preprocess", "Succeeded", pipeline=INFERENCE), None)

    assert [m["subject"] for m in notification_env.published()] == ["matched"]


def test_empty_step_pattern_selects_execution_events_only(notification_env, monkeypatch):
    set_rules(monkeypatch, rule(step="", status="Executing", subject="started {{ pipeline }}"))
    handler(execution_event("Executing"), None)
    handler(step_event("Preprocess", "Executing"), None)

    assert [m["subject"] for m in notification_env.published()] == [f"started {INFERENCE}"]


def test_env_file_rules_are_accepted_by_the_lambda():
    """The rules schema the env file is validated against is the one the Lambda loads."""
    settings = load_settings("local")
    raw = json.dumps([r.model_dump() for r in settings.notifications.rules])
    rules, templates = rule_engine.load(raw)
    assert len(rules) == len(settings.notifications.rules) > 0
    subject, _ = templates.render(rules[0], {name: "x" for name in rule_engine.TEMPLATE_VARIABLES})
    assert subject


# ----------------------------------------------------------------------------------------- gates and drift


RESULTS_BUCKET = "abalone-test-data"


def put_result(step: str, document: str | None, pipeline: str = INFERENCE) -> str:
    """Write `document` as the step's result.json (None: write nothing) and return its output prefix."""
    s3 = client("s3")
    s3.create_bucket(Bucket=RESULTS_BUCKET)
    prefix = f"outputs/{pipeline}/exec0001/{step}/{STEP_RESULT_OUTPUT}"
    if document is not None:
        s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/{OutputFile.STEP_RESULT}", Body=document.encode())
    return f"s3://{RESULTS_BUCKET}/{prefix}"


def processing_job(name: str, outputs: dict[str, str]) -> dict:
    """A DescribeProcessingJob answer with the given output name -> S3 prefix."""
    return {
        "ProcessingJobName": name,
        "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:processing-job/{name}",
        "ProcessingJobStatus": "Completed",
        "CreationTime": "2026-11-21T06:00:00Z",
        "AppSpecification": {"ImageUri": "image"},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        "ProcessingOutputConfig": {
            "Outputs": [
                {"OutputName": output, "S3Output": {"S3Uri": uri + "/", "LocalPath": f"/opt/ml/processing/{output}",
                                                     "S3UploadMode": "EndOfJob"}}
                for output, uri in outputs.items()
            ]
        },
    }


def stub_deciding_step(stubber, step: str, outputs: dict[str, str], pipeline: str = INFERENCE,
                       listed_status: str = "Succeeded", fail_step: str | None = None,
                       described: bool = True) -> None:
    """ListPipelineExecutionSteps names the deciding step's processing job; DescribeProcessingJob its outputs."""
    job = f"pipelines-exec0001-{step.lower()}"
    listed = [{"StepName": "Preprocess", "StepStatus": "Succeeded", "Metadata": {}},
              {"StepName": step, "StepStatus": listed_status,
               "Metadata": {"ProcessingJob": {"Arn": processing_job(job, {})["ProcessingJobArn"]}}}]
    if fail_step:
        listed.append({"StepName": fail_step, "StepStatus": "Failed", "Metadata": {}})
    stubber.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": listed},
                         {"PipelineExecutionArn": execution_arn(pipeline)})
    if described:
        stubber.add_response("describe_processing_job", processing_job(job, outputs), {"ProcessingJobName": job})


def gate_result(step: str, outcome: str, metric: str = "rmse", value: float | None = 3.412, threshold: float = 3.5,
                comparison: str | None = "<=", counts: dict[str, int] | None = None,
                details: dict | None = None) -> str:
    """A deciding step's result.json; counts as each step writes them (Evaluate: test rows; ModelQualityCheck:
    scored rows and those matched with ground truth)."""
    if counts is None:
        counts = {"rows": 200} if step == "Evaluate" else {"rows": 1000, "matched": 990}
    return StepResult(step=step, outcome=outcome, message=f"{metric} {value} vs {threshold}", metric=metric,
                      value=value, threshold=threshold, comparison=comparison, counts=counts,
                      details=details or {}).to_json()


def test_model_quality_violation_shows_metric_value_and_the_threshold_the_run_used(
        notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="ModelQualityViolated", status="Failed",
                                subject="retraining: {{ metric }} {{ metric_value }}",
                                body="{{ quality_gate }}\n"
                                     "{{ metric }}={{ metric_value }} vs {{ comparison }} {{ threshold }} on "
                                     "{{ matched_rows }}/{{ rows }} ({{ quality_outcome }}, "
                                     "{{ model_quality_threshold }}|{{ registration_threshold }})"))
    # The deployment's old variables disagree with the run: they are ignored, the result decides.
    monkeypatch.setenv("MODEL_QUALITY_THRESHOLD", "3.0")
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "failed", threshold=3.25))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"report": prefix + "-report", "result": prefix})
    reason = "Model quality of this batch is below its threshold"
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", failureReason=reason), None)

    [message] = notification_env.published()
    gate = "rmse 3.4120 (must be <= 3.25) on 990 of 1000 rows (model quality threshold; retraining starts)"
    assert message["subject"] == "retraining: rmse 3.4120"
    assert message["message"] == f"{gate}\nrmse=3.4120 vs <= 3.25 on 990/1000 (failed, 3.25|)\n"
    stub_sagemaker.assert_no_pending_responses()


def test_model_quality_violation_default_message_carries_the_gate_and_the_reason(notification_env, stub_sagemaker):
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "failed"))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", failureReason="quality violated"), None)

    [message] = notification_env.published()
    assert message["subject"] == f"[test] {INFERENCE}: step ModelQualityViolated failed"
    assert ("Quality gate: rmse 3.4120 (must be <= 3.5) on 990 of 1000 rows (model quality threshold; "
            "retraining starts)\n") in message["message"]
    assert "Failure reason:\n  quality violated" in message["message"]


def test_a_consumers_model_quality_violation_says_retraining_runs_in_its_registry(
        notification_env, stub_sagemaker, monkeypatch):
    monkeypatch.setenv(contracts.REGISTRY_ENVIRONMENT_VARIABLE, "dev")
    monkeypatch.setenv(contracts.REGISTRY_ACCOUNT_VARIABLE, "111111111111")
    set_rules(monkeypatch, rule(step="ModelQualityViolated", status="Failed",
                                subject="[{{ environment }}] model quality below threshold: {{ retraining }}",
                                body="{{ quality_gate }}"))
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "failed"))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", failureReason="quality violated"), None)

    [message] = notification_env.published()
    elsewhere = "retraining in registry 'dev' (account 111111111111)"
    assert message["subject"] == f"[test] model quality below threshold: {elsewhere}"
    assert message["message"] == ("rmse 3.4120 (must be <= 3.5) on 990 of 1000 rows (model quality threshold; "
                                  f"{elsewhere})\n")


def test_registration_gate_failure_reads_the_evaluate_result(notification_env, stub_sagemaker):
    prefix = put_result("Evaluate", gate_result("Evaluate", "failed", value=2.91, threshold=2.6), pipeline=TRAINING)
    stub_deciding_step(stub_sagemaker, "Evaluate", {"evaluation": prefix + "-eval", "result": prefix},
                       pipeline=TRAINING)
    event = step_event("MetricAboveThreshold", "Failed", pipeline=TRAINING, stepType="Fail",
                       failureReason="metric above threshold")
    handler(event, None)

    [message] = notification_env.published()
    assert ("Quality gate: rmse 2.9100 (must be <= 2.6) on 200 rows (registration threshold; no model registered)"
            in message["message"])


def test_higher_is_better_metric_takes_its_comparison_from_the_registry_when_the_result_has_none(
        notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="MetricAboveThreshold", status="Failed", subject="{{ quality_gate }}"))
    document = gate_result("Evaluate", "failed", metric="r2", value=0.41234, threshold=0.5, comparison=None)
    prefix = put_result("Evaluate", document, pipeline=TRAINING)
    stub_deciding_step(stub_sagemaker, "Evaluate", {"result": prefix}, pipeline=TRAINING)
    handler(step_event("MetricAboveThreshold", "Failed", pipeline=TRAINING, stepType="Fail"), None)

    [message] = notification_env.published()
    assert message["subject"] == "r2 0.4123 (must be >= 0.5) on 200 rows (registration threshold; no model registered)"


def test_malformed_result_is_stated_in_the_message_not_raised(notification_env, stub_sagemaker, capsys):
    prefix = put_result("ModelQualityCheck", json.dumps(
        {"schema_version": 1, "step": "ModelQualityCheck", "outcome": "bad", "message": "m"}))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    result = handler(step_event("ModelQualityViolated", "Failed", stepType="Fail"), None)

    assert result["status"] == "sent"
    [message] = notification_env.published()
    assert (f"Quality gate: (not available: the result of ModelQualityCheck could not be read: "
            f"{prefix}/result.json: ") in message["message"]
    assert "outcome must be one of passed, failed, skipped, warning, found 'bad'" in message["message"]
    warnings = [r for r in log_records(capsys.readouterr().out) if r["level"] == "warning"]
    assert warnings and warnings[0]["message"] == "quality-gate result unavailable"


def test_result_that_is_not_json_is_stated_in_the_message(notification_env, stub_sagemaker):
    prefix = put_result("ModelQualityCheck", "rmse 3.4 > 3.0")
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail"), None)

    [message] = notification_env.published()
    assert f"could not be read: {prefix}/result.json: not JSON" in message["message"]


def test_missing_result_is_stated_in_the_message(notification_env, stub_sagemaker):
    prefix = put_result("ModelQualityCheck", None)
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail"), None)

    [message] = notification_env.published()
    assert (f"Quality gate: (not available: the result of ModelQualityCheck could not be read: cannot read "
            f"{prefix}/result.json: NoSuchKey)") in message["message"]


def test_deciding_step_without_a_result_output_is_stated_in_the_message(notification_env, stub_sagemaker):
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"report": "s3://b/report"})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail"), None)

    [message] = notification_env.published()
    assert ("has no output 'result' (outputs: report))" in message["message"])


def test_deciding_step_not_listed_is_stated_in_the_message(notification_env, stub_sagemaker):
    stub_sagemaker.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": []},
                                {"PipelineExecutionArn": execution_arn()})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail"), None)

    [message] = notification_env.published()
    assert ("(not available: the result of ModelQualityCheck could not be read: step ModelQualityCheck is not "
            "listed for execution") in message["message"]


def test_inference_success_email_shows_the_model_quality_result(notification_env, stub_sagemaker):
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "passed", value=1.5))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert ("Quality gate: passed: rmse 1.5000 (must be <= 3.5) on 990 of 1000 rows (model quality threshold)\n"
            in message["message"])


def test_training_success_email_shows_the_evaluate_result(notification_env, stub_sagemaker):
    document = gate_result("Evaluate", "passed", metric="r2", value=0.81234, threshold=0.5, comparison=">=")
    prefix = put_result("Evaluate", document, pipeline=TRAINING)
    stub_deciding_step(stub_sagemaker, "Evaluate", {"evaluation": prefix + "-eval", "result": prefix},
                       pipeline=TRAINING)
    handler(execution_event("Succeeded", pipeline=TRAINING), None)

    [message] = notification_env.published()
    assert message["subject"] == f"[test] {TRAINING}: execution succeeded"
    assert ("Quality gate: passed: r2 0.8123 (must be >= 0.5) on 200 rows (registration threshold)\n"
            in message["message"])


def test_gate_variables_carry_comparison_and_row_counts(notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="", status="Succeeded",
                                subject="{{ metric }} {{ metric_value }} {{ comparison }} {{ threshold }}",
                                body="{{ matched_rows }} of {{ rows }} ({{ quality_outcome }})"))
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "passed", value=2.10344, threshold=3.0))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert (message["subject"], message["message"]) == ("rmse 2.1034 <= 3.0", "990 of 1000 (passed)\n")


def test_failed_inference_execution_email_shows_the_violated_gate(notification_env, stub_sagemaker):
    stub_sagemaker.add_response("describe_pipeline_execution", {"FailureReason": "Step ModelQualityViolated failed"},
                                {"PipelineExecutionArn": execution_arn()})
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "failed"))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix}, fail_step="ModelQualityViolated")
    handler(execution_event("Failed"), None)

    [message] = notification_env.published()
    assert ("Quality gate: rmse 3.4120 (must be <= 3.5) on 990 of 1000 rows (model quality threshold)\n"
            in message["message"])


def test_batch_without_ground_truth_says_so(notification_env, stub_sagemaker):
    document = StepResult(step="ModelQualityCheck", outcome="skipped", message="no ground truth for this batch",
                          metric="rmse", threshold=3.0, comparison="<=", counts={"rows": 1000, "matched": 0}).to_json()
    prefix = put_result("ModelQualityCheck", document)
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert "Quality gate: model quality: no ground truth for this batch yet\n" in message["message"]


def test_labels_whose_batch_is_not_scored_yet_show_the_checks_reason(notification_env, stub_sagemaker):
    """The model-quality pipeline started by labels dropped before their batch scored nothing: its email says
    why, not that the labels are missing."""
    reason = ("model quality not checked: the batch s3://b/data/inference/b.csv is not scored yet: its own "
              "inference run checks these labels")
    document = StepResult(step="ModelQualityCheck", outcome="skipped", message=reason, metric="rmse", threshold=3.0,
                          comparison="<=").to_json()
    prefix = put_result("ModelQualityCheck", document)
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert f"Quality gate: skipped: {reason}\n" in message["message"]
    assert "no ground truth" not in message["message"]


def test_model_quality_skipped_on_matched_rows_shows_why(notification_env, stub_sagemaker):
    reason = "model quality not checked: the labels are all the same (3 matched)"
    document = StepResult(step="ModelQualityCheck", outcome="skipped", message=reason, metric="r2", threshold=0.5,
                          comparison=">=", counts={"rows": 1000, "matched": 3}).to_json()
    prefix = put_result("ModelQualityCheck", document)
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert (f"Quality gate: skipped: r2 not computed (must be >= 0.5) on 3 of 1000 rows: {reason} "
            "(model quality threshold)\n") in message["message"]


def test_training_success_email_shows_the_binary_confusion_matrix_and_per_class_scores(
        notification_env, stub_sagemaker, classification_summaries):
    document = gate_result("Evaluate", "passed", metric="f1", value=0.939759, threshold=0.9, comparison=">=",
                           counts={"rows": 114}, details=classification_summaries["binary"].to_details())
    prefix = put_result("Evaluate", document, pipeline=TRAINING)
    stub_deciding_step(stub_sagemaker, "Evaluate", {"result": prefix}, pipeline=TRAINING)
    handler(execution_event("Succeeded", pipeline=TRAINING), None)

    [message] = notification_env.published()
    assert ("Quality gate: passed: f1 0.9398 (must be >= 0.9) on 114 rows (registration threshold)\n"
            "  binary classification, 2 classes; confusion matrix (rows: actual, columns: predicted; decision "
            "threshold 0.5):\n"
            "    actual \\ predicted  benign  malignant\n"
            "    benign                  70          2\n"
            "    malignant                3         39\n"
            "  per class:\n"
            "    class      precision  recall      f1  support\n"
            "    benign        0.9589  0.9722  0.9655       72\n"
            "    malignant     0.9512  0.9286  0.9398       42\n"
            "  metrics: accuracy 0.9561, auc 0.9921, f1 0.9398, logloss 0.1183, precision 0.9512, recall 0.9286\n"
            ) in message["message"]


def test_model_quality_violation_email_shows_the_multiclass_confusion_matrix(
        notification_env, stub_sagemaker, classification_summaries):
    document = gate_result("ModelQualityCheck", "failed", metric="accuracy", value=0.9, threshold=0.95,
                           comparison=">=", counts={"rows": 40, "matched": 30},
                           details=classification_summaries["multiclass"].to_details())
    prefix = put_result("ModelQualityCheck", document)
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", failureReason="quality violated"), None)

    [message] = notification_env.published()
    body = message["message"]
    assert ("Quality gate: accuracy 0.9000 (must be >= 0.95) on 30 of 40 rows (model quality threshold; retraining "
            "starts)\n  multiclass classification, 3 classes; confusion matrix (rows: actual, columns: predicted):\n"
            ) in body
    assert "\n    versicolor               0           9          1\n" in body
    assert "\n    virginica      0.8889  0.8000  0.8421       10\n" in body
    assert "\n  metrics: accuracy 0.9000, f1_macro 0.8997, f1_weighted 0.8997, mlogloss 0.2548\n" in body


def test_custom_templates_get_the_classification_table_as_a_variable(
        notification_env, stub_sagemaker, monkeypatch, classification_summaries):
    set_rules(monkeypatch, rule(step="", status="Succeeded", subject="{{ metric }} {{ metric_value }}",
                                body="{{ classification }}"))
    summary = classification_summaries["binary"]
    prefix = put_result("Evaluate", gate_result("Evaluate", "passed", metric="recall", value=0.928571, threshold=0.9,
                                                comparison=">=", details=summary.to_details()), pipeline=TRAINING)
    stub_deciding_step(stub_sagemaker, "Evaluate", {"result": prefix}, pipeline=TRAINING)
    handler(execution_event("Succeeded", pipeline=TRAINING), None)

    [message] = notification_env.published()
    assert message["subject"] == "recall 0.9286"
    assert message["message"].splitlines()[1:4] == ["  actual \\ predicted  benign  malignant",
                                                    "  benign                  70          2",
                                                    "  malignant                3         39"]


def test_unreadable_classification_summary_is_stated_and_the_gate_line_still_sent(notification_env, stub_sagemaker):
    broken = {"classification": {"problem_type": "binary", "labels": ["no", "yes"], "confusion_matrix": [[1, 2]],
                                 "per_class": {}}}
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "passed", metric="f1", value=0.8,
                                                         threshold=0.5, comparison=">=", details=broken))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert ("Quality gate: passed: f1 0.8000 (must be >= 0.5) on 990 of 1000 rows (model quality threshold)\n"
            "  (classification summary not readable: confusion_matrix must be 2 x 2 for labels ['no', 'yes'])\n"
            ) in message["message"]


def test_regression_emails_carry_no_classification_table(notification_env, stub_sagemaker):
    prefix = put_result("ModelQualityCheck", gate_result("ModelQualityCheck", "passed", value=1.5))
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {"result": prefix})
    variables = template_variables(parse_event(execution_event("Succeeded")), Deployment("abalone", "test"))
    assert variables["quality_gate"].startswith("passed: rmse 1.5000")
    assert variables["classification"] == ""


def test_execution_that_ended_before_its_gate_has_no_gate_line(notification_env, stub_sagemaker):
    stub_sagemaker.add_response("describe_pipeline_execution", {"FailureReason": "Step ModelQualityCheck failed"},
                                {"PipelineExecutionArn": execution_arn()})
    stub_deciding_step(stub_sagemaker, "ModelQualityCheck", {}, listed_status="Failed", described=False)
    handler(execution_event("Failed"), None)

    [message] = notification_env.published()
    assert "Quality gate:" not in message["message"]
    stub_sagemaker.assert_no_pending_responses()  # and no DescribeProcessingJob: nothing was decided


def test_failed_execution_reads_its_failure_reason(notification_env, stub_sagemaker):
    stub_sagemaker.add_response(
        "describe_pipeline_execution",
        {"FailureReason": "Step MetricAboveThreshold failed: rmse 2.91 > 2.6"},
        {"PipelineExecutionArn": execution_arn(TRAINING)},
    )
    stub_sagemaker.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": []},
                                {"PipelineExecutionArn": execution_arn(TRAINING)})
    handler(execution_event("Failed", pipeline=TRAINING), None)

    [message] = notification_env.published()
    assert "Failure reason:\n  Step MetricAboveThreshold failed: rmse 2.91 > 2.6" in message["message"]
    assert "Quality gate:" not in message["message"]
    stub_sagemaker.assert_no_pending_responses()


VIOLATIONS = {
    "violations": [
        {
            "feature_name": "length",
            "constraint_check_type": "baseline_drift_check",
            "description": "Numerical distance: 0.2711 exceeds numerical threshold: 0.1",
        },
        {
            "feature_name": "sex",
            "constraint_check_type": "categorical_values_check",
            "description": "Value: 0.12 does not meet the constraint requirement! ",
        },
        {
            "feature_name": "length",
            "constraint_check_type": "completeness_check",
            "description": "Value: 0.9 does not meet the constraint requirement! ",
        },
    ]
}


def put_report(key: str, document) -> str:
    s3 = client("s3")
    s3.create_bucket(Bucket="abalone-test-data")
    s3.put_object(Bucket="abalone-test-data", Key=key, Body=json.dumps(document).encode())
    return f"s3://abalone-test-data/{key}"


def steps_response(step: str, metadata: dict) -> dict:
    listed = [{"StepName": "Preprocess", "Metadata": {}}, {"StepName": step, "Metadata": metadata}]
    return {"PipelineExecutionSteps": listed}


def test_data_quality_step_sends_a_drift_summary_from_its_report(notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="DataQualityCheck", status="Succeeded", subject="drift: {{ drift_summary }}"))
    uri = put_report("runs/inference/exec0001/DataQualityCheck/constraint_violations.json", VIOLATIONS)
    stub_sagemaker.add_response(
        "list_pipeline_execution_steps",
        steps_response("DataQualityCheck", {"QualityCheck": {"ViolationReport": uri}}),
        {"PipelineExecutionArn": execution_arn()},
    )
    handler(step_event("DataQualityCheck", "Succeeded", stepType="QualityCheck"), None)

    [message] = notification_env.published()
    assert message["subject"].startswith("drift: 3 violation(s) in 2 feature(s) - length: baseline_drift_check")
    body = message["message"]
    assert "Data quality: 3 violation(s) in 2 feature(s)" in body
    assert "  - length: baseline_drift_check: Numerical distance: 0.2711 exceeds numerical threshold: 0.1" in body
    assert "  - length: completeness_check" in body
    assert "  - sex: categorical_values_check" in body


def test_builtin_engine_report_is_found_through_the_processing_job_outputs(notification_env, stub_sagemaker):
    put_report("runs/exec0001/DataQualityCheck/report/constraint_violations.json", {"violations": []})
    job_arn = f"arn:aws:sagemaker:{REGION}:123456789012:processing-job/pipelines-exec0001-dataqualitycheck"
    stub_sagemaker.add_response(
        "list_pipeline_execution_steps",
        steps_response("DataQualityCheck", {"ProcessingJob": {"Arn": job_arn}}),
        {"PipelineExecutionArn": execution_arn()},
    )
    stub_sagemaker.add_response(
        "describe_processing_job",
        {
            "ProcessingJobName": "pipelines-exec0001-dataqualitycheck",
            "ProcessingJobArn": job_arn,
            "ProcessingJobStatus": "Failed",
            "CreationTime": "2026-11-21T06:00:00Z",
            "AppSpecification": {"ImageUri": "image"},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
            },
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "other",
                        "S3Output": {
                            "S3Uri": "s3://abalone-test-data/runs/x",
                            "LocalPath": "/a",
                            "S3UploadMode": "EndOfJob",
                        },
                    },
                    {
                        "OutputName": "report",
                        "S3Output": {
                            "S3Uri": "s3://abalone-test-data/runs/exec0001/DataQualityCheck/report/",
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    },
                ]
            },
        },
        {"ProcessingJobName": "pipelines-exec0001-dataqualitycheck"},
    )
    handler(step_event("DataQualityCheck", "Failed", failureReason="violations found"), None)

    [message] = notification_env.published()
    assert "Data quality: no violations against the baseline" in message["message"]


def stub_builtin_check(stubber, outputs: dict[str, str]) -> None:
    job = "pipelines-exec0001-dataqualitycheck"
    stubber.add_response("list_pipeline_execution_steps", steps_response(
        "DataQualityCheck", {"ProcessingJob": {"Arn": processing_job(job, {})["ProcessingJobArn"]}}),
        {"PipelineExecutionArn": execution_arn()})
    stubber.add_response("describe_processing_job", processing_job(job, outputs), {"ProcessingJobName": job})


def test_class_balance_drift_of_the_label_column_is_a_warning_in_the_data_quality_summary(
        notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="DataQualityCheck", status="Succeeded"))  # the default templates
    report = put_report("runs/exec0001/DataQualityCheck/report/constraint_violations.json", {"violations": []})
    sentence = ("Class balance drift on 'diagnosis': distance 0.2500 exceeds threshold 0.1 (class 'malignant': "
                "30.0% of the baseline, 55.0% of this dataset).")
    result = StepResult(step="DataQualityCheck", outcome="warning", message=f"no violation. {sentence}",
                        details={"class_balance": {"compared": True, "drifted": True, "message": sentence}})
    prefix = put_result("DataQualityCheck", result.to_json())
    stub_builtin_check(stub_sagemaker, {"report": report.rsplit("/", 1)[0], "result": prefix})
    handler(step_event("DataQualityCheck", "Succeeded"), None)

    [message] = notification_env.published()
    assert f"Data quality: no violations against the baseline\n  warning: {sentence}\n" in message["message"]


def test_class_balance_within_its_threshold_adds_nothing(notification_env, stub_sagemaker, monkeypatch):
    set_rules(monkeypatch, rule(step="DataQualityCheck", status="Succeeded"))
    report = put_report("runs/exec0001/DataQualityCheck/report/constraint_violations.json", {"violations": []})
    result = StepResult(step="DataQualityCheck", outcome="passed", message="ok",
                        details={"class_balance": {"compared": True, "drifted": False, "message": "within"}})
    prefix = put_result("DataQualityCheck", result.to_json())
    stub_builtin_check(stub_sagemaker, {"report": report.rsplit("/", 1)[0], "result": prefix})
    handler(step_event("DataQualityCheck", "Succeeded"), None)

    [message] = notification_env.published()
    assert "Data quality: no violations against the baseline\n\n" in message["message"]
    assert "class balance" not in message["message"].lower()


def test_missing_violation_report_is_stated_in_the_message(notification_env, stub_sagemaker, capsys):
    stub_sagemaker.add_response(
        "list_pipeline_execution_steps", {"PipelineExecutionSteps": []}, {"PipelineExecutionArn": execution_arn()}
    )
    handler(step_event("DataQualityCheck", "Failed", failureReason="analysis failed"), None)

    [message] = notification_env.published()
    assert "violation report unavailable (step DataQualityCheck is not listed for execution" in message["message"]
    warnings = [r for r in log_records(capsys.readouterr().out) if r["level"] == "warning"]
    assert warnings and "unavailable" in warnings[0]["message"]


# ----------------------------------------------------------------------------------------- dedup and failures


def claim_key(event: dict) -> str:
    return state_change_key(parse_event(event))


def test_redelivered_event_sends_one_message(notification_env):
    event = step_event("Train", "Failed", pipeline=TRAINING)
    first = handler(event, None)
    second = handler(event, None)

    assert (first["status"], second["status"]) == ("sent", "duplicate")
    assert len(notification_env.published()) == 1
    item = notification_env.dedup_item(claim_key(event))
    assert item["state"]["S"] == "done" and int(item["expires_at"]["N"]) > 0


@pytest.mark.parametrize("make", [lambda **kw: step_event("Train", "Failed", pipeline=TRAINING, **kw),
                                  lambda **kw: execution_event("Failed", pipeline=TRAINING, **kw)],
                         ids=["step", "execution"])
def test_two_events_of_one_state_change_send_one_message(notification_env, make):
    """SageMaker may send one state change as several events, each with its own id."""
    first = handler(make(event_id="copy-1"), None)
    second = handler(make(event_id="copy-2"), None)

    assert (first["status"], second["status"]) == ("sent", "duplicate")
    assert len(notification_env.published()) == 1
    assert notification_env.dedup_item("copy-1") is None, "claimed by state change, not by event id"


def test_the_same_status_again_after_a_retry_is_another_state_change(notification_env):
    """RetryPipelineExecution keeps the execution ARN: the retried step starts and fails again, the execution ends
    again. Each of the four changes comes twice; each is mailed once."""
    retried_step = {"stepStartTime": "2026-11-21T09:00:00Z", "stepEndTime": "2026-11-21T09:01:00Z"}
    changes = [lambda: step_event("Train", "Failed", pipeline=TRAINING),
               lambda: execution_event("Failed", pipeline=TRAINING),
               lambda: step_event("Train", "Failed", pipeline=TRAINING, **retried_step),
               lambda: execution_event("Failed", pipeline=TRAINING, executionEndTime="2026-11-21T09:01:30Z")]
    outcomes = [handler(change(), None)["status"] for change in changes for _copy in range(2)]

    assert outcomes == ["sent", "duplicate"] * 4
    assert len(notification_env.published()) == 4


@pytest.mark.parametrize(("field", "value"), [("stepName", "Evaluate"), ("currentStepStatus", "Stopped"),
                                               ("previousStepStatus", "Stopping"),
                                               ("pipelineExecutionArn", execution_arn(TRAINING, "exec0002"))])
def test_events_differing_in_what_identifies_a_state_change_have_different_keys(field, value):
    base = step_event("Train", "Failed", pipeline=TRAINING)
    other = step_event("Train", "Failed", pipeline=TRAINING)
    other["detail"][field] = value
    assert claim_key(base) != claim_key(other)
    assert claim_key(base) == claim_key(step_event("Train", "Failed", pipeline=TRAINING, event_id="another-id"))


def test_failed_send_releases_the_marker_so_the_retry_sends(notification_env, monkeypatch):
    event = step_event("Train", "Failed", pipeline=TRAINING)
    monkeypatch.setenv("SNS_TOPIC_ARN", notification_env.topic_arn + "-missing")
    with pytest.raises(Exception, match="NotFound|does not exist"):
        handler(event, None)
    assert notification_env.dedup_item(claim_key(event)) is None

    monkeypatch.setenv("SNS_TOPIC_ARN", notification_env.topic_arn)
    assert handler(event, None)["status"] == "sent"
    assert len(notification_env.published()) == 1


def test_slack_webhook_gets_the_same_text(notification_env, monkeypatch, local_server):
    client("secretsmanager").create_secret(
        Name="slack-hook", SecretString=json.dumps({"url": local_server.url + "/services/T000/B000/XXXX"})
    )
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", "slack-hook")
    handler(step_event("Train", "Failed", pipeline=TRAINING), None)

    [request] = local_server.requests
    assert request.path == "/services/T000/B000/XXXX"
    assert request.json()["text"].startswith(f"*[test] {TRAINING}: step Train failed*\nStep Train of pipeline")
    assert len(notification_env.published()) == 1


def test_slack_failure_retries_only_what_was_not_sent(notification_env, monkeypatch, local_server, capsys):
    client("secretsmanager").create_secret(Name="slack-hook", SecretString=local_server.url + "/hook/secret")
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", "slack-hook")
    local_server.answer(500, "upstream broken")
    event = step_event("Train", "Failed", pipeline=TRAINING)

    with pytest.raises(OutboundError, match=r"Slack webhook at http://127\.0\.0\.1:\d+ answered HTTP 500"):
        handler(event, None)
    assert "/hook/secret" not in capsys.readouterr().out, "the webhook path is a credential: never logged"
    assert notification_env.dedup_item(claim_key(event))["state"]["S"] == "retry"

    assert handler(event, None)["status"] == "sent"
    assert len(notification_env.published()) == 1, "SNS already delivered on the first attempt"
    assert len(local_server.requests) == 2


# ----------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("id"), "event has no 'id'"),
        (lambda e: e.update({"detail-type": "Something Else"}), "unknown detail-type 'Something Else'"),
        (lambda e: e.pop("detail"), "'detail' is missing"),
        (lambda e: e["detail"].pop("stepName"), "detail.stepName is missing"),
        (lambda e: e["detail"].update(pipelineArn="arn:aws:s3:::bucket"), "is not a SageMaker pipeline ARN"),
        (lambda e: e["detail"].update(pipelineExecutionArn="x/execution/1"), "is not an execution of"),
        (lambda e: e["detail"].update(currentStepStatus="Exploded"), "currentStepStatus 'Exploded' is not one of"),
        (lambda e: e["detail"].update(stepEndTime="yesterday"), "stepEndTime 'yesterday' is not an ISO-8601 time"),
        (lambda e: e["detail"].update(metadata=[1]), "detail.metadata must be an object"),
    ],
)
def test_malformed_events_raise_and_are_logged(notification_env, capsys, mutate, message):
    event = step_event("Train", "Failed")
    mutate(event)
    with pytest.raises(EventError, match=message):
        handler(event, None)
    [record] = log_records(capsys.readouterr().out)
    assert record["level"] == "error" and message.split("'")[0] in record["message"]
    assert notification_env.published() == []


def test_unknown_step_is_logged_and_still_notified(notification_env, capsys):
    handler(step_event("MyCustomStep", "Failed"), None)

    assert len(notification_env.published()) == 1
    records = log_records(capsys.readouterr().out)
    assert any(r["level"] == "warning" and "'MyCustomStep'" in r["message"] for r in records)
    assert all(r["event_id"] for r in records)


@pytest.mark.parametrize(
    ("rules_text", "message"),
    [
        ("{not json", "NOTIFICATION_RULES is not valid JSON"),
        ('{"pipeline": "*"}', "must be a JSON list"),
        (json.dumps([{"pipeline": "*"}]), r"NOTIFICATION_RULES\[0\]: missing step, status, mute, subject, body"),
        (json.dumps([{**rule(), "step_msg": "x"}]), r"NOTIFICATION_RULES\[0\]: unknown step_msg"),
        (json.dumps([rule(), {**rule(), "mute": "no"}]), r"NOTIFICATION_RULES\[1\]\.mute must be true or false"),
        (json.dumps([rule(subject="{{ pipline }}")]), r"NOTIFICATION_RULES\[0\]\.subject uses unknown variable"),
        (json.dumps([rule(body="{% if %}")]), r"NOTIFICATION_RULES\[0\]\.body is not a valid Jinja2 template"),
    ],
)
def test_bad_rules_are_configuration_errors_naming_the_rule(notification_env, monkeypatch, rules_text, message):
    monkeypatch.setenv("NOTIFICATION_RULES", rules_text)
    with pytest.raises(ConfigurationError, match=message):
        handler(step_event("Train", "Failed"), None)


@pytest.mark.parametrize("name", ["PROJECT", "ENVIRONMENT", "SNS_TOPIC_ARN", "DEDUP_TABLE"])
def test_missing_environment_variables_are_named(notification_env, monkeypatch, name):
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        handler(step_event("Train", "Failed"), None)


@pytest.mark.parametrize("name", ["MODEL_METRIC", "REGISTRATION_THRESHOLD", "MODEL_QUALITY_THRESHOLD"])
def test_former_metric_and_threshold_variables_are_ignored(notification_env, monkeypatch, name):
    monkeypatch.setenv(name, "three")  # was a configuration error while the function read them
    assert handler(step_event("Train", "Failed"), None)["status"] == "sent"


# ----------------------------------------------------------------------------------------- pieces


def test_long_subjects_are_cut_to_the_sns_limit(notification_env, monkeypatch):
    set_rules(monkeypatch, rule(step="Train", status="Failed", subject="é" + "x" * 150 + "\nsecond line"))
    handler(step_event("Train", "Failed"), None)

    [message] = notification_env.published()
    assert len(message["subject"]) == 100 and message["subject"].endswith("...")
    assert message["subject"].isascii() and "\n" not in message["subject"]


def test_every_template_variable_is_provided(notification_env):
    variables = template_variables(parse_event(step_event("Train", "Failed")), Deployment("abalone", "test"))
    assert set(variables) == rule_engine.TEMPLATE_VARIABLES


def test_log_lines_are_json_objects_with_level_message_and_event_id(notification_env, capsys):
    event = execution_event("Stopped")
    handler(event, None)
    records = log_records(capsys.readouterr().out)
    assert records and all({"level", "message", "event_id", "timestamp"} <= set(r) for r in records)
    assert records[-1]["outcome"] == "sent" and records[-1]["event_id"] == event["id"]


# ----------------------------------------------------------------------------------------- issue 16, item 7


def test_failed_processing_step_shows_the_jobs_exit_message(notification_env, stub_sagemaker):
    """On AWS the step's FailureReason is generic; the script's words are the processing job's ExitMessage."""
    job = "pipelines-exec0001-preprocess"
    listed = [{"StepName": "Preprocess", "StepStatus": "Failed",
               "Metadata": {"ProcessingJob": {"Arn": processing_job(job, {})["ProcessingJobArn"]}}}]
    stub_sagemaker.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": listed},
                                {"PipelineExecutionArn": execution_arn()})
    stub_sagemaker.add_response(
        "describe_processing_job",
        {**processing_job(job, {}), "ProcessingJobStatus": "Failed", "FailureReason": "AlgorithmError: see logs",
         "ExitMessage": "column 'sex' missing in row 3"},
        {"ProcessingJobName": job},
    )
    handler(step_event("Preprocess", "Failed", failureReason="ClientError: AlgorithmError: see logs"), None)

    [message] = notification_env.published()
    expected = "Failure reason:\n  ClientError: AlgorithmError: see logs\n  column 'sex' missing in row 3"
    assert expected in message["message"]
    stub_sagemaker.assert_no_pending_responses()


def test_exit_message_already_in_the_failure_reason_is_not_repeated(notification_env, stub_sagemaker):
    job = "pipelines-exec0001-preprocess"
    listed = [{"StepName": "Preprocess", "StepStatus": "Failed",
               "Metadata": {"ProcessingJob": {"Arn": processing_job(job, {})["ProcessingJobArn"]}}}]
    stub_sagemaker.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": listed},
                                {"PipelineExecutionArn": execution_arn()})
    stub_sagemaker.add_response("describe_processing_job", {**processing_job(job, {}), "ExitMessage": "bad row 3"},
                                {"ProcessingJobName": job})
    handler(step_event("Preprocess", "Failed", failureReason="ClientError: bad row 3"), None)

    [message] = notification_env.published()
    assert message["message"].count("bad row 3") == 1


# ----------------------------------------------------------------------------------------- issue 16, item 11


def test_rules_of_ten_kilobytes_are_read_from_their_s3_object(notification_env, monkeypatch):
    """Lambda allows 4 KB for all environment variables: Terraform writes the rules to S3 and passes the URI."""
    body = "".join(f"Line {line}: {{{{ pipeline }}}} {{{{ step }}}} {{{{ failure_reason }}}}\n" for line in range(20))
    entries = [rule(step=f"Step{index}", status="Failed", subject=f"rule {index}: {{{{ step }}}}", body=body)
               for index in range(10)]
    document = json.dumps(entries)
    assert len(document) > 10 * 1024
    s3 = client("s3")
    s3.create_bucket(Bucket="abalone-test-data")
    s3.put_object(Bucket="abalone-test-data", Key="pipeline-code/lambda-config/rules.json", Body=document.encode())
    monkeypatch.delenv("NOTIFICATION_RULES")
    monkeypatch.setenv("NOTIFICATION_RULES_URI", "s3://abalone-test-data/pipeline-code/lambda-config/rules.json")
    monkeypatch.setattr(rule_engine, "_fetched", {})

    handler(step_event("Step7", "Failed", failureReason="boom"), None)
    s3.delete_object(Bucket="abalone-test-data", Key="pipeline-code/lambda-config/rules.json")
    handler(step_event("Step3", "Failed", failureReason="boom", event_id="second"), None)  # cached: no read

    first, second = notification_env.published()
    assert first["subject"] == "rule 7: Step7"
    assert "Line 19: abalone-test-inference Step7 boom" in first["message"]
    assert second["subject"] == "rule 3: Step3"


def test_unreadable_rules_object_is_a_configuration_error_naming_it(notification_env, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_RULES_URI", "s3://abalone-test-missing/rules.json")
    monkeypatch.setattr(rule_engine, "_fetched", {})
    with pytest.raises(ConfigurationError, match="NOTIFICATION_RULES_URI: cannot read the notification rules"):
        handler(step_event("Preprocess", "Failed"), None)


def test_an_inference_email_says_which_model_version_and_account_scored_the_batch(notification_env, stub_sagemaker):
    from batchops_core import results

    document = StepResult(step="ResolveModel", outcome="passed", message="scoring with ...", details={
        results.MODEL_ARN_DETAIL: "arn:aws:sagemaker:us-east-1:111111111111:model-package/abalone-dev-models/3",
        results.MODEL_VERSION_DETAIL: 3, results.MODEL_GROUP_DETAIL: "abalone-dev-models",
        results.MODEL_ACCOUNT_DETAIL: "111111111111"}).to_json()
    prefix = put_result("ResolveModel", document)
    job = "pipelines-exec0001-resolvemodel"
    listed = {"PipelineExecutionSteps": [{"StepName": "ResolveModel", "StepStatus": "Succeeded", "Metadata": {
        "ProcessingJob": {"Arn": processing_job(job, {})["ProcessingJobArn"]}}}]}
    for _reader in ("gates", "published results", "scored with"):  # each reader lists the steps once
        stub_sagemaker.add_response("list_pipeline_execution_steps", listed,
                                    {"PipelineExecutionArn": execution_arn(INFERENCE)})
    stub_sagemaker.add_response("describe_processing_job", processing_job(job, {"result": prefix}),
                                {"ProcessingJobName": job})
    handler(execution_event("Succeeded"), None)

    [message] = notification_env.published()
    assert "Scored with: version 3 of abalone-dev-models (account 111111111111)\n" in message["message"]
