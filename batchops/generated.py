"""Files generated from the core's single definitions, so that HCL, templates and docs never retype a fact.

`write_all()` regenerates them (`batchops dev regenerate`); `stale()` lists those that differ from what the
core says now, and a test fails on any. Each entry: the path in the repository and the function that renders it.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from batchops_core import contracts, metrics
from batchops_core.settings import (
    BUCKET_NAME_SUFFIXES,
    DERIVED_NAMES,
    NAME_PATTERN,
    PIPELINE_KEYS,
    PIPELINE_STEP_STATUSES,
    PROJECT_ROOT,
    Settings,
    max_environment_length,
)


def _contracts_json() -> str:
    return json.dumps(contracts.export(), indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------------------------------- settings -> HCL
# terraform/variables.tf: the description, type and default of each variable are generated between markers
# (validation blocks stay hand-written); terraform/derived.tf: the derived-name locals.

VARIABLES_TF = "terraform/variables.tf"
BEGIN_MARK = "# BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit"
END_MARK = "# END GENERATED"
_REGION = re.compile(r'(variable "(?P<name>[a-z_]+)" \{\n)  ' + re.escape(BEGIN_MARK) + r"\n.*?  "
                     + re.escape(END_MARK) + r"\n", re.DOTALL)


def _derived_template(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return extra.get("derived") if isinstance(extra, dict) else None


def _without_none(annotation: Any) -> Any:
    """`X | None` -> X (Terraform: an optional attribute whose default is null)."""
    args = typing.get_args(annotation)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return annotation


def _hcl_type(annotation: Any) -> str:
    annotation = _without_none(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "number" if all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args) else "string"
    if origin is list:
        return f"list({_hcl_type(args[0])})"
    if origin is dict:
        return f"map({_hcl_type(args[1])})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object({\n" + "\n".join(_align(_object_attributes(annotation))) + "\n})"
    simple = {str: "string", bool: "bool", int: "number", float: "number"}
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no Terraform type for {annotation!r}")


def _default_of(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def _is_optional(model: type[BaseModel], name: str) -> bool:
    """Whether the env file may leave the key out: it has a default, is derived, or is a block of such keys."""
    field = model.model_fields[name]
    if not field.is_required() or _derived_template(field):
        return True
    annotation = field.annotation
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)
            and all(_is_optional(annotation, key) for key in annotation.model_fields))


def _object_attributes(model: type[BaseModel]) -> list[tuple[str, str]]:
    out = []
    for name, field in model.model_fields.items():
        hcl_type = _hcl_type(field.annotation)
        if _derived_template(field):
            hcl_type = f"optional({hcl_type})"  # null: derived in terraform/derived.tf
        elif not field.is_required() and _default_of(field) is None:
            hcl_type = f"optional({hcl_type})"  # null: left out, the Python side derives it
        elif not field.is_required() and "\n" in hcl_type:
            # One argument per line: the layout `terraform fmt` leaves as it is for a multi-line type.
            arguments = f"{hcl_type},\n{_hcl_value(_default_of(field))}".split("\n")
            hcl_type = "\n".join(["optional(", *(f"  {line}" for line in arguments), ")"])
        elif not field.is_required():
            hcl_type = f"optional({hcl_type}, {_hcl_value(_default_of(field))})"
        elif _is_optional(model, name):
            hcl_type = f"optional({hcl_type}, {{}})"
        out.append((name, hcl_type))
    return out


def _hcl_string(text: str) -> str:
    # json.dumps escapes quotes, backslashes and control characters as HCL does; HCL also interpolates ${ and %{.
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def _hcl_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else _hcl_string(key)


def _hcl_value(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _hcl_string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if len(value) <= 2 and all(not isinstance(v, (dict, list)) for v in value.values()):
            return _inline(value)
        return "{\n" + "\n".join(_align([(_hcl_key(k), _hcl_value(v)) for k, v in value.items()])) + "\n}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list, BaseModel)) for v in value):
            return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
        return "[\n" + "\n".join(f"  {_inline(v)}," for v in value) + "\n]"
    raise TypeError(f"no HCL literal for {value!r}")


def _inline(value: dict[str, Any] | BaseModel) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return "{ " + ", ".join(f"{_hcl_key(k)} = {_hcl_value(v)}" for k, v in value.items()) + " }"


def _align(attributes: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """`key = value` lines aligned as `terraform fmt` does: runs of one-line attributes share the '=' column."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(key) for key, _ in run), default=0)
        lines.extend(f"{indent}{key.ljust(width)} = {value}" for key, value in run)
        run.clear()

    for key, value in attributes:
        if "\n" in value:
            flush()
            first, *rest = value.split("\n")
            lines.append(f"{indent}{key} = {first}")
            lines.extend(f"{indent}{line}" if line else line for line in rest)
        else:
            run.append((key, value))
    flush()
    return lines


def _variable_body(name: str) -> str:
    field = Settings.model_fields[name]
    attributes = [("description", _hcl_string(field.description or "")), ("type", _hcl_type(field.annotation))]
    if not field.is_required() and not isinstance(_default_of(field), BaseModel):
        attributes.append(("default", _hcl_value(_default_of(field))))
    elif _is_optional(Settings, name):  # a block of optional keys: Terraform fills in each key's default
        attributes.append(("default", "{}"))
    return "\n".join(["  " + BEGIN_MARK, *_align(attributes), "  " + END_MARK, ""])


def _variables_tf() -> str:
    current = (PROJECT_ROOT / VARIABLES_TF).read_text(encoding="utf-8")
    names = [name for name in Settings.model_fields if name != "source_file"]
    found = [match.group("name") for match in _REGION.finditer(current)]
    if sorted(found) != sorted(names):
        missing, extra = sorted(set(names) - set(found)), sorted(set(found) - set(names))
        raise ValueError(f"{VARIABLES_TF}: every settings key needs a variable block starting with a generated "
                         f"region; missing: {', '.join(missing) or '-'}; not a settings key: {', '.join(extra) or '-'}")
    return _REGION.sub(lambda match: match.group(1) + _variable_body(match.group("name")), current)


# local name -> (section, key) of the derived setting; pipeline names form one map keyed by pipeline kind.
_DERIVED_LOCALS = {"bucket_name": ("storage", "bucket_name"),
                   "model_package_group_name": ("pipelines", "model_package_group")}


def _bucket_name_expression() -> str:
    """The derived or explicit name, then storage.bucket_name_suffix (its templates come from the settings)."""
    account = "${local.account_id}"  # terraform/main.tf: data.aws_caller_identity.current.account_id
    suffixes = {key: template.format(region="${var.region}", account_id=account)
                for key, template in BUCKET_NAME_SUFFIXES.items()}
    # json.dumps, not _hcl_string: these templates interpolate on purpose.
    table = "{ " + ", ".join(f"{json.dumps(key)} = {json.dumps(value)}" for key, value in suffixes.items()) + " }"
    name = _derived_expression(*_DERIVED_LOCALS["bucket_name"])
    return f"join(\"\", [{name}, {table}[var.storage.bucket_name_suffix]])"


def _derived_expression(section: str, key: str) -> str:
    template = DERIVED_NAMES[(section, key)]
    hcl_template = template.replace("{project}", "${var.project}").replace("{environment}", "${var.environment}")
    return f'coalesce(var.{section}.{key}, "{hcl_template}")'


def _allowed_values(model: type[BaseModel] = Settings, path: str = "") -> dict[str, tuple[Any, ...]]:
    """`{"model.metric": ("mse", ...), "hpo.ranges[*].type": (...)}`: every key with a fixed set of choices."""
    out: dict[str, tuple[Any, ...]] = {}
    for name, field in model.model_fields.items():
        if name == "source_file":
            continue
        key, annotation = f"{path}{name}", _without_none(field.annotation)
        if typing.get_origin(annotation) is list:
            key, annotation = f"{key}[*]", typing.get_args(annotation)[0]
        if typing.get_origin(annotation) is typing.Literal:
            out[key] = typing.get_args(annotation)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(_allowed_values(annotation, f"{key}."))
    out["notifications.rules[*].status"] = PIPELINE_STEP_STATUSES  # a str checked by a validator
    return out


def _threshold_rules() -> dict[str, dict[str, Any]]:
    """`{"rmse": {"op": ">", "bound": 0}}`: each metric's threshold rule, for the model validation in HCL."""
    rules = {}
    for metric in metrics.METRICS.values():
        name = metric.name
        match = re.fullmatch(r"(>|>=|<|<=) (-?\d+(?:\.\d+)?)", metric.threshold_rule)
        if not match:
            raise ValueError(f"metric {name}: threshold rule '{metric.threshold_rule}' is not '<op> <number>', "
                             "which the Terraform validation understands")
        bound = float(match.group(2))
        rule = {"op": match.group(1), "bound": int(bound) if bound.is_integer() else bound}
        if rules.setdefault(name, rule) != rule:  # Terraform knows the metric name only, not the problem type
            raise ValueError(f"metric {name}: the threshold rule differs between problem types")
    return rules


def _derived_tf() -> str:
    pipelines = [(kind, _derived_expression("pipelines", f"{kind}_name")) for kind in PIPELINE_KEYS]
    attributes = [("bucket_name", _bucket_name_expression()),
                  ("pipeline_names", "{\n" + "\n".join(_align(pipelines)) + "\n}"),
                  ("model_package_group_name", _derived_expression(*_DERIVED_LOCALS["model_package_group_name"])),
                  ("allowed", "{\n" + "\n".join(_align([(_hcl_string(key), _hcl_value(list(values)))
                                                        for key, values in _allowed_values().items()])) + "\n}"),
                  ("threshold_rules", "{\n" + "\n".join(_align([(name, _inline(rule)) for name, rule
                                                                  in _threshold_rules().items()])) + "\n}"),
                  # Every derived name holds project and environment once: their lengths together are bounded.
                  ("environment_name", _inline({"pattern": NAME_PATTERN,
                                                "max_length_with_project": max_environment_length("")}))]
    header = ["# GENERATED by batchops.generated from batchops_core.settings: do not edit.",
              "# Names whose default is derived from project and environment (an explicit value in the env file",
              "# wins); for the validations, the allowed values of every key with a fixed set of choices and each",
              "# metric's threshold rule (batchops_core.metrics); the environment name's pattern and how long project",
              "# and environment may be together (the tightest AWS limit of the names derived from them).",
              ""]
    return "\n".join([*header, "locals {", *_align(attributes), "}", ""])


# ------------------------------------------------------------------------------------------- settings -> docs
# docs/bring-your-own-model.md: the table of script-mode keys between markers (the prose around it is hand-written).

BYOM_DOC = "docs/bring-your-own-model.md"
DOC_BEGIN_MARK = "<!-- BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit -->"
DOC_END_MARK = "<!-- END GENERATED -->"


def _doc_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _script_keys_table() -> str:
    """key | default | meaning of model.algorithm and every key of the script section."""
    from batchops_core.settings import ModelGates, Script

    rows = [("model.algorithm", ModelGates.model_fields["algorithm"])]
    rows += [(f"script.{name}", field) for name, field in Script.model_fields.items()]
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, field in rows:
        default = _default_of(field)
        if isinstance(default, list):
            default = [item.model_dump() if isinstance(item, BaseModel) else item for item in default]
        shown = f"`{json.dumps(default)}`" if not isinstance(default, str) else f"`{default}`"
        lines.append(f"| `{key}` | {_doc_cell(shown)} | {_doc_cell(field.description or '')} |")
    return "\n".join(lines)


def _byom_doc() -> str:
    current = (PROJECT_ROOT / BYOM_DOC).read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOC_BEGIN_MARK) + r"\n.*?" + re.escape(DOC_END_MARK), re.DOTALL)
    if not pattern.search(current):
        raise ValueError(f"{BYOM_DOC}: the generated table's markers are missing ({DOC_BEGIN_MARK} ... {DOC_END_MARK})")
    return pattern.sub(lambda _: f"{DOC_BEGIN_MARK}\n{_script_keys_table()}\n{DOC_END_MARK}", current)


GENERATED: dict[str, Callable[[], str]] = {
    "terraform/contracts.json": _contracts_json,
    VARIABLES_TF: _variables_tf,
    "terraform/derived.tf": _derived_tf,
    BYOM_DOC: _byom_doc,
}


def stale(root: Path = PROJECT_ROOT) -> list[str]:
    """Generated files whose content differs from what their renderer produces now (missing ones included)."""
    out = []
    for relative, render in GENERATED.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != render():
            out.append(relative)
    return out


def write_all(root: Path = PROJECT_ROOT) -> list[str]:
    """Rewrite every stale generated file; returns the paths written."""
    written = []
    for relative in stale(root):
        (root / relative).write_text(GENERATED[relative](), encoding="utf-8")
        written.append(relative)
    return written
