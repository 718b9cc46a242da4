"""The variables a notification template sees, built from the event plus what a reader needs to act on it."""

from __future__ import annotations

import re
from collections import namedtuple

from lambdas.notification.drift import drift_summary
from lambdas.notification.events import PipelineEvent
from lambdas.shared.runtime import client, console_base, error_code, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

DATA_QUALITY_STEP = "DataQualityCheck"
HIGHER_IS_BETTER = frozenset({"r2"})


# threshold_attribute: which Deployment threshold applies; label: how the message names the gate.
QualityGate = namedtuple("QualityGate", "threshold_attribute label")


# Steps whose failure means a quality gate said no (their failure reason carries metric and value).
QUALITY_GATES = {
    "ModelQualityCheck": QualityGate("model_quality_threshold", "model quality threshold; retraining starts"),
    "MetricAboveThreshold": QualityGate("registration_threshold", "registration threshold; no model registered"),
}


# What the function knows about its stack (from its environment).
Deployment = namedtuple(
    "Deployment",
    "project environment metric registration_threshold model_quality_threshold",
    defaults=("", "", ""),
)


def template_variables(event: PipelineEvent, deployment: Deployment) -> dict[str, Any]:
    failure_reason = event.failure_reason
    if event.kind == "execution" and event.status == "Failed" and not failure_reason:
        failure_reason = _execution_failure_reason(event.execution_arn)
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
        "metric": deployment.metric,
        "metric_value": "",
        "threshold": "",
        "registration_threshold": deployment.registration_threshold,
        "model_quality_threshold": deployment.model_quality_threshold,
        "quality_gate": "",
        "drift_summary": "",
        "drift_violations": [],
    }
    gate = QUALITY_GATES.get(event.step) if event.kind == "step" and event.status == "Failed" else None
    if gate is not None:
        threshold = getattr(deployment, gate.threshold_attribute)
        value = metric_value_in(failure_reason, deployment.metric)
        variables.update(threshold=threshold, metric_value=value, quality_gate=_gate_text(deployment, gate, value))
    if event.kind == "step" and event.step == DATA_QUALITY_STEP and event.status in ("Succeeded", "Failed"):
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


def metric_value_in(text: str, metric: str) -> str:
    """The number written right after the metric's name in a failure reason (e.g. 'rmse 3.41'), or ''."""
    if not text or not metric:
        return ""
    number = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    found = re.search(rf"\b{re.escape(metric)}\b[^0-9+\-]{{0,12}}{number}", text, flags=re.IGNORECASE)
    return found.group(1) if found else ""


def _gate_text(deployment: Deployment, gate: QualityGate, value: str) -> str:
    metric = deployment.metric or "the metric"
    threshold = getattr(deployment, gate.threshold_attribute)
    comparison = ">=" if deployment.metric in HIGHER_IS_BETTER else "<="
    rule = f"{comparison} {threshold}" if threshold else "within its threshold"
    observed = f"{metric} = {value}, " if value else ""
    return f"{observed}{metric} must be {rule} ({gate.label})"


def _format_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment else ""


def _execution_failure_reason(execution_arn: str) -> str:
    try:
        described = client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    except Exception as exc:
        log("warning", "could not read the execution's failure reason", error=error_code(exc) or repr(exc))
        return f"(not available: DescribePipelineExecution failed with {error_code(exc) or type(exc).__name__})"
    return str(described.get("FailureReason") or "")
