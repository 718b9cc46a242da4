"""Walking pipeline definition JSON in tests: steps (nested in conditions too), references, dependencies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_-]+)\.(.+)$")
OUTPUT_REFERENCE = re.compile(r"^ProcessingOutputConfig\.Outputs\['([^']+)'\]")


def all_steps(definition: dict) -> dict[str, dict]:
    """Every step by name, including the ones inside IfSteps/ElseSteps."""
    found: dict[str, dict] = {}

    def visit(steps: list[dict]) -> None:
        for step in steps:
            assert step["Name"] not in found, f"duplicate step name {step['Name']}"
            found[step["Name"]] = step
            visit(step.get("Arguments", {}).get("IfSteps", []) if step["Type"] == "Condition" else [])
            visit(step.get("Arguments", {}).get("ElseSteps", []) if step["Type"] == "Condition" else [])

    visit(definition["Steps"])
    return found


def expressions(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every `Get` and `Std:JsonGet` expression with its location."""
    if isinstance(node, dict):
        if "Get" in node or "Std:JsonGet" in node:
            yield path, node
        for key, value in node.items():
            yield from expressions(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from expressions(value, f"{path}[{index}]")


def unresolved_references(definition: dict) -> list[str]:
    """References to steps, outputs, property files or parameters that do not exist."""
    steps = all_steps(definition)
    parameters = {p["Name"] for p in definition["Parameters"]}
    problems = []
    for where, expression in expressions(definition["Steps"]):
        if "Get" in expression:
            target = expression["Get"]
            if target.startswith("Parameters."):
                if target.removeprefix("Parameters.") not in parameters:
                    problems.append(f"{where}: undeclared parameter {target}")
            elif target.startswith("Steps."):
                problems.extend(f"{where}: {p}" for p in _step_reference_problems(target, steps))
            elif not target.startswith("Execution."):
                problems.append(f"{where}: unknown reference {target}")
        else:
            json_get = expression["Std:JsonGet"]
            target = json_get["PropertyFile"]["Get"]
            match = re.match(r"^Steps\.([^.]+)\.PropertyFiles\.(.+)$", target)
            if not match or match.group(1) not in steps:
                problems.append(f"{where}: JsonGet names no existing step: {target}")
                continue
            files = {f["PropertyFileName"]: f for f in steps[match.group(1)].get("PropertyFiles", [])}
            if match.group(2) not in files:
                problems.append(f"{where}: step {match.group(1)} has no property file {match.group(2)}")
                continue
            problems.extend(f"{where}: {p}" for p in _property_file_problems(steps[match.group(1)],
                                                                            files[match.group(2)], json_get["Path"]))
    return problems


def _property_file_problems(step: dict, property_file: dict, path: str) -> list[str]:
    """The file must be written by an output of the step; a path into result.json must name a StepResult field."""
    from dataclasses import fields

    from batchops_core.contracts import OutputFile
    from batchops_core.results import StepResult

    outputs = {o["OutputName"] for o in step["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])}
    if property_file["OutputName"] not in outputs:
        return [f"step {step['Name']} has no output {property_file['OutputName']} for {property_file['FilePath']}"]
    if property_file["FilePath"] != OutputFile.STEP_RESULT:
        return []
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    known = {f.name for f in fields(StepResult)}
    if head not in known:
        return [f"{OutputFile.STEP_RESULT} has no field '{head}' (fields: {', '.join(sorted(known))})"]
    return []


def _step_reference_problems(target: str, steps: dict[str, dict]) -> list[str]:
    match = STEP_REFERENCE.match(target)
    if not match or match.group(1) not in steps:
        return [f"reference to a missing step: {target}"]
    step, rest = steps[match.group(1)], match.group(2)
    output = OUTPUT_REFERENCE.match(rest)
    if output:
        names = {o["OutputName"] for o in step["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])}
        if output.group(1) not in names:
            return [f"step {step['Name']} has no output {output.group(1)}"]
    return []


def referenced_steps(step: dict) -> set[str]:
    """Steps this step depends on: DependsOn plus every property/JsonGet reference."""
    names = set(step.get("DependsOn", []))
    own = step["Arguments"]["Conditions"] if step["Type"] == "Condition" else step
    for _, expression in expressions(own):
        target = expression["Get"] if "Get" in expression else expression["Std:JsonGet"]["PropertyFile"]["Get"]
        match = STEP_REFERENCE.match(target)
        if match:
            names.add(match.group(1))
    return names


def processing_io(step: dict) -> tuple[dict[str, dict], dict[str, dict]]:
    arguments = step["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in arguments.get("ProcessingInputs", [])}
    outputs = {o["OutputName"]: o["S3Output"] for o in arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])}
    return inputs, outputs
