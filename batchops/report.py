"""A self-contained HTML report of what happened in one environment (inline CSS and SVG, no external assets).

Sections: executions on a timeline with their steps, quality gate outcomes per execution, metrics per model
version, data drift per feature (baseline vs batch distributions from the DataQualityCheck statistics, and the
violations the check reported), and the emails that were sent.

`collect(target, home)` reads everything through the public AWS APIs (and the local outbox);
`render(data)` is a pure function of the collected data, so it is tested without any AWS.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from batchops import operations as ops
from batchops.aws_session import AwsTarget
from batchops.errors import UserError
from batchops_core import contracts, gate_text, metrics, results
from batchops_core.contracts import Step
from batchops_core.s3uri import join_s3_uri, split_s3_uri

STATUS_COLOURS = {"Succeeded": "#2e7d32", "Failed": "#c62828", "Executing": "#f9a825", "Starting": "#f9a825",
                  "Stopped": "#6a1b9a", "Approved": "#2e7d32", "Rejected": "#c62828",
                  "PendingManualApproval": "#f9a825", "pass": "#2e7d32", "fail": "#c62828", "warn": "#ef6c00",
                  "skipped": "#757575"}
BASELINE_COLOUR, BATCH_COLOUR = "#1565c0", "#ef6c00"


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Gate:
    name: str
    outcome: str  # pass | fail | warn | skipped | waiting
    detail: str
    numbers: str = ""  # 'rmse 2.1000 <= 3.0, 40/40 rows' for a metric gate: what a one-line listing shows
    classification: results.ClassificationSummary | None = None  # a classification gate's confusion matrix etc.


@dataclass(frozen=True)
class ExecutionView:
    execution: ops.Execution
    steps: list[ops.Step]
    gates: list[Gate]
    scored_with: str = ""  # an inference run's model version and its account (results.model_used_text)


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str  # numeric | categorical
    baseline: list[tuple[str, float]]  # (bucket label, share) for categorical; numeric uses edges below
    batch: list[tuple[str, float]]
    baseline_edges: list[tuple[float, float, float]] = field(default_factory=list)  # (lower, upper, share)
    batch_edges: list[tuple[float, float, float]] = field(default_factory=list)
    distance: float = 0.0
    violations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DriftView:
    execution_id: str
    pipeline: str
    features: list[FeatureDrift]
    threshold: float


@dataclass(frozen=True)
class ReportData:
    environment: str
    generated_at: datetime
    metric: str
    registration_threshold: float
    model_quality_threshold: float
    executions: list[ExecutionView]
    models: list[ops.ModelVersion]
    drift: list[DriftView]
    emails: list[dict[str, Any]]


def collect(target: AwsTarget, home: Path) -> ReportData:
    settings = target.settings
    executions = []
    drift = []
    for execution in sorted(ops.list_executions(target), key=lambda e: e.start.timestamp() if e.start else 0):
        steps = ops.execution_steps(target, execution.arn)
        executions.append(ExecutionView(execution, steps, gates(target, execution, steps),
                                        scored_with(target, execution, steps)))
        check = next((s for s in steps if s.name == Step.DATA_QUALITY_CHECK and s.status in ("Succeeded", "Failed")),
                     None)
        if check:
            features = _drift_features(target, execution, check)
            if features:
                drift.append(DriftView(execution.execution_id, execution.pipeline, features,
                                       settings.data_quality.comparison_threshold))
    return ReportData(
        environment=settings.environment,
        generated_at=datetime.now(UTC),
        metric=settings.model.metric,
        registration_threshold=settings.model.registration_threshold,
        model_quality_threshold=settings.model.model_quality_threshold,
        executions=executions,
        models=_models(target),
        drift=drift,
        emails=_emails(home),
    )


def _models(target: AwsTarget) -> list[ops.ModelVersion]:
    try:
        return ops.model_versions(target)
    except ops.OperationError:  # no model package group yet (infrastructure not applied): nothing registered
        return []


def _emails(home: Path) -> list[dict[str, Any]]:
    try:
        from batchops_local.emulator import read_outbox
    except ImportError:
        return []
    return read_outbox(home)


GATE_BADGES = {results.PASSED: "pass", results.FAILED: "fail", results.WARNING: "warn", results.SKIPPED: "skipped"}
WAITING = "waiting"  # the gate outcome of a batch scored without labels (their later drop starts the check)
WAITING_STATUS = f"model quality: {contracts.MODEL_QUALITY_WAITING}"


def shown_status(execution: ops.Execution, gates: list[Gate]) -> str:
    """The execution's status, except that a succeeded run still waiting for ground truth says so."""
    if execution.status == "Succeeded" and any(gate.outcome == WAITING for gate in gates):
        return WAITING_STATUS
    return execution.status


def published_results(target: AwsTarget, execution: ops.Execution, steps: list[ops.Step]) -> str | None:
    """The s3:// URI where the execution published its batch's predictions (PublishPredictions' result), or None
    when it published nothing."""
    if not any(step.name == Step.PUBLISH_PREDICTIONS and step.status == "Succeeded" for step in steps):
        return None
    result = step_result(target, execution, Step.PUBLISH_PREDICTIONS)
    location = result.details.get(contracts.RESULTS_LOCATION_DETAIL) if result is not None else None
    return str(location) if location else None


def scored_with(target: AwsTarget, execution: ops.Execution, steps: list[ops.Step]) -> str:
    """'version 3 of abalone-dev-models (account 111111111111)': the model version the run's ResolveModel chose;
    "" for a run without that step (or before it succeeded)."""
    if not any(step.name == Step.RESOLVE_MODEL and step.status == "Succeeded" for step in steps):
        return ""
    result, problem = _read_result(target, execution, Step.RESOLVE_MODEL)
    return results.model_used_text(result) if result is not None else problem


def step_result(target: AwsTarget, execution: ops.Execution, step: str) -> results.StepResult | None:
    """The structured result a deciding step wrote (`<outputs>/<pipeline>/<execution>/<step>/result/result.json`,
    the execution-scoped output layout), or None when it wrote none.

    A result that cannot be read or does not follow the schema raises OperationError naming its URI."""
    settings = target.settings
    uri = join_s3_uri(settings.bucket, settings.prefixes.outputs, execution.pipeline, execution.execution_id, step,
                      contracts.STEP_RESULT_OUTPUT, contracts.OutputFile.STEP_RESULT)
    bucket, key = split_s3_uri(uri)
    try:
        body = target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return None
        raise ops.OperationError(f"{uri}: cannot be read ({code or exc})") from None
    try:
        return results.parse(body.decode("utf-8"), where=uri)
    except UnicodeDecodeError as exc:
        raise ops.OperationError(f"{uri}: not UTF-8 text ({exc})") from None
    except results.ResultError as exc:
        raise ops.OperationError(str(exc)) from None


def model_evaluation(target: AwsTarget, version: ops.ModelVersion
                     ) -> tuple[results.StepResult | None, results.ClassificationSummary | None, str]:
    """(Evaluate result, its classification summary or None, "") of the training execution that registered
    `version` (its MetadataProperties.GeneratedBy), or (None, None, why they cannot be had)."""
    if not version.generated_by:
        return None, None, "(evaluation not available: the version names no training execution)"
    try:
        execution = ops.describe_execution(target, version.generated_by)
    except ClientError as exc:
        return None, None, (f"(evaluation not available: execution {version.generated_by}: "
                            f"{exc.response.get('Error', {}).get('Message') or exc})")
    result, problem = _read_result(target, execution, Step.EVALUATE)
    if result is None:
        return None, None, problem
    summary, unreadable = classification(result)
    return result, summary, unreadable.strip()


def result_text(result: results.StepResult) -> str:
    """'rmse 3.4120, must be <= 3.0' (value formatted by the metric registry); the message when there is no value."""
    if not result.metric or result.value is None:
        return result.message
    value, comparison = _value_and_comparison(result)
    rule = f", must be {comparison} {result.threshold:g}" if result.threshold is not None else ""
    return f"{result.metric} {value}{rule}"


def _value_and_comparison(result: results.StepResult) -> tuple[str, str]:
    """The value as the metric registry formats it and the passing comparison ('<=' or '>=')."""
    try:
        comparison = result.comparison or metrics.get(result.metric).comparison
    except metrics.MetricError:  # a metric this version does not know
        comparison = "?"
    return gate_text.metric_value(result.metric, result.value), comparison


def _read_result(target: AwsTarget, execution: ops.Execution, step: str) -> tuple[results.StepResult | None, str]:
    """(result, "") or (None, why there is none), for a gate line that states the problem instead of failing."""
    try:
        result = step_result(target, execution, step)
    except ops.OperationError as exc:
        return None, f"(result not available: {exc})"
    return result, "" if result else f"(result not available: {step} wrote no {contracts.OutputFile.STEP_RESULT})"


def gates(target: AwsTarget, execution: ops.Execution, steps: list[ops.Step]) -> list[Gate]:
    """The quality gates this execution passed through (registration, data quality, model quality), as the report,
    `runs show` and `runs list` show them."""
    by_name = {s.name: s for s in steps}
    return [gate for gate in (_registration_gate(target, execution, by_name),
                              _data_quality_gate(target, execution, by_name),
                              _model_quality_gate(target, execution, by_name)) if gate]


def _registration_gate(target: AwsTarget, execution: ops.Execution, by_name: dict[str, ops.Step]) -> Gate | None:
    if Step.CHECK_METRIC not in by_name:
        return None
    result, problem = _read_result(target, execution, Step.EVALUATE)
    shown = result_text(result) if result else problem
    numbers = result_numbers(result) if result else ""
    summary, unreadable = classification(result) if result else (None, "")
    shown += unreadable
    register = by_name.get(Step.REGISTER_MODEL)
    if register is not None:
        if register.status == "Succeeded":
            return Gate("registration", "pass", f"{shown}: registered for approval", numbers, summary)
        return Gate("registration", "fail", f"{shown}: registration step {register.status}", numbers, summary)
    if Step.METRIC_ABOVE_THRESHOLD in by_name:
        return Gate("registration", "fail", f"{shown}: not registered", numbers, summary)
    return Gate("registration", GATE_BADGES.get(result.outcome, "skipped") if result else "skipped", shown, numbers,
                summary)


def _data_quality_gate(target: AwsTarget, execution: ops.Execution, by_name: dict[str, ops.Step]) -> Gate | None:
    step = by_name.get(Step.DATA_QUALITY_CHECK)
    if step is None:
        return None
    if step.status == "Failed":
        return Gate("data quality", "fail", step.failure_reason or "check failed")
    result, _ = _read_result(target, execution, Step.DATA_QUALITY_CHECK)
    if result is not None:  # the built-in engine writes a structured result; the Model Monitor analyzer does not
        return Gate("data quality", GATE_BADGES[result.outcome], result.message)
    violations = ops.data_quality_violations(target, execution, step)
    if violations:
        features = sorted({v.get("feature_name", "?") for v in violations})
        return Gate("data quality", "warn", f"{len(violations)} violation(s) on {', '.join(features)}")
    if step.status == "Succeeded":
        return Gate("data quality", "pass", "no violations against the model's baseline")
    return None


def _model_quality_gate(target: AwsTarget, execution: ops.Execution, by_name: dict[str, ops.Step]) -> Gate | None:
    step = by_name.get(Step.MODEL_QUALITY_CHECK)
    if step is None or step.status not in ("Succeeded", "Failed"):
        return None
    if step.status == "Failed":  # the check itself broke (a violation is a Succeeded check with outcome failed)
        return Gate("model quality", "fail", f"{Step.MODEL_QUALITY_CHECK} failed: {step.failure_reason or '?'}")
    result, problem = _read_result(target, execution, Step.MODEL_QUALITY_CHECK)
    if result is None:
        return Gate("model quality", "skipped", problem)
    summary, unreadable = classification(result)
    detail = result_text(result) + _matched_rows(result) + unreadable
    if result.outcome == results.FAILED:
        retraining = f" ({target.settings.retraining})" if Step.MODEL_QUALITY_VIOLATED in by_name else ""
        detail = f"{detail}: violated{retraining}"
    elif result.outcome == results.SKIPPED:
        if result.details.get(contracts.MODEL_QUALITY_WAITING_DETAIL):
            return Gate("model quality", WAITING, result.message)
        detail = result.message
    return Gate("model quality", GATE_BADGES[result.outcome], detail, result_numbers(result), summary)


def classification(result: results.StepResult) -> tuple[results.ClassificationSummary | None, str]:
    """(the classification summary of a gate's result or None, "") or (None, why it cannot be read)."""
    try:
        return results.classification_summary(result), ""
    except results.ResultError as exc:
        return None, f" (classification summary not readable: {exc})"


def result_numbers(result: results.StepResult) -> str:
    """'rmse 2.1000 <= 3.0, 40/40 rows': the metric, the run's threshold and the matched rows, for one line."""
    if not result.metric or result.value is None:
        return ""
    value, comparison = _value_and_comparison(result)
    text = f"{result.metric} {value}"
    if result.threshold is not None:
        text += f" {comparison} {result.threshold:g}"
    matched, rows = result.counts.get("matched"), result.counts.get("rows")
    if matched is not None:
        text += f", {matched}/{rows} rows" if rows is not None else f", {matched} rows"
    return text


def _matched_rows(result: results.StepResult) -> str:
    """', 990 of 1000 rows matched' from the model-quality counts (empty when the step wrote none)."""
    matched, rows = result.counts.get("matched"), result.counts.get("rows")
    if matched is None:
        return ""
    return f", {matched} of {rows} rows matched" if rows is not None else f", {matched} rows matched"


def _drift_features(target: AwsTarget, execution: ops.Execution, step: ops.Step) -> list[FeatureDrift]:
    quality = step.metadata.get("QualityCheck") or {}
    try:
        batch_uri = quality.get("CalculatedBaselineStatistics")
        batch = ops.read_s3_json(target, batch_uri) if batch_uri else ops.step_output_json(
            target, execution, step.name, contracts.OutputFile.STATISTICS)
        baseline_uri = quality.get("BaselineUsedForDriftCheckStatistics")
        if not baseline_uri:
            model = ops.step_output_json(target, execution, Step.RESOLVE_MODEL, "model.json") or {}
            baseline_uri = model.get("BaselineStatistics")
        baseline = ops.read_s3_json(target, baseline_uri) if baseline_uri else None
    except ops.OperationError:
        return []
    if not batch or not baseline:
        return []
    result, _ = _read_result(target, execution, Step.DATA_QUALITY_CHECK)  # the built-in engine's, if any
    balance = result.details.get(contracts.CLASS_BALANCE_DETAIL) if result else None
    return compare_statistics(baseline, batch, ops.data_quality_violations(target, execution, step),
                              balance if isinstance(balance, dict) else None)


# ------------------------------------------------------------------------------------------------ drift maths


def compare_statistics(baseline: dict[str, Any], batch: dict[str, Any], violations: list[dict[str, Any]],
                       class_balance: dict[str, Any] | None = None) -> list[FeatureDrift]:
    """Per feature: both distributions as shares, and the L-infinity distance between their CDFs; then the label
    column's class shares when both statistics count classes (`class_balance`: the check's verdict on them)."""
    batch_features = {f["name"]: f for f in batch.get("features", [])}
    notes: dict[str, list[str]] = {}
    for violation in violations:
        notes.setdefault(violation.get("feature_name", "?"), []).append(
            f"{violation.get('constraint_check_type', '?')}: {violation.get('description', '')}".strip())
    result = []
    for feature in baseline.get("features", []):
        name = feature["name"]
        other = batch_features.get(name)
        if other is None:
            result.append(FeatureDrift(name, "missing", [], [], violations=notes.get(name, ["missing in batch"])))
            continue
        if "numerical_statistics" in feature and "numerical_statistics" in other:
            base_buckets = _kll_buckets(feature)
            batch_buckets = _kll_buckets(other)
            result.append(FeatureDrift(name, "numeric", [], [], base_buckets, batch_buckets,
                                       _numeric_distance(base_buckets, batch_buckets), notes.get(name, [])))
        else:
            base_shares = _category_shares(feature)
            batch_shares = _category_shares(other)
            values = sorted(set(base_shares) | set(batch_shares))
            distance = max((abs(base_shares.get(v, 0) - batch_shares.get(v, 0)) for v in values), default=0.0)
            result.append(FeatureDrift(name, "categorical", [(v, base_shares.get(v, 0.0)) for v in values],
                                       [(v, batch_shares.get(v, 0.0)) for v in values], distance=distance,
                                       violations=notes.get(name, [])))
    label = _label_drift(baseline, batch, class_balance)
    return result + ([label] if label else [])


def _label_drift(baseline: dict[str, Any], batch: dict[str, Any],
                 class_balance: dict[str, Any] | None) -> FeatureDrift | None:
    """The label column's class shares in both statistics (data_quality.py's label_distribution section)."""
    sections = [statistics.get(contracts.LABEL_DISTRIBUTION) or {} for statistics in (baseline, batch)]
    if not all("classes" in section for section in sections):
        return None
    base_shares, batch_shares = (_shares({str(b["value"]): float(b["count"]) for b in section["classes"]})
                                 for section in sections)
    values = sorted(set(base_shares) | set(batch_shares))
    distance = max((abs(base_shares.get(v, 0.0) - batch_shares.get(v, 0.0)) for v in values), default=0.0)
    drifted = bool(class_balance and class_balance.get("drifted"))
    return FeatureDrift(f"{sections[1].get('name', 'label')} (label)", "categorical",
                        [(v, base_shares.get(v, 0.0)) for v in values], [(v, batch_shares.get(v, 0.0)) for v in values],
                        distance=distance, violations=[str(class_balance.get("message", ""))] if drifted else [])


def _shares(counts: dict[str, float]) -> dict[str, float]:
    total = sum(counts.values()) or 1.0
    return {value: count / total for value, count in counts.items()}


def _kll_buckets(feature: dict[str, Any]) -> list[tuple[float, float, float]]:
    buckets = (((feature.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {}).get(
        "buckets") or []
    total = sum(float(b.get("count", 0)) for b in buckets) or 1.0
    return [(float(b["lower_bound"]), float(b["upper_bound"]), float(b.get("count", 0)) / total) for b in buckets]


def _category_shares(feature: dict[str, Any]) -> dict[str, float]:
    buckets = (((feature.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {}).get(
        "buckets") or []
    return _shares({str(b["value"]): float(b.get("count", 0)) for b in buckets})


def _cdf(buckets: list[tuple[float, float, float]], x: float) -> float:
    """CDF at x, mass spread evenly inside each bucket."""
    total = 0.0
    for lower, upper, share in buckets:
        if x >= upper:
            total += share
        elif x > lower:
            total += share * (x - lower) / (upper - lower)
    return total


def _numeric_distance(a: list[tuple[float, float, float]], b: list[tuple[float, float, float]]) -> float:
    points = sorted({edge for lower, upper, _ in a + b for edge in (lower, upper)})
    return max((abs(_cdf(a, x) - _cdf(b, x)) for x in points), default=0.0)


# ------------------------------------------------------------------------------------------------ SVG


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_e(label)}">{body}</svg>')


def timeline_svg(executions: list[ExecutionView]) -> str:
    timed = [v for v in executions if v.execution.start]
    if not timed:
        return "<p>No executions yet.</p>"
    start = min(v.execution.start for v in timed)
    end = max([v.execution.end or v.execution.start for v in timed]
              + [s.end or s.start for v in timed for s in v.steps if s.start])
    span = max((end - start).total_seconds(), 1.0)
    left, width, row = 250, 620, 30
    height = row * len(timed) + 40

    def x(moment: datetime) -> float:
        return left + width * (moment - start).total_seconds() / span

    parts = []
    for index, view in enumerate(timed):
        y = 10 + index * row
        execution = view.execution
        label = f"{execution.pipeline} {execution.execution_id[:8]}"
        parts.append(f'<text x="4" y="{y + 17}" font-size="12">{_e(label)}</text>')
        stop = execution.end or max((s.end or s.start for s in view.steps if s.start), default=execution.start)
        bar_width = max(x(stop) - x(execution.start), 2)
        parts.append(f'<rect x="{x(execution.start):.1f}" y="{y + 4}" width="{bar_width:.1f}"'
                     f' height="20" fill="{STATUS_COLOURS.get(execution.status, "#999")}" opacity="0.25">'
                     f'<title>{_e(execution.status)} {_e(execution.failure_reason or "")}</title></rect>')
        for step in view.steps:
            if not step.start:
                continue
            step_end = step.end or stop
            step_width = max(x(step_end) - x(step.start), 2)
            parts.append(f'<rect x="{x(step.start):.1f}" y="{y + 8}" width="{step_width:.1f}"'
                         f' height="12" fill="{STATUS_COLOURS.get(step.status, "#999")}" stroke="#fff" '
                         f'stroke-width="0.5"><title>{_e(step.name)}: {_e(step.status)} '
                         f'({(step.duration_seconds or 0):.1f} s)</title></rect>')
    axis_y = 10 + len(timed) * row
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}" stroke="#444"/>')
    for tick in range(5):
        seconds = span * tick / 4
        parts.append(f'<text x="{left + width * tick / 4:.1f}" y="{axis_y + 15}" font-size="11" '
                     f'text-anchor="middle">+{seconds:.0f} s</text>')
    return _svg(left + width + 30, height, "".join(parts), "executions timeline")


def bar_chart_svg(bars: list[tuple[str, float, str]], *, threshold: float | None, label: str,
                  threshold_label: str = "threshold") -> str:
    """Vertical bars (label, value, colour) with an optional dashed threshold line."""
    if not bars:
        return "<p>Nothing to show.</p>"
    top = max([v for _, v, _ in bars] + ([threshold] if threshold is not None else [])) * 1.15 or 1.0
    bar_width, gap, plot_height, base = 46, 18, 160, 190
    width = 60 + len(bars) * (bar_width + gap)
    parts = []
    for index, (name, value, colour) in enumerate(bars):
        x = 50 + index * (bar_width + gap)
        h = plot_height * value / top
        parts.append(f'<rect x="{x}" y="{base - h:.1f}" width="{bar_width}" height="{h:.1f}" fill="{colour}">'
                     f'<title>{_e(name)}: {value:.4f}</title></rect>')
        parts.append(f'<text x="{x + bar_width / 2}" y="{base - h - 4:.1f}" font-size="11" text-anchor="middle">'
                     f'{value:.3f}</text>')
        parts.append(f'<text x="{x + bar_width / 2}" y="{base + 14}" font-size="11" text-anchor="middle">'
                     f'{_e(name)}</text>')
    if threshold is not None:
        y = base - plot_height * threshold / top
        parts.append(f'<line x1="40" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#c62828" '
                     f'stroke-dasharray="5,4"/><text x="{width - 10}" y="{y - 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#c62828">{_e(threshold_label)} {threshold:g}</text>')
    parts.append(f'<line x1="40" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#444"/>')
    return _svg(width, base + 24, "".join(parts), label)


def distribution_svg(feature: FeatureDrift) -> str:
    """Baseline vs batch: histogram outlines for numeric features, paired bars for categorical ones."""
    width, height, base, plot = 300, 130, 110, 90
    parts = []
    if feature.kind == "numeric":
        edges = feature.baseline_edges + feature.batch_edges
        if not edges:
            return ""
        low, high = min(e[0] for e in edges), max(e[1] for e in edges)
        span = (high - low) or 1.0
        peak = max(share / max(upper - lower, 1e-12) for lower, upper, share in edges) or 1.0
        for buckets, colour in ((feature.baseline_edges, BASELINE_COLOUR), (feature.batch_edges, BATCH_COLOUR)):
            for lower, upper, share in buckets:
                density = share / max(upper - lower, 1e-12)
                x0 = 10 + (width - 20) * (lower - low) / span
                w = max((width - 20) * (upper - lower) / span, 1)
                h = plot * density / peak
                parts.append(f'<rect x="{x0:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                             f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>')
        parts.append(f'<text x="10" y="{base + 14}" font-size="10">{low:.3g}</text>'
                     f'<text x="{width - 10}" y="{base + 14}" font-size="10" text-anchor="end">{high:.3g}</text>')
    else:
        values = feature.baseline
        if not values:
            return ""
        slot = (width - 20) / max(len(values), 1)
        peak = max([s for _, s in feature.baseline] + [s for _, s in feature.batch]) or 1.0
        for index, ((value, base_share), (_, batch_share)) in enumerate(zip(feature.baseline, feature.batch,
                                                                             strict=True)):
            x0 = 10 + index * slot
            for offset, share, colour in ((0.1, base_share, BASELINE_COLOUR), (0.5, batch_share, BATCH_COLOUR)):
                h = plot * share / peak
                parts.append(f'<rect x="{x0 + slot * offset:.1f}" y="{base - h:.1f}" width="{slot * 0.38:.1f}" '
                             f'height="{h:.1f}" fill="{colour}"><title>{_e(value)}: {share:.1%}</title></rect>')
            parts.append(f'<text x="{x0 + slot / 2:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">'
                         f'{_e(value)}</text>')
    parts.append(f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#444"/>')
    return _svg(width, height, "".join(parts), f"distribution of {feature.name}")


# ------------------------------------------------------------------------------------------------ HTML

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;color:#fff;font-size:.8rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ddd;border-radius:6px;padding:.5rem;width:310px}
.card h4{margin:.1rem 0 .3rem}.muted{color:#666;font-size:.85rem}pre{white-space:pre-wrap;background:#f8f8f8;
padding:.6rem;border-radius:4px;font-size:.85rem}details{margin:.3rem 0}
.legend span{display:inline-block;width:12px;height:12px;margin:0 .3rem 0 1rem;vertical-align:middle}
table.matrix{width:auto;margin:.3rem 0;font-size:.85rem}table.matrix td{text-align:right}
"""


def _badge(text: str) -> str:
    return f'<span class="badge" style="background:{STATUS_COLOURS.get(text, "#757575")}">{_e(text)}</span>'


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def render(data: ReportData) -> str:
    sections = [
        f"<h1>batchops report: environment {_e(data.environment)}</h1>",
        f'<p class="muted">Generated {_fmt_time(data.generated_at)} UTC. Metric {_e(data.metric)}: registration '
        f"threshold {data.registration_threshold:g}, model-quality threshold {data.model_quality_threshold:g} "
        "(the configured defaults; each gate shows the threshold its run used).</p>",
        _summary_section(data),
        "<h2>Executions</h2>",
        timeline_svg(data.executions),
        '<p class="legend muted">bars: executions (light) and their steps; colour = status'
        f'<span style="background:{STATUS_COLOURS["Succeeded"]}"></span>Succeeded'
        f'<span style="background:{STATUS_COLOURS["Failed"]}"></span>Failed'
        f'<span style="background:{STATUS_COLOURS["Executing"]}"></span>Executing</p>',
        _executions_table(data),
        "<h2>Quality gates</h2>",
        _gates_table(data),
        "<h2>Model versions</h2>",
        _models_section(data),
        "<h2>Data drift per feature</h2>",
        _drift_section(data),
        "<h2>Emails</h2>",
        _emails_section(data),
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>batchops report "
            f"({_e(data.environment)})</title><style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n")


def _summary_section(data: ReportData) -> str:
    failed = sum(v.execution.status == "Failed" for v in data.executions)
    succeeded = sum(v.execution.status == "Succeeded" for v in data.executions)
    approved = sum(m.approval_status == "Approved" for m in data.models)
    pending = sum(m.approval_status == "PendingManualApproval" for m in data.models)
    drifted = sum(any(f.violations for f in d.features) for d in data.drift)
    return (f"<p>{len(data.executions)} executions ({succeeded} succeeded, {failed} failed); {len(data.models)} "
            f"model versions ({approved} approved, {pending} pending approval); {drifted} batch(es) with data-quality "
            f"violations; {len(_group_emails(data.emails))} emails.</p>")


def _executions_table(data: ReportData) -> str:
    rows = []
    for view in reversed(data.executions):
        e = view.execution
        steps = "".join(f"<tr><td>{_e(s.name)}</td><td>{_badge(s.status)}</td><td>{_fmt_time(s.start)}</td>"
                        f"<td>{(s.duration_seconds or 0):.1f} s</td><td>{_e(s.failure_reason or '')}</td></tr>"
                        for s in view.steps)
        rows.append(f"<tr><td>{_e(e.pipeline)}</td><td><details><summary>{_e(e.execution_id)}</summary><table>"
                    f"<tr><th>step</th><th>status</th><th>started</th><th>duration</th><th>failure reason</th></tr>"
                    f"{steps}</table></details></td><td>{_badge(shown_status(e, view.gates))}</td>"
                    f"<td>{_fmt_time(e.start)}</td>"
                    f"<td>{(e.duration_seconds or 0):.1f} s</td><td>{_e(view.scored_with)}</td>"
                    f"<td>{_e(e.failure_reason or '')}</td></tr>")
    return ("<table><tr><th>pipeline</th><th>execution (click for steps)</th><th>status</th><th>started</th>"
            f"<th>duration</th><th>scored with</th><th>failure reason</th></tr>{''.join(rows)}</table>")


def _gates_table(data: ReportData) -> str:
    rows = [f"<tr><td>{_e(v.execution.pipeline)}</td><td>{_e(v.execution.execution_id)}</td><td>{_e(g.name)}</td>"
            f"<td>{_badge(g.outcome)}</td><td>{_e(g.detail)}{classification_html(g.classification)}</td></tr>"
            for v in data.executions for g in v.gates]
    if not rows:
        return "<p>No gate has been evaluated yet.</p>"
    return ("<table><tr><th>pipeline</th><th>execution</th><th>gate</th><th>outcome</th><th>detail</th></tr>"
            f"{''.join(rows)}</table>")


def classification_html(summary: results.ClassificationSummary | None) -> str:
    """Confusion matrix and per-class scores as small tables, then every metric ("" for a regression gate)."""
    if summary is None:
        return ""
    parts = [f'<div class="muted">{_e(gate_text.matrix_caption(summary))}</div>',
             _html_table(*gate_text.matrix_rows(summary), cls="matrix")]
    header, rows = gate_text.per_class_rows(summary)
    if rows:
        parts.append(_html_table(header, rows, cls="matrix"))
    pairs = gate_text.metric_pairs(summary)
    if pairs:
        parts.append('<div class="muted">' + ", ".join(f"{_e(name)} {_e(value)}" for name, value in pairs)
                     + "</div>")
    return "".join(parts)


def _html_table(header: list[str], rows: list[list[str]], *, cls: str) -> str:
    """A table whose first column names the row (a label) and whose other cells are numbers."""
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + f"<th>{_e(row[0])}</th>" + "".join(f"<td>{_e(cell)}</td>" for cell in row[1:]) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _models_section(data: ReportData) -> str:
    if not data.models:
        return "<p>No model version registered yet.</p>"
    bars = [(f"v{m.version}", m.metrics[data.metric], STATUS_COLOURS.get(m.approval_status, "#757575"))
            for m in data.models if data.metric in m.metrics]
    chart = bar_chart_svg(bars, threshold=data.registration_threshold, label=f"{data.metric} per model version",
                          threshold_label="registration threshold") if bars else ""
    names = sorted({name for m in data.models for name in m.metrics})
    header = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><td>{m.version}{' (active)' if m.active else ''}</td><td>{_badge(m.approval_status)}</td>"
        + "".join(f"<td>{_e(gate_text.metric_value(n, m.metrics[n]))}</td>" if n in m.metrics
                  else "<td>-</td>" for n in names)
        + f"<td>{_fmt_time(m.created)}</td><td>{_e(m.approval_description or '')}</td></tr>" for m in data.models)
    return (f'<p class="muted">{_e(data.metric)} on the held-out test split, per version (colour = approval '
            f"status)</p>{chart}<table><tr><th>version</th><th>status</th>{header}<th>created</th><th>note</th></tr>"
            f"{rows}</table>")


def _drift_section(data: ReportData) -> str:
    if not data.drift:
        return "<p>No data-quality check has run yet.</p>"
    blocks = [f'<p class="legend muted">Baseline (training data of the model used)<span style="background:'
              f'{BASELINE_COLOUR}"></span>baseline<span style="background:{BATCH_COLOUR}"></span>batch. Distance: '
              "L-infinity between the two CDFs, estimated from the statistics' histograms; violations are the "
              "check's own findings.</p>"]
    for view in data.drift:
        flagged = [f.name for f in view.features if f.violations]
        colour = {True: STATUS_COLOURS["warn"], False: STATUS_COLOURS["pass"]}
        bars = [(f.name[:9], f.distance, colour[bool(f.violations)]) for f in view.features]
        cards = "".join(
            f'<div class="card"><h4>{_e(f.name)} {_badge("warn") if f.violations else _badge("pass")}</h4>'
            f'{distribution_svg(f)}<div class="muted">distance {f.distance:.3f}</div>'
            + "".join(f'<div class="muted">{_e(v)}</div>' for v in f.violations) + "</div>"
            for f in view.features)
        blocks.append(f"<h3>{_e(view.pipeline)} {_e(view.execution_id)}: "
                      f"{'violations on ' + _e(', '.join(flagged)) if flagged else 'no violations'}</h3>"
                      + bar_chart_svg(bars, threshold=view.threshold, label="drift distance per feature",
                                      threshold_label="comparison threshold")
                      + f'<div class="grid">{cards}</div>')
    return "".join(blocks)


def _group_emails(emails: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[str]]:
    """One outbox file per recipient and message: (date, subject, body) -> recipients, each message once."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for message in emails:
        key = (str(message.get("date", "")), str(message.get("subject", "")), str(message.get("body", "")))
        grouped.setdefault(key, []).append(str(message.get("to", "")))
    return grouped


def _emails_section(data: ReportData) -> str:
    if not data.emails:
        return "<p>No emails.</p>"
    grouped = _group_emails(data.emails)
    items = "".join(
        f"<details><summary>{_e(date)} to {_e(', '.join(recipients))}: <b>{_e(subject)}</b></summary>"
        f"<pre>{_e(body)}</pre></details>" for (date, subject, body), recipients in grouped.items())
    return f"<p>{len(grouped)} message(s), {len(data.emails)} outbox file(s) (one per recipient).</p>{items}"


def checked_output_path(out: Path | str) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out '{out}': the report is HTML; use a file name ending in .html")
    return out


def write_report(target: AwsTarget, home: Path, out: Path) -> Path:
    out = checked_output_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect(target, home)), encoding="utf-8")
    return out
