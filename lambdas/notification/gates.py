"""Quality gates in messages: the deciding step's structured result (`result.json`), never a sentence.

A gate is decided by a processing step that writes `result.json` (batchops_core.results) in its output named
`result` (contracts.STEP_RESULT_OUTPUT) and always succeeds when it could decide; a Condition step then routes a
violation to a Fail step. The email about that Fail step (or about the execution's end) reads the deciding
step's result, so it shows the metric, value, threshold and comparison the run actually used, and on how many
rows (matched of all rows for the model-quality check).
"""

from __future__ import annotations

from collections import namedtuple

from batchops_core import contracts
from lambdas.notification import step_outputs
from lambdas.notification.events import SUCCEEDED
from lambdas.shared.runtime import log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

    from batchops_core.results import StepResult

# deciding_step: writes result.json; fail_step: the Fail step a violation leads to; name: how messages call the
# gate; consequence: what a violation means (None: the deployment's retraining, contracts.retraining);
# threshold_variable: the template variable that also gets the threshold.
Gate = namedtuple("Gate", "deciding_step fail_step name consequence threshold_variable")

GATES = (
    Gate(contracts.Step.MODEL_QUALITY_CHECK, contracts.Step.MODEL_QUALITY_VIOLATED, "model quality threshold",
         None, "model_quality_threshold"),
    Gate(contracts.Step.EVALUATE, contracts.Step.METRIC_ABOVE_THRESHOLD, "registration threshold",
         "no model registered", "registration_threshold"),
)
GATE_BY_FAIL_STEP = {gate.fail_step: gate for gate in GATES}

# The template variables this module fills (all "" when no gate applies).
VARIABLES = ("metric", "metric_value", "threshold", "comparison", "rows", "matched_rows", "registration_threshold",
             "model_quality_threshold", "quality_gate", "quality_outcome", "classification")
NO_GROUND_TRUTH = "model quality: no ground truth for this batch yet"


def empty_variables() -> dict[str, str]:
    return dict.fromkeys(VARIABLES, "")


def read_result(step: dict[str, Any]) -> StepResult:
    """The parsed result.json of a listed step; OutputUnavailable says why it cannot be had."""
    from batchops_core import results  # imported on use: dataclasses costs a cold start ~15 ms

    uri = step_outputs.step_output_file(step, contracts.STEP_RESULT_OUTPUT, contracts.OutputFile.STEP_RESULT)
    text = step_outputs.read_s3_text(uri)
    try:
        return results.parse(text, where=uri)
    except results.ResultError as exc:
        raise step_outputs.OutputUnavailable(str(exc)) from None


def variables_for_fail_step(execution_arn: str, fail_step: str, retraining: str) -> dict[str, str]:
    """Variables for the message about a gate's Fail step; an unreadable result is stated, never raised.
    `retraining`: what a model-quality violation leads to in this deployment (contracts.retraining)."""
    gate = GATE_BY_FAIL_STEP[fail_step]
    label = f"{gate.name}; {gate.consequence or retraining}"
    try:
        result = read_result(step_outputs.execution_step(execution_arn, gate.deciding_step))
    except step_outputs.OutputUnavailable as exc:
        return _unavailable(gate, exc)
    return _variables(gate, result, label)


def variables_for_execution(execution_arn: str) -> dict[str, str]:
    """Variables for the message about an execution's end: the gate whose deciding step succeeded, if any.

    An execution without such a step (another pipeline, or it ended earlier) has no gate: everything is ""."""
    try:
        listed = {step.get("StepName"): step for step in step_outputs.execution_steps(execution_arn)}
    except step_outputs.OutputUnavailable as exc:
        log("warning", "could not list the execution's steps for its quality gate", reason=str(exc))
        return empty_variables()
    for gate in GATES:
        step = listed.get(gate.deciding_step)
        if step is not None and step.get("StepStatus") == SUCCEEDED:
            try:
                return _variables(gate, read_result(step), gate.name)
            except step_outputs.OutputUnavailable as exc:
                return _unavailable(gate, exc)
    return empty_variables()


def _unavailable(gate: Gate, problem: Exception) -> dict[str, str]:
    log("warning", "quality-gate result unavailable", step=gate.deciding_step, reason=str(problem))
    variables = empty_variables()
    variables["quality_gate"] = f"(not available: the result of {gate.deciding_step} could not be read: {problem})"
    return variables


def _variables(gate: Gate, result: StepResult, label: str) -> dict[str, str]:
    log("info", "quality-gate result read", step=gate.deciding_step, outcome=result.outcome)
    threshold = _number(result.threshold)
    variables = empty_variables()
    variables.update(metric=result.metric or "", metric_value=_value(result), threshold=threshold,
                     comparison=_comparison(result), rows=_count(result, "rows"),
                     matched_rows=_count(result, "matched"), quality_outcome=result.outcome,
                     quality_gate=describe(result, label), classification=classification(result))
    variables[gate.threshold_variable] = threshold
    return variables


def classification(result: StepResult) -> str:
    """A classification gate's confusion matrix, per-class scores and metrics as plain text ("" for regression); a
    summary that does not follow the schema is stated, never raised."""
    from batchops_core import gate_text, results

    try:
        summary = results.classification_summary(result)
    except results.ResultError as exc:
        log("warning", "classification summary unreadable", step=result.step, reason=str(exc))
        return f"(classification summary not readable: {exc})"
    return gate_text.summary_text(summary) if summary else ""


def describe(result: StepResult, label: str) -> str:
    """'rmse 3.4120 (must be <= 3.0) on 990 of 1000 rows (model quality threshold; retraining starts)', with the
    outcome first unless it failed (a failure is what the message is about); a model-quality check that scored
    rows but found no ground truth for any says so instead. A check that scored nothing (the model-quality pipeline
    started by labels whose batch is not scored yet, or already checked) shows its own reason."""
    from batchops_core.results import FAILED, SKIPPED

    if result.step == contracts.Step.MODEL_QUALITY_CHECK and result.outcome == SKIPPED and result.value is None:
        if "rows" not in result.counts:
            return f"{SKIPPED}: {result.message}"
        if not result.counts.get("matched"):
            return NO_GROUND_TRUTH
    text = f"{measurement(result)} ({label})"
    return text if result.outcome == FAILED else f"{result.outcome}: {text}"


def measurement(result: StepResult) -> str:
    """'rmse 2.1034 (must be <= 3.0) on 990 of 1000 rows': the value as the metric registry formats it, the run's
    threshold with its comparison, matched rows of all rows (or the rows alone when the step counts no matches);
    the step's own sentence when it recorded no metric or no value."""
    if not result.metric:
        return result.message or "no metric recorded"
    value, comparison = _value(result), _comparison(result)
    parts = [f"{result.metric} {value or 'not computed'}"]
    if result.threshold is None or not comparison:
        parts.append("(threshold not recorded)")
    else:
        parts.append(f"(must be {comparison} {_number(result.threshold)})")
    rows, matched = _count(result, "rows"), _count(result, "matched")
    if rows:
        parts.append(f"on {matched} of {rows} rows" if matched else f"on {rows} row{'' if rows == '1' else 's'}")
    text = " ".join(parts)
    return f"{text}: {result.message}" if not value and result.message else text


def _value(result: StepResult) -> str:
    """The value as the metric registry formats it (4 decimals for a metric this deployment's registry does not
    know)."""
    if result.value is None:
        return ""
    from batchops_core import gate_text

    return gate_text.metric_value(result.metric or "", result.value)


def _comparison(result: StepResult) -> str:
    """The recorded comparison, else the metric registry's (results written before comparisons were recorded)."""
    if result.comparison or not result.metric:
        return result.comparison or ""
    from batchops_core import metrics

    try:
        return metrics.get(result.metric).comparison
    except metrics.MetricError:
        return ""


def _count(result: StepResult, name: str) -> str:
    return str(result.counts[name]) if name in result.counts else ""


def _number(value: float | None) -> str:
    return "" if value is None else str(value)
