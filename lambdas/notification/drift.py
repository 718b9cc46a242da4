"""The data-drift summary of a `DataQualityCheck` step: find its violation report, read it, summarise it.

Where the report is:
* a QualityCheck step (Model Monitor analyzer): step metadata `QualityCheck.ViolationReport`;
* the built-in engine (a Processing step): `constraint_violations.json` under one of the processing job's
  outputs (`DescribeProcessingJob`).

Report format (Model Monitor): `{"violations": [{"feature_name", "constraint_check_type", "description"}]}`.
"""

from __future__ import annotations

import json
from collections import namedtuple

from lambdas.shared.runtime import client, error_code, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

VIOLATIONS_FILE = "constraint_violations.json"
MAX_FEATURES_LISTED = 15
MAX_DESCRIPTION_CHARS = 160


class ReportUnavailable(Exception):
    """The report could not be found or read; the message still goes out and says why."""


# text for the message; violations: one {"feature", "checks": [{"check", "description"}]} per feature.
DriftSummary = namedtuple("DriftSummary", "text violations", defaults=((),))


def drift_summary(execution_arn: str, step_name: str) -> DriftSummary:
    """Summary for the message; a missing or unreadable report gives a summary that says so (and a warning)."""
    try:
        uri = find_violation_report(execution_arn, step_name)
        document = read_s3_json(uri)
        summary = summarise_violations(document, uri)
    except ReportUnavailable as exc:
        log("warning", "data-quality violation report unavailable", reason=str(exc), step=step_name)
        return DriftSummary(text=f"violation report unavailable ({exc})")
    log("info", "data-quality violation report read", report=uri, features=len(summary.violations))
    return summary


def find_violation_report(execution_arn: str, step_name: str) -> str:
    step = _execution_step(execution_arn, step_name)
    metadata = step.get("Metadata") or {}
    report = (metadata.get("QualityCheck") or {}).get("ViolationReport")
    if report:
        return str(report)
    job_arn = (metadata.get("ProcessingJob") or {}).get("Arn")
    if not job_arn:
        raise ReportUnavailable(f"step {step_name} has neither QualityCheck.ViolationReport nor a processing job")
    return _report_in_processing_outputs(str(job_arn))


def _execution_step(execution_arn: str, step_name: str) -> dict[str, Any]:
    sagemaker = client("sagemaker")
    request: dict[str, Any] = {"PipelineExecutionArn": execution_arn}
    while True:
        try:
            page = sagemaker.list_pipeline_execution_steps(**request)
        except Exception as exc:
            raise ReportUnavailable(f"ListPipelineExecutionSteps failed: {error_code(exc) or exc}") from exc
        for step in page.get("PipelineExecutionSteps", []):
            if step.get("StepName") == step_name:
                return step
        if not page.get("NextToken"):
            raise ReportUnavailable(f"step {step_name} is not listed for execution {execution_arn}")
        request["NextToken"] = page["NextToken"]


def _report_in_processing_outputs(job_arn: str) -> str:
    job_name = job_arn.rsplit("/", 1)[-1]
    try:
        job = client("sagemaker").describe_processing_job(ProcessingJobName=job_name)
    except Exception as exc:
        raise ReportUnavailable(f"DescribeProcessingJob {job_name} failed: {error_code(exc) or exc}") from exc
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for output in outputs:
        prefix = str((output.get("S3Output") or {}).get("S3Uri", "")).rstrip("/")
        if prefix and _s3_object_exists(f"{prefix}/{VIOLATIONS_FILE}"):
            return f"{prefix}/{VIOLATIONS_FILE}"
    raise ReportUnavailable(f"no {VIOLATIONS_FILE} under the outputs of processing job {job_name}")


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ReportUnavailable(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _s3_object_exists(uri: str) -> bool:
    bucket, key = _split_s3_uri(uri)
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        # Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key.
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"):
            return False
        raise ReportUnavailable(f"cannot read {uri}: {error_code(exc) or exc}") from exc
    return True


def read_s3_json(uri: str) -> Any:
    bucket, key = _split_s3_uri(uri)
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise ReportUnavailable(f"cannot read {uri}: {error_code(exc) or exc}") from exc
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportUnavailable(f"{uri} is not valid JSON ({exc})") from None


def summarise_violations(document: Any, source: str = "the report") -> DriftSummary:
    """Group violations per feature; the text lists the features with their check types and descriptions."""
    if not isinstance(document, dict) or not isinstance(document.get("violations"), list):
        raise ReportUnavailable(f"{source} has no 'violations' list")
    per_feature: dict[str, list[dict[str, str]]] = {}
    for index, violation in enumerate(document["violations"]):
        if not isinstance(violation, dict):
            raise ReportUnavailable(f"{source}: violations[{index}] is not an object")
        feature = str(violation.get("feature_name") or "(dataset)")
        description = " ".join(str(violation.get("description", "")).split())
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[: MAX_DESCRIPTION_CHARS - 3] + "..."
        per_feature.setdefault(feature, []).append(
            {"check": str(violation.get("constraint_check_type", "unknown_check")), "description": description}
        )
    if not per_feature:
        return DriftSummary(text="no violations against the baseline")
    count = sum(len(checks) for checks in per_feature.values())
    lines = [f"{count} violation(s) in {len(per_feature)} feature(s)"]
    for feature, checks in sorted(per_feature.items())[:MAX_FEATURES_LISTED]:
        for check in checks:
            suffix = f": {check['description']}" if check["description"] else ""
            lines.append(f"- {feature}: {check['check']}{suffix}")
    if len(per_feature) > MAX_FEATURES_LISTED:
        lines.append(f"... and {len(per_feature) - MAX_FEATURES_LISTED} more feature(s)")
    violations = [{"feature": feature, "checks": checks} for feature, checks in sorted(per_feature.items())]
    return DriftSummary(text="\n".join(lines), violations=violations)
