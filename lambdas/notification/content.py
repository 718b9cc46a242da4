"""The variables a notification template sees, built from the event plus what a reader needs to act on it."""

from __future__ import annotations

from collections import namedtuple

from batchops_core import contracts
from lambdas.notification import gates, published
from lambdas.notification.drift import drift_summary
from lambdas.notification.events import FAILED, SUCCEEDED, PipelineEvent
from lambdas.shared.runtime import client, console_base, error_code, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

DRIFT_STATUSES = (SUCCEEDED, FAILED)
PROCESSING = "Processing"
GATE_EXECUTION_STATUSES = (SUCCEEDED, FAILED)  # final executions whose email shows their gate's result


# What the function knows about its stack (from its environment). Metric and thresholds are not here: messages
# show those the run used, from the deciding step's result.
# retraining: what a model-quality violation leads to here (contracts.retraining: here, or a consumer's registry).
Deployment = namedtuple("Deployment", "project environment retraining", defaults=(contracts.retraining(),))


def template_variables(event: PipelineEvent, deployment: Deployment) -> dict[str, Any]:
    failure_reason = event.failure_reason
    if event.kind == "execution" and event.status == FAILED and not failure_reason:
        failure_reason = _execution_failure_reason(event.execution_arn)
    # Gate Fail steps and the data-quality check are explained by their structured results below.
    if (event.kind == "step" and event.status == FAILED and event.step_type == PROCESSING
            and event.step not in gates.GATE_BY_FAIL_STEP and event.step != contracts.Step.DATA_QUALITY_CHECK):
        failure_reason = _with_exit_message(event, failure_reason)
    variables: dict[str, Any] = {
        "environment": deployment.environment,
        "project": deployment.project,
        "region": event.region,
        "event_id": event.event_id,
        "event_kind": event.kind,
        "pipeline": event.pipeline,
        "execution_id": event.execution_id,
        "execution_arn": event.execution_arn,
        "execution_display_name": event.display_name,
        "step": event.step,
        "step_type": event.step_type,
        "status": event.status,
        "previous_status": event.previous_status,
        "start_time": _format_time(event.start_time),
        "end_time": _format_time(event.end_time),
        "duration": format_duration(event.duration_seconds),
        "failure_reason": failure_reason,
        "console_link": console_link(event),
        "retraining": deployment.retraining,
        **gates.empty_variables(),
        **dict.fromkeys(published.VARIABLES, ""),
        "drift_summary": "",
        "drift_violations": [],
    }
    if event.kind == "step" and event.status == FAILED and event.step in gates.GATE_BY_FAIL_STEP:
        variables.update(gates.variables_for_fail_step(event.execution_arn, event.step, deployment.retraining))
    elif event.kind == "execution" and event.status in GATE_EXECUTION_STATUSES:
        variables.update(gates.variables_for_execution(event.execution_arn))
        variables.update(published.variables_for_execution(event.execution_arn))
    if event.kind == "step" and event.step == contracts.Step.DATA_QUALITY_CHECK and event.status in DRIFT_STATUSES:
        summary = drift_summary(event.execution_arn, event.step)
        variables.update(drift_summary=summary.text, drift_violations=summary.violations)
    return variables


def console_link(event: PipelineEvent) -> str:
    return f"{console_base(event.region)}#/pipelines/{event.pipeline}/executions/{event.execution_id}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _format_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment else ""


def _execution_failure_reason(execution_arn: str) -> str:
    try:
        described = client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    except Exception as exc:
        log("warning", "could not read the execution's failure reason", error=error_code(exc) or repr(exc))
        return f"(not available: DescribePipelineExecution failed with {error_code(exc) or type(exc).__name__})"
    return str(described.get("FailureReason") or "")


def _with_exit_message(event: PipelineEvent, failure_reason: str) -> str:
    """A failed processing step's FailureReason is generic on AWS; the script's own words (/opt/ml/output/message)
    are the job's ExitMessage (DescribeProcessingJob), added unless the reason already carries them."""
    from lambdas.notification import step_outputs

    try:
        job_arn = step_outputs.processing_job_arn(step_outputs.execution_step(event.execution_arn, event.step))
        exit_message = step_outputs.processing_job_exit_message(job_arn)
    except step_outputs.OutputUnavailable as exc:
        log("warning", "could not read the failed step's exit message", reason=str(exc))
        return failure_reason
    if not exit_message or exit_message in failure_reason:
        return failure_reason
    return f"{failure_reason}\n{exit_message}" if failure_reason else exit_message
