"""Check the request values of pipeline definitions against botocore's SageMaker service model.

Each step's `Arguments` is the request of one API call (a Processing step: CreateProcessingJob, ...). Every literal
value is checked against its shape's limits (length, pattern, range, enum, unknown keys); pipeline expressions
(`Get`, `Std:Join`, `Std:JsonGet`, ...) are resolved at run time and skipped. Patterns are the service model's
(Java-style, `\\p{L}` included), matched with the `regex` module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import regex

# Step type -> the API call its Arguments are the request of.
STEP_OPERATIONS = {
    "Processing": "CreateProcessingJob",
    "QualityCheck": "CreateProcessingJob",
    "Training": "CreateTrainingJob",
    "Tuning": "CreateHyperParameterTuningJob",
    "Transform": "CreateTransformJob",
    "Model": "CreateModel",
    "RegisterModel": "CreateModelPackage",
}


@cache
def sagemaker_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (
        next(iter(value)) in ("Get", "Std:JsonGet") or next(iter(value)).startswith("Std:"))


def problems_of(operation: str, request: dict) -> list[str]:
    shape = sagemaker_model().operation_model(operation).input_shape
    return list(_check(shape, request, operation))


def _check(shape: Any, value: Any, where: str):
    if is_expression(value):
        return
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"{where}: expected an object, found {value!r}"[:300]
            return
        for key, item in value.items():
            if key not in shape.members:
                yield f"{where}.{key}: not a member of {shape.name}"
            elif item is not None:
                yield from _check(shape.members[key], item, f"{where}.{key}")
    elif kind == "list":
        yield from _bounds(shape, len(value), f"{where} (items)")
        for index, item in enumerate(value):
            yield from _check(shape.member, item, f"{where}[{index}]")
    elif kind == "map":
        yield from _bounds(shape, len(value), f"{where} (entries)")
        for key, item in value.items():
            yield from _check(shape.key, key, f"{where} key {key!r}")
            yield from _check(shape.value, item, f"{where}[{key!r}]")
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{where}: expected a string, found {value!r}"[:300]
            return
        yield from _bounds(shape, len(value), f"{where} ({len(value)} characters)")
        pattern = shape.metadata.get("pattern")
        if pattern and not regex.fullmatch(pattern, value):
            yield f"{where}: {value[:80]!r} does not match {shape.name} pattern {pattern}"
        if shape.enum and value not in shape.enum:
            yield f"{where}: {value!r} is not one of {shape.enum}"
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield from _range(shape, value, where)


def _bounds(shape: Any, size: int, where: str):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        yield f"{where}: below the minimum {low} of {shape.name}"
    if high is not None and size > high:
        yield f"{where}: above the maximum {high} of {shape.name}"


def _range(shape: Any, value: float, where: str):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        yield f"{where}: {value} outside {low}..{high} ({shape.name})"


def definition_problems(definition: dict) -> list[str]:
    """Every limit a step's literal request values break, all steps (nested ones included)."""
    from pipeline_definition_tools import all_steps

    problems = []
    for name, step in all_steps(definition).items():
        operation = STEP_OPERATIONS.get(step["Type"])
        if operation:
            problems += [f"step {name}: {problem}" for problem in problems_of(operation, step["Arguments"])]
    return problems
