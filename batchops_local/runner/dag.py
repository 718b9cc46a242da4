"""The step graph of a definition: every step (Condition branches included), its dependencies, and the
checks that can be made before anything runs (unknown step or parameter references, duplicate names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from batchops_local.runner.errors import DefinitionError
from batchops_local.runner.expressions import iter_gets, referenced_steps, step_of_reference

_STEP_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")  # SageMaker's pattern for step names


@dataclass
class StepSpec:
    name: str
    type: str
    definition: dict[str, Any]
    dependencies: set[str] = field(default_factory=set)
    condition: str | None = None  # the Condition step whose taken branch holds this step

    @property
    def display_name(self) -> str | None:
        return self.definition.get("DisplayName")


def build_graph(definition: dict[str, Any]) -> dict[str, StepSpec]:
    """Flatten the definition's steps; dependencies = DependsOn + steps referenced by expressions + the
    enclosing Condition step (its branch steps run only after it decided)."""
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise DefinitionError("the pipeline definition has no 'Steps' list")
    specs: dict[str, StepSpec] = {}
    _collect(definition["Steps"], None, specs, "Steps")
    declared = {p.get("Name") for p in definition.get("Parameters") or []}
    for spec in specs.values():
        explicit = spec.definition.get("DependsOn") or []
        if not isinstance(explicit, list) or not all(isinstance(name, str) for name in explicit):
            raise DefinitionError(f"step '{spec.name}': DependsOn must be a list of step names")
        body = _without_branches(spec.definition)
        spec.dependencies = set(explicit) | referenced_steps(body)
        if spec.condition:
            spec.dependencies.add(spec.condition)
        unknown = sorted(spec.dependencies - set(specs))
        if unknown:
            raise DefinitionError(f"step '{spec.name}' references unknown step(s): {', '.join(unknown)}")
        if spec.name in spec.dependencies:
            raise DefinitionError(f"step '{spec.name}' depends on itself")
        for target in iter_gets(body):
            if target.startswith("Parameters.") and target.removeprefix("Parameters.") not in declared:
                raise DefinitionError(f"step '{spec.name}' uses undeclared parameter "
                                      f"'{target.removeprefix('Parameters.')}'")
            if target.startswith("Steps.") and not step_of_reference(target):
                raise DefinitionError(f"step '{spec.name}': malformed reference '{target}'")
    _reject_cycles(specs)
    return specs


def _collect(steps: Any, condition: str | None, specs: dict[str, StepSpec], where: str) -> None:
    if not isinstance(steps, list):
        raise DefinitionError(f"{where} must be a list of steps")
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("Name"), str) or not step.get("Name"):
            raise DefinitionError(f"{where}[{index}] has no Name")
        name = step["Name"]
        if not _STEP_NAME.match(name):
            raise DefinitionError(f"step name '{name}' is not valid (1-64 letters, digits, '-', '_')")
        if name in specs:
            raise DefinitionError(f"step name '{name}' is used more than once")
        if not isinstance(step.get("Type"), str):
            raise DefinitionError(f"step '{name}' has no Type")
        specs[name] = StepSpec(name=name, type=step["Type"], definition=step, condition=condition)
        if step["Type"] == "Condition":
            _collect(branch_definitions(step, True), name, specs, f"{name}.IfSteps")
            _collect(branch_definitions(step, False), name, specs, f"{name}.ElseSteps")


def _reject_cycles(specs: dict[str, StepSpec]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise DefinitionError(f"steps depend on each other in a cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for dependency in sorted(specs[name].dependencies):
            visit(dependency, [*trail, name])
        state[name] = 2

    for name in specs:
        visit(name, [])


def branch_definitions(condition: dict[str, Any], outcome: bool) -> list[Any]:
    """The steps of one branch; the SDK emits them inside Arguments, older definitions beside it."""
    key = "IfSteps" if outcome else "ElseSteps"
    arguments = condition.get("Arguments") or {}
    return arguments.get(key) or condition.get(key) or []


def branch_steps(condition: dict[str, Any], outcome: bool) -> list[str]:
    return [step["Name"] for step in branch_definitions(condition, outcome)]


def _without_branches(step: dict[str, Any]) -> dict[str, Any]:
    """A step's own content: a Condition's nested steps are separate steps, not its dependencies."""
    body = {k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")}
    if isinstance(body.get("Arguments"), dict):
        body["Arguments"] = {k: v for k, v in body["Arguments"].items() if k not in ("IfSteps", "ElseSteps")}
    return body
