"""Quality gates in messages: the deciding step's structured result (`result.json`), never a sentence.

A gate is decided by a processing step that writes `result.json` (batchops_core.results) in its output named
`result` (contracts.STEP_RESULT_OUTPUT) and always succeeds when it could decide; a Condition step then routes a
violation to a Fail step. The email about that Fail step (or about the execution's end) reads the deciding
step's result, so it shows the metric, value, threshold and comparison the run actually used.
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
# gate; consequence: what a violation means; threshold_variable: the template variable that also gets the threshold.
Gate = namedtuple("Gate", "deciding_step fail_step name consequence threshold_variable")

GATES = (
    Gate(contracts.Step.MODEL_QUALITY_CHECK, contracts.Step.MODEL_QUALITY_VIOLATED, "model quality threshold",
         "retraining starts", "model_quality_threshold"),
    Gate(contracts.Step.EVALUATE, contracts.Step.METRIC_ABOVE_THRESHOLD, "registration threshold",
         "no model registered", "registration_threshold"),
)
GATE_BY_FAIL_STEP = {gate.fail_step: gate for gate in GATES}

# The template variables this module fills (all "" when no gate applies).
VARIABLES = ("metric", "metric_value", "threshold", "registration_threshold", "model_quality_threshold",
             "quality_gate", "quality_outcome")


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


def variables_for_fail_step(execution_arn: str, fail_step: str) -> dict[str, str]:
    """Variables for the message about a gate's Fail step; an unreadable result is stated, never raised."""
    gate = GATE_BY_FAIL_STEP[fail_step]
    label = f"{gate.name}; {gate.consequence}"
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
                     quality_outcome=result.outcome, quality_gate=describe(result, label))
    variables[gate.threshold_variable] = threshold
    return variables


def describe(result: StepResult, label: str) -> str:
    """'rmse = 3.4120, rmse must be <= 3.0 (model quality threshold; retraining starts)', with the outcome
    first unless it failed (a failure is what the message is about)."""
    from batchops_core.results import FAILED

    if not result.metric:
        text = f"{result.message} ({label})" if result.message else f"({label})"
    else:
        comparison = result.comparison or _registry_comparison(result.metric)
        value = _value(result)
        observed = f"{result.metric} = {value}, " if value else f"{result.metric} value not recorded, "
        if result.threshold is None or not comparison:
            rule = "(threshold not recorded)"
        else:
            rule = f"{result.metric} must be {comparison} {_number(result.threshold)}"
        text = f"{observed}{rule} ({label})"
    return text if result.outcome == FAILED else f"{result.outcome}: {text}"


def _value(result: StepResult) -> str:
    if result.value is None:
        return ""
    from batchops_core import metrics

    try:
        return metrics.get(result.metric or "").format(result.value)
    except metrics.MetricError:  # a metric this deployment's registry does not know: shown as recorded
        return _number(result.value)


def _registry_comparison(metric: str) -> str:
    from batchops_core import metrics

    try:
        return metrics.get(metric).comparison
    except metrics.MetricError:
        return ""


def _number(value: float | None) -> str:
    return "" if value is None else str(value)
