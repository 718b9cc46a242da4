"""Pipeline definition expressions: parameters, execution variables, step properties, `Std:Join`, `Std:JsonGet`.

Forms (aws-contracts §7.2):

- `{"Get": "Parameters.Name"}`, `{"Get": "Execution.PipelineExecutionId"}`, `{"Get": "Steps.<Step>.<path>"}`
- `{"Std:Join": {"On": "/", "Values": [...]}}`
- `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.<Step>.PropertyFiles.<Name>"}, "Path": "a.b[0]"}}`
  (or `"S3Uri": <expr>` instead of `PropertyFile`)

Property paths mirror the Describe* response of the step's resource: `Outputs['train']` on a list selects the
element whose `...Name` field is `train`; on a map it is a key lookup; `[0]` indexes a list.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from batchops_local.runner.errors import DefinitionError, StepFailed

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")
EXECUTION_VARIABLES = (
    "PipelineExecutionId", "PipelineExecutionArn", "PipelineName", "PipelineArn", "StartDateTime",
    "CurrentDateTime", "ProcessingJobName", "TrainingJobName",
)

_PATH_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_:\-]*)|\[(-?\d+)\]|\[(?:'([^']*)'|"([^"]*)")\]""")


# ------------------------------------------------------------------------------------------- parameters


def coerce_parameters(declared: list[dict[str, Any]], given: dict[str, str]) -> dict[str, Any]:
    """Declared defaults overridden by the start request's string values, each coerced to its declared Type."""
    types: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, parameter in enumerate(declared or []):
        name, kind = parameter.get("Name"), parameter.get("Type", "String")
        if not name:
            raise DefinitionError(f"Parameters[{index}] has no Name")
        if kind not in PARAMETER_TYPES:
            raise DefinitionError(f"parameter '{name}': Type must be one of {', '.join(PARAMETER_TYPES)}, "
                                  f"found '{kind}'")
        types[name] = kind
        if "DefaultValue" in parameter and parameter["DefaultValue"] is not None:
            values[name] = _coerce(name, kind, parameter["DefaultValue"], "DefaultValue")
    undeclared = sorted(set(given) - set(types))
    if undeclared:
        raise DefinitionError(f"parameter(s) {', '.join(undeclared)} not declared by the pipeline "
                              f"(declared: {', '.join(types) or 'none'})")
    for name, raw in given.items():
        values[name] = _coerce(name, types[name], raw, "value")
    missing = sorted(set(types) - set(values))
    if missing:
        raise DefinitionError(f"parameter(s) {', '.join(missing)} have no DefaultValue and were not given")
    return values


def _coerce(name: str, kind: str, raw: Any, what: str) -> Any:
    text = to_text(raw)
    try:
        if kind == "String":
            return raw if isinstance(raw, str) else text
        if kind == "Integer":
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int):
                return raw
            return int(text.strip())
        if kind == "Float":
            value = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else float(text.strip())
            if not math.isfinite(value):
                raise ValueError
            return value
        if isinstance(raw, bool):
            return raw
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError
        return lowered == "true"
    except ValueError:
        expected = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false"}[kind]
        raise DefinitionError(f"parameter '{name}' ({kind}): {what} must be {expected}, found '{text}'") from None


# ------------------------------------------------------------------------------------------- paths


def parse_property_path(path: str) -> list[str | int]:
    """`Outputs['train'].S3Output.S3Uri` -> ['Outputs', 'train', 'S3Output', 'S3Uri']; `[0]` -> 0."""
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot parse property path '{path}' at position {position}")
        name, index, single, double = match.groups()
        if name is not None:
            tokens.append(name)
        elif index is not None:
            tokens.append(int(index))
        else:
            tokens.append(single if single is not None else double)
        position = match.end()
    return tokens


def lookup_path(document: Any, tokens: list[str | int], *, where: str) -> Any:
    """Walk `tokens` through dicts and lists; a string key on a list selects by the element's `*Name` field."""
    current = document
    walked = ""
    for token in tokens:
        walked += f"[{token}]" if isinstance(token, int) else f".{token}" if walked else str(token)
        if isinstance(token, int) and isinstance(current, list):
            if not -len(current) <= token < len(current):
                raise KeyError(f"{where}: index {token} out of range in '{walked}' (length {len(current)})")
            current = current[token]
        elif isinstance(token, str) and isinstance(current, dict):
            if token not in current:
                raise KeyError(f"{where}: '{walked}' does not exist (available: {', '.join(map(str, current))})")
            current = current[token]
        elif isinstance(token, str) and isinstance(current, list):
            current = _select_named(current, token, walked, where)
        else:
            raise KeyError(f"{where}: cannot apply '{token}' to a {type(current).__name__} at '{walked}'")
    return current


def _select_named(items: list[Any], name: str, walked: str, where: str) -> Any:
    for item in items:
        if isinstance(item, dict) and any(k.endswith("Name") and v == name for k, v in item.items()):
            return item
    names = [v for item in items if isinstance(item, dict) for k, v in item.items() if k.endswith("Name")]
    raise KeyError(f"{where}: no element named '{name}' at '{walked}' (available: {', '.join(map(str, names))})")


# ------------------------------------------------------------------------------------------- references


def iter_gets(value: Any) -> Iterator[str]:
    """Every `Get` target inside a (nested) definition value."""
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            yield value["Get"]
            return
        for item in value.values():
            yield from iter_gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_gets(item)


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps a value reads properties or property files from (implicit dependencies)."""
    return {step_of_reference(target) for target in iter_gets(value) if target.startswith("Steps.")}


def step_of_reference(target: str) -> str:
    return target.split(".", 2)[1] if target.count(".") >= 1 else ""


# ------------------------------------------------------------------------------------------- resolution


@dataclass
class PropertyFile:
    step: str
    name: str
    output_name: str
    file_path: str


@dataclass
class Resolver:
    """Evaluates expressions against the state of one execution.

    `step_properties` grows as steps succeed; `read_json(s3_uri)` fetches a JSON document for `Std:JsonGet`.
    """

    parameters: dict[str, Any]
    execution_variables: dict[str, Any]
    step_properties: dict[str, dict[str, Any]]
    property_files: dict[str, dict[str, PropertyFile]]
    read_json: Callable[[str], Any]
    job_variables: dict[str, str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Get"}:
                return self._get(value["Get"])
            if set(value) == {"Std:Join"}:
                return self._join(value["Std:Join"])
            if set(value) == {"Std:JsonGet"}:
                return self._json_get(value["Std:JsonGet"])
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def for_job(self, **job_variables: str) -> Resolver:
        """The same state plus job-scoped execution variables (`Execution.ProcessingJobName`, ...)."""
        return Resolver(self.parameters, self.execution_variables, self.step_properties, self.property_files,
                        self.read_json, {**self.job_variables, **job_variables})

    def _get(self, target: Any) -> Any:
        if not isinstance(target, str):
            raise StepFailed(f"'Get' needs a string, found {target!r}")
        scope, _, rest = target.partition(".")
        if scope == "Parameters":
            if rest not in self.parameters:
                raise StepFailed(f"unknown parameter '{rest}' in {{'Get': '{target}'}}")
            return self.parameters[rest]
        if scope == "Execution":
            if rest in self.job_variables:
                return self.job_variables[rest]
            if rest == "CurrentDateTime":
                return self.execution_variables["CurrentDateTime"]()
            if rest not in self.execution_variables:
                raise StepFailed(f"execution variable '{rest}' is not available here ({{'Get': '{target}'}})")
            return self.execution_variables[rest]
        if scope == "Steps":
            step, _, path = rest.partition(".")
            if step not in self.step_properties:
                raise StepFailed(f"step '{step}' has no properties yet ({{'Get': '{target}'}}): it did not succeed "
                                 "before this step")
            if path.startswith("PropertyFiles."):
                return self._property_file(step, path.removeprefix("PropertyFiles."))
            try:
                return lookup_path(self.step_properties[step], parse_property_path(path), where=f"step '{step}'")
            except (KeyError, ValueError) as exc:
                raise StepFailed(f"cannot resolve {{'Get': '{target}'}}: {exc.args[0]}") from None
        raise StepFailed(f"unknown reference scope '{scope}' in {{'Get': '{target}'}}")

    def _property_file(self, step: str, name: str) -> PropertyFile:
        found = self.property_files.get(step, {}).get(name)
        if found is None:
            raise StepFailed(f"step '{step}' declares no property file '{name}'")
        return found

    def _join(self, spec: Any) -> str:
        if not isinstance(spec, dict) or "Values" not in spec:
            raise StepFailed(f"Std:Join needs 'On' and 'Values', found {spec!r}")
        separator = self.resolve(spec.get("On", ""))
        return str(separator).join(to_text(self.resolve(item)) for item in spec["Values"])

    def _json_get(self, spec: Any) -> Any:
        if not isinstance(spec, dict) or "Path" not in spec:
            raise StepFailed(f"Std:JsonGet needs 'Path' and 'PropertyFile' or 'S3Uri', found {spec!r}")
        if "PropertyFile" in spec:
            prop = self.resolve(spec["PropertyFile"])
            if not isinstance(prop, PropertyFile):
                raise StepFailed(f"Std:JsonGet PropertyFile must reference Steps.<step>.PropertyFiles.<name>, "
                                 f"found {spec['PropertyFile']!r}")
            outputs = self.step_properties[prop.step].get("ProcessingOutputConfig", {}).get("Outputs", [])
            base = next((o["S3Output"]["S3Uri"] for o in outputs if o.get("OutputName") == prop.output_name), None)
            if base is None:
                raise StepFailed(f"property file '{prop.name}' of step '{prop.step}' names output "
                                 f"'{prop.output_name}', which the step does not have")
            uri = f"{str(base).rstrip('/')}/{prop.file_path.lstrip('/')}"
            source = f"property file '{prop.name}' of step '{prop.step}' ({uri})"
        else:
            uri = to_text(self.resolve(spec["S3Uri"]))
            source = uri
        path = to_text(self.resolve(spec["Path"]))
        try:
            document = self.read_json(uri)
        except StepFailed:
            raise
        except Exception as exc:  # missing object, bad JSON: the consuming step fails with the cause
            raise StepFailed(f"Std:JsonGet cannot read {source}: {exc}") from None
        try:
            return lookup_path(document, parse_property_path(path), where=source)
        except (KeyError, ValueError) as exc:
            raise StepFailed(f"Std:JsonGet path '{path}': {exc.args[0]}") from None


def to_text(value: Any) -> str:
    """How a resolved value appears inside strings (`Std:Join`, container arguments)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
