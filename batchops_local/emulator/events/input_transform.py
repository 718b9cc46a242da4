"""What an EventBridge target receives: `Input`, `InputPath`, `InputTransformer`, and JSON-path parameters.

Pure functions on plain dicts (no moto), following the documented EventBridge behaviour:
- `Input` is constant JSON text sent instead of the event;
- `InputPath` selects part of the event with a JSON path;
- `InputTransformer` extracts values with `InputPathsMap` and fills `<name>` placeholders of `InputTemplate`:
  inside a JSON string a value is inserted as text, outside it is inserted as JSON (strings quoted);
  a template that is not JSON (plain text) yields that text;
- a SageMaker pipeline parameter whose whole value is a JSON path (`$.detail.object.key`) is resolved
  against the event.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


class TargetInputError(ValueError):
    """The target's input configuration cannot be applied to the event."""


def is_json_path(value: Any) -> bool:
    return isinstance(value, str) and (value == "$" or value.startswith("$.") or value.startswith("$["))


def resolve_json_path(document: Any, path: str, default: Any = _MISSING) -> Any:
    """Evaluate a simple JSON path (`$.a.b`, `$.a[0]`, `$['a-b']`, `$.detail-type`) against `document`.

    Raises TargetInputError when the path is malformed, or when it matches nothing and no default is given.
    """
    if not is_json_path(path):
        raise TargetInputError(f"JSON path {path!r} must start with '$'")
    position, current = 1, document
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match:
            raise TargetInputError(f"JSON path {path!r} cannot be parsed at character {position + 1}")
        name, index, quoted_single, quoted_double = match.groups()
        key = name if name is not None else quoted_single if quoted_single is not None else quoted_double
        if index is not None:
            found = current[int(index)] if isinstance(current, list) and int(index) < len(current) else _MISSING
        else:
            found = current.get(key, _MISSING) if isinstance(current, dict) else _MISSING
        if found is _MISSING:
            if default is _MISSING:
                raise TargetInputError(f"JSON path {path!r} matches nothing in the event")
            return default
        current, position = found, match.end()
    return current


def render_input_template(template: str, values: dict[str, Any]) -> Any:
    """Fill `<name>` placeholders of an InputTransformer template; unknown placeholders are left as they are."""
    stripped = template.lstrip()
    if not stripped.startswith(("{", "[", '"')):
        text = _PLACEHOLDER.sub(
            lambda m: _as_text(values[m.group(1)]) if m.group(1) in values else m.group(0), template
        )
        return text
    rendered: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if in_string and char == "\\":
            rendered.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match and match.group(1) in values:
                value = values[match.group(1)]
                rendered.append(json.dumps(_as_text(value))[1:-1] if in_string else json.dumps(value))
                position = match.end()
                continue
        rendered.append(char)
        position += 1
    text = "".join(rendered)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TargetInputError(f"InputTemplate does not give valid JSON after substitution ({error}): {text}") from None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_name: str, rule_arn: str) -> Any:
    """The payload EventBridge would send to `target` for `event` (a dict, list, string or number)."""
    if target.get("Input") is not None:
        try:
            return json.loads(target["Input"])
        except json.JSONDecodeError as error:
            raise TargetInputError(f"target {target.get('Id')!r}: Input is not valid JSON ({error})") from None
    if target.get("InputPath"):
        return resolve_json_path(event, target["InputPath"], default=None)
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, Any] = {
            name: resolve_json_path(event, path, default=None)
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values.setdefault("aws.events.rule-arn", rule_arn)
        values.setdefault("aws.events.rule-name", rule_name)
        values.setdefault("aws.events.event", event)
        values.setdefault("aws.events.event.json", event)
        values.setdefault("aws.events.event.ingestion-time", event.get("time"))
        return render_input_template(transformer.get("InputTemplate", ""), values)
    return event


def resolve_pipeline_parameters(parameters: list[dict[str, Any]], event: dict[str, Any]) -> list[dict[str, str]]:
    """`PipelineParameterList` with every whole-JSON-path value replaced by the event's value (as a string)."""
    resolved = []
    for parameter in parameters:
        name, value = parameter.get("Name"), parameter.get("Value")
        if is_json_path(value):
            try:
                found = resolve_json_path(event, value)
            except TargetInputError as error:
                raise TargetInputError(f"pipeline parameter {name!r}: {error}") from None
            value = found if isinstance(found, str) else json.dumps(found)
        resolved.append({"Name": name, "Value": value})
    return resolved
