"""Condition and Fail steps (aws-contracts §7.3): no job runs, the runner decides."""

from __future__ import annotations

from typing import Any

from batchops_local.runner.dag import branch_steps
from batchops_local.runner.errors import StepFailed
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text

_COMPARISONS = {
    "Equals": lambda left, right: left == right,
    "GreaterThan": lambda left, right: left > right,
    "GreaterThanOrEqualTo": lambda left, right: left >= right,
    "LessThan": lambda left, right: left < right,
    "LessThanOrEqualTo": lambda left, right: left <= right,
}


def evaluate_condition(condition: Any, resolve: Any, *, where: str) -> bool:
    """Evaluate one definition condition; `resolve` evaluates the expressions inside it."""
    if not isinstance(condition, dict) or "Type" not in condition:
        raise StepFailed(f"{where}: a condition needs a Type, found {condition!r}")
    kind = condition["Type"]
    if kind in _COMPARISONS:
        left, right = resolve(condition.get("LeftValue")), resolve(condition.get("RightValue"))
        left, right = _comparable(left, right, kind=kind, where=where)
        return bool(_COMPARISONS[kind](left, right))
    if kind == "In":
        query = resolve(condition.get("QueryValue"))
        values = resolve(condition.get("Values") or [])
        if not isinstance(values, list):
            raise StepFailed(f"{where}: In needs a list of Values, found {values!r}")
        return any(_COMPARISONS["Equals"](*_comparable(query, value, kind=kind, where=where)) for value in values)
    if kind == "Not":
        inner = condition.get("Condition", condition.get("Expression"))
        return not evaluate_condition(inner, resolve, where=f"{where}.Not")
    if kind == "Or":
        return any(evaluate_condition(c, resolve, where=f"{where}.Or[{i}]")
                   for i, c in enumerate(condition.get("Conditions") or []))
    raise StepFailed(f"{where}: condition type '{kind}' is not supported (Equals, GreaterThan, "
                     "GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, Not, Or)")


def _comparable(left: Any, right: Any, *, kind: str, where: str) -> tuple[Any, Any]:
    """Numbers compare as numbers (a JsonGet string '2.5' against a Float parameter too); else as text."""
    left_number, right_number = _as_number(left), _as_number(right)
    if left_number is not None and right_number is not None:
        return left_number, right_number
    if kind == "Equals" or kind == "In":
        return to_text(left), to_text(right)
    raise StepFailed(f"{where}: {kind} needs two numbers, found {left!r} and {right!r}")


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def run_condition(context: StepContext) -> StepResult:
    conditions = (context.spec.definition.get("Arguments") or {}).get("Conditions") or []
    if not isinstance(conditions, list) or not conditions:
        raise StepFailed(f"Condition step '{context.name}': Arguments.Conditions must be a non-empty list")
    outcome = all(evaluate_condition(condition, context.resolver.resolve, where=f"Conditions[{index}]")
                  for index, condition in enumerate(conditions))
    context.metadata["Condition"] = {"Outcome": "True" if outcome else "False"}
    branch = "IfSteps" if outcome else "ElseSteps"
    taken = branch_steps(context.spec.definition, outcome)
    context.log.note(f"outcome {outcome}: running {branch} ({', '.join(taken) or 'none'})")
    return StepResult(properties={"Outcome": outcome}, condition_outcome=outcome)


def run_fail(context: StepContext) -> StepResult:
    message = to_text(context.resolver.resolve((context.spec.definition.get("Arguments") or {}).get("ErrorMessage")))
    raise StepFailed(message, metadata={"Fail": {"ErrorMessage": message}})
