"""Evaluate identity policies as IAM does for one request: an explicit Deny wins, else any matching Allow, else the
implicit deny (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

Covers what the stack's policies use: Action/Resource with `*` and `?` wildcards (actions case-insensitive) and
the condition operators StringEquals, StringLike, ArnEquals, ArnLike and Bool; a condition key the request does
not carry fails its condition (no `...IfExists` operators are used). The emulator does not enforce IAM, so the
tests read the applied policies from it and evaluate them here.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    flags = re.IGNORECASE if ignore_case else 0
    return re.fullmatch(fnmatch.translate(pattern).replace("(?s:", "(?:", 1), value, flags) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    if key not in context:
        return False
    actual = context[key]
    options = _listed(expected)
    if operator in ("StringEquals", "ArnEquals"):
        return actual in options
    if operator in ("StringLike", "ArnLike"):
        return any(_matches(option, actual) for option in options)
    if operator == "Bool":
        return actual.lower() in (str(option).lower() for option in options)
    raise ValueError(f"condition operator {operator} is not simulated")


def _statement_applies(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    if not any(_matches(pattern, action, ignore_case=True) for pattern in _listed(statement["Action"])):
        return False
    if not any(_matches(pattern, resource) for pattern in _listed(statement["Resource"])):
        return False
    return all(_condition_holds(operator, key, expected, context)
               for operator, block in (statement.get("Condition") or {}).items()
               for key, expected in block.items())


def allowed(policies: Iterable[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether the policies (identity policies of one principal) allow `action` on `resource`."""
    statements = [s for policy in policies for s in _listed(policy["Statement"])]
    applying = [s for s in statements if _statement_applies(s, action, resource, context or {})]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)
