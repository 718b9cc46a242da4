"""Where a run published its batch's predictions (the PublishPredictions step's result.json) and which model
version scored it (ResolveModel's), for the message about the execution's end: consumers are told the location,
never an execution-scoped path, and the version and account of the model."""

from __future__ import annotations

from batchops_core import contracts
from lambdas.notification import step_outputs
from lambdas.notification.events import SUCCEEDED
from lambdas.notification.gates import read_result  # the one reader of result.json
from lambdas.shared.runtime import log

# The template variables this module fills ("" when nothing was published / no version was resolved).
VARIABLES = ("results_location", "scored_with")


def variables_for_execution(execution_arn: str) -> dict[str, str]:
    return {**_results_location(execution_arn), **_scored_with(execution_arn)}


def _scored_with(execution_arn: str) -> dict[str, str]:
    """`scored_with`: 'version 3 of abalone-dev-models (account 111111111111)' for a run whose ResolveModel
    succeeded, "" otherwise."""
    from batchops_core import results

    try:
        step = step_outputs.execution_step(execution_arn, contracts.Step.RESOLVE_MODEL)
    except step_outputs.OutputUnavailable:  # a pipeline without the step
        return {"scored_with": ""}
    if step.get("StepStatus") != SUCCEEDED:
        return {"scored_with": ""}
    try:
        return {"scored_with": results.model_used_text(read_result(step))}
    except step_outputs.OutputUnavailable as exc:
        log("warning", "resolved model unavailable", reason=str(exc))
        return {"scored_with": f"(not available: the result of {contracts.Step.RESOLVE_MODEL} could not be read: "
                               f"{exc})"}


def _results_location(execution_arn: str) -> dict[str, str]:
    """`results_location`: the s3:// URI the execution published, "" for a run that published nothing (another
    pipeline, a batch stopped before scoring, a batch outside the inference prefix)."""
    try:
        step = step_outputs.execution_step(execution_arn, contracts.Step.PUBLISH_PREDICTIONS)
    except step_outputs.OutputUnavailable:
        return {"results_location": ""}
    if step.get("StepStatus") != SUCCEEDED:
        return {"results_location": ""}
    try:
        result = read_result(step)
    except step_outputs.OutputUnavailable as exc:
        log("warning", "published-results location unavailable", reason=str(exc))
        return {"results_location": f"(not available: the result of {contracts.Step.PUBLISH_PREDICTIONS} could "
                                    f"not be read: {exc})"}
    return {"results_location": str(result.details.get(contracts.RESULTS_LOCATION_DETAIL) or "")}
