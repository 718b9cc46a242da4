"""The data-drift summary of a `DataQualityCheck` step: find its violation report, read it, summarise it.

Where the report is:
* a QualityCheck step (Model Monitor analyzer): step metadata `QualityCheck.ViolationReport`;
* the built-in engine (a Processing step): `constraint_violations.json` under one of the processing job's
  outputs (`DescribeProcessingJob`).

Report format (Model Monitor): `{"violations": [{"feature_name", "constraint_check_type", "description"}]}`.

The built-in engine also writes the check's result.json (output `result`); when it reports class balance drift of
the label column (a warning, not a violation: details.class_balance), the summary ends with its sentence.
"""

from __future__ import annotations

from collections import namedtuple

from batchops_core.contracts import CLASS_BALANCE_DETAIL, STEP_RESULT_OUTPUT, OutputFile
from lambdas.notification import step_outputs
from lambdas.notification.step_outputs import OutputUnavailable as ReportUnavailable
from lambdas.shared.runtime import log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

VIOLATIONS_FILE = OutputFile.CONSTRAINT_VIOLATIONS
MAX_FEATURES_LISTED = 15
MAX_DESCRIPTION_CHARS = 160


# text for the message; violations: one {"feature", "checks": [{"check", "description"}]} per feature.
DriftSummary = namedtuple("DriftSummary", "text violations", defaults=((),))


def drift_summary(execution_arn: str, step_name: str) -> DriftSummary:
    """Summary for the message; a missing or unreadable report gives a summary that says so (and a warning)."""
    outputs: dict[str, str] = {}
    try:
        step = step_outputs.execution_step(execution_arn, step_name)
        uri, outputs = find_violation_report(step)
        document = step_outputs.read_s3_json(uri)
        summary = summarise_violations(document, uri)
    except ReportUnavailable as exc:
        log("warning", "data-quality violation report unavailable", reason=str(exc), step=step_name)
        summary = DriftSummary(text=f"violation report unavailable ({exc})")
    else:
        log("info", "data-quality violation report read", report=uri, features=len(summary.violations))
    balance = class_balance_warning(outputs)
    return summary._replace(text=f"{summary.text}\n{balance}") if balance else summary


def find_violation_report(step: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(URI of the step's violation report, its processing job's outputs: {} for a QualityCheck step)."""
    report = ((step.get("Metadata") or {}).get("QualityCheck") or {}).get("ViolationReport")
    if report:
        return str(report), {}
    try:
        job_arn = step_outputs.processing_job_arn(step)
    except ReportUnavailable:
        raise ReportUnavailable(
            f"step {step.get('StepName')} has neither QualityCheck.ViolationReport nor a processing job"
        ) from None
    outputs = step_outputs.processing_outputs(job_arn)
    for prefix in outputs.values():
        if step_outputs.s3_object_exists(f"{prefix}/{VIOLATIONS_FILE}"):
            return f"{prefix}/{VIOLATIONS_FILE}", outputs
    raise ReportUnavailable(f"no {VIOLATIONS_FILE} under the outputs of processing job {job_arn.rsplit('/', 1)[-1]}")


def class_balance_warning(outputs: dict[str, str]) -> str:
    """The class balance drift sentence of the built-in engine's result.json, "" when there is none (no result
    output, no label column, no drift); an unreadable result is stated."""
    if STEP_RESULT_OUTPUT not in outputs:
        return ""
    from batchops_core import results  # imported on use: dataclasses costs a cold start ~15 ms

    uri = f"{outputs[STEP_RESULT_OUTPUT]}/{OutputFile.STEP_RESULT}"
    try:
        result = results.parse(step_outputs.read_s3_text(uri), where=uri)
    except (ReportUnavailable, results.ResultError) as exc:
        log("warning", "data-quality result unavailable", reason=str(exc))
        return f"class balance: not available ({exc})"
    balance = result.details.get(CLASS_BALANCE_DETAIL)
    if isinstance(balance, dict) and balance.get("drifted"):
        return f"warning: {balance.get('message') or 'class balance drift'}"
    return ""


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
