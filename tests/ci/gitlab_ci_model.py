"""A small model of how GitLab reads `.gitlab-ci.yml`, for the CI configuration tests.

It resolves `extends:` (hashes deep-merged, everything else replaced, parents applied in order, then the job's
own keys) and `default:`, and evaluates `rules:if` expressions for a given set of pipeline variables, so
tests can ask "which jobs run, and how, in a merge-request pipeline?". Expression syntax it does not know is
an error, never a silent "false".
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Top-level keys that are not jobs.
RESERVED_KEYS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
                 "before_script", "after_script", "spec"}
# Keys `default:` gives to jobs that do not set them.
DEFAULT_KEYS = {"image", "services", "cache", "before_script", "after_script", "interruptible", "retry",
                "timeout", "tags", "artifacts", "hooks", "id_tokens"}


class CiConfigError(ValueError):
    pass


class _ReferenceLoader(yaml.SafeLoader):
    """SafeLoader that keeps GitLab's `!reference [job, key]` as a marker instead of failing."""


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, list[str]]:
    return {"!reference": loader.construct_sequence(node)}


_ReferenceLoader.add_constructor("!reference", _reference)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ReferenceLoader)  # noqa: S506 (safe subclass)
    if not isinstance(data, dict):
        raise CiConfigError(f"{path}: top level is not a mapping")
    return data


def job_names(config: dict[str, Any]) -> list[str]:
    return [name for name, value in config.items()
            if name not in RESERVED_KEYS and not name.startswith(".") and isinstance(value, dict)]


def template_names(config: dict[str, Any]) -> list[str]:
    return [name for name in config if name.startswith(".")]


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(config: dict[str, Any], name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job or template `name` with its `extends:` chain applied (not `default:`)."""
    if name in _seen:
        raise CiConfigError(f"extends cycle: {' -> '.join((*_seen, name))}")
    if name not in config or not isinstance(config[name], dict):
        raise CiConfigError(f"'{_seen[-1] if _seen else name}' extends unknown '{name}'")
    own = config[name]
    parents = own.get("extends", [])
    parents = [parents] if isinstance(parents, str) else parents
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = _deep_merge(merged, resolve(config, parent, (*_seen, name)))
    merged = _deep_merge(merged, {k: v for k, v in own.items() if k != "extends"})
    return merged


def effective_job(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The job as a runner sees it: extends resolved, then `default:` filling keys the job does not set."""
    job = resolve(config, name)
    for key, value in (config.get("default") or {}).items():
        if key in DEFAULT_KEYS and key not in job:
            job[key] = copy.deepcopy(value)
    return job


def needed_jobs(job: dict[str, Any]) -> list[str]:
    names = []
    for need in job.get("needs", []) or []:
        names.append(need if isinstance(need, str) else need["job"])
    return names


# ------------------------------------------------------------------------------------------------ rules


_TOKEN = re.compile(r"""\s*(?:(?P<var>\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})
                      |(?P<str>"[^"]*"|'[^']*')
                      |(?P<op>==|!=|&&|\|\||\(|\)|=~|!~)
                      |(?P<regex>/(?:\\/|[^/])*/i?)
                      |(?P<null>null\b))""", re.VERBOSE)


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        found = _TOKEN.match(expression, position)
        if not found:
            raise CiConfigError(f"rules:if: cannot read '{expression[position:]}' in '{expression}'")
        kind = found.lastgroup
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    """Evaluate a `rules:if` expression: variables, strings, null, ==, !=, &&, ||, parentheses."""
    tokens = _tokens(expression)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise CiConfigError(f"rules:if: unexpected end of '{expression}'")
        position += 1
        return tokens[position - 1]

    def operand() -> str | None:
        kind, text = take()
        if kind == "var":
            return variables.get(text.strip("${}")) or None
        if kind == "str":
            return text[1:-1]
        if kind == "null":
            return None
        raise CiConfigError(f"rules:if: expected a value, found '{text}' in '{expression}'")

    def primary() -> bool:
        token = peek()
        if token == ("op", "("):
            take()
            value = disjunction()
            if take() != ("op", ")"):
                raise CiConfigError(f"rules:if: missing ')' in '{expression}'")
            return value
        left = operand()
        token = peek()
        if token and token[0] == "op" and token[1] in ("=~", "!~"):
            raise CiConfigError(f"rules:if: regular-expression matches are not modelled ('{expression}')")
        if token in (("op", "=="), ("op", "!=")):
            take()
            right = operand()
            return (left == right) if token[1] == "==" else (left != right)
        return left is not None and left != ""

    def conjunction() -> bool:
        value = primary()
        while peek() == ("op", "&&"):
            take()
            value = primary() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == ("op", "||"):
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if position != len(tokens):
        raise CiConfigError(f"rules:if: trailing '{tokens[position][1]}' in '{expression}'")
    return result


@dataclass(frozen=True)
class Decision:
    included: bool
    when: str = "on_success"
    allow_failure: bool = False


def decide(rules: list[dict[str, Any]] | None, variables: dict[str, str]) -> Decision:
    """GitLab's rules semantics: the first rule whose `if` (if any) holds decides; no match = not included."""
    if rules is None:
        return Decision(True)
    for rule in rules:
        unsupported = set(rule) - {"if", "when", "allow_failure", "variables"}
        if unsupported:
            raise CiConfigError(f"rules keys not modelled: {sorted(unsupported)}")
        if "if" in rule and not evaluate(rule["if"], variables):
            continue
        when = rule.get("when", "on_success")
        if when == "never":
            return Decision(False)
        return Decision(True, when, bool(rule.get("allow_failure", False)))
    return Decision(False)


def yaml_variables(config: dict[str, Any], name: str) -> dict[str, str]:
    """The variables a job gets from the file: global `variables:` under the job's own (after extends). A
    variable may be a plain value or {value: ..., description: ...}."""
    merged = {**(config.get("variables") or {}), **(resolve(config, name).get("variables") or {})}
    return {key: str(value["value"] if isinstance(value, dict) else value) for key, value in merged.items()}


def pipeline_jobs(config: dict[str, Any], variables: dict[str, str]) -> dict[str, Decision] | None:
    """Jobs of the pipeline GitLab would create for these variables (None: workflow rules create none)."""
    workflow = (config.get("workflow") or {}).get("rules")
    if workflow is not None and not decide(workflow, variables).included:
        return None
    jobs = {}
    for name in job_names(config):
        job = resolve(config, name)
        merged = {**yaml_variables(config, name), **variables}  # pipeline variables override the file's
        decision = decide(job.get("rules"), merged)
        if decision.included:
            allow = job.get("allow_failure", decision.allow_failure if decision.when != "manual" else False)
            jobs[name] = Decision(True, decision.when, bool(allow))
    return jobs
