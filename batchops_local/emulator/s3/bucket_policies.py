"""S3 bucket policies evaluated as AWS evaluates them for requests over HTTPS.

moto only understands the `StringEquals` condition operator and treats every other one as satisfied, so
the usual `Deny s3:* when aws:SecureTransport is false` statement denied every request (HTTP 403). The
emulator stands in for AWS's HTTPS endpoint: requests carry `aws:SecureTransport = true`, and a statement
applies only when all of its conditions hold. Condition keys the emulator does not know are absent from
the request, with the IAM rules for absent keys (`...IfExists` and negated operators hold, `Null` checks
absence, the others do not hold).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.models import FakeBucket

from ..patching import Patcher

REQUEST_CONTEXT = {"aws:securetransport": "true"}  # keys are case-insensitive in IAM


def install(patcher: Patcher) -> None:
    patcher.replace(FakeBucket, "get_permission", _get_permission)


def _get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    statements = document.get("Statement", [])
    permitted = False
    for raw in statements if isinstance(statements, list) else [statements]:
        if not conditions_hold(raw.get("Condition") or {}, REQUEST_CONTEXT):
            continue  # a statement whose conditions do not hold does not apply at all
        unconditional = {key: value for key, value in raw.items() if key != "Condition"}
        result = IAMPolicyStatement(unconditional).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """True when every operator/key/value condition holds for the request context."""
    for operator, checks in conditions.items():
        for key, expected in checks.items():
            values = expected if isinstance(expected, list) else [expected]
            if not _holds(operator, context.get(key.lower()), [str(v) for v in values]):
                return False
    return True


def _holds(operator: str, actual: str | None, expected: list[str]) -> bool:
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = "Not" in base
    if actual is None:
        return if_exists or negated
    positive = base.replace("Not", "")
    if positive == "Bool":
        matched = any(actual.lower() == value.lower() for value in expected)
    elif positive == "StringEquals" or positive == "ArnEquals":
        matched = actual in expected
    elif positive == "StringEqualsIgnoreCase":
        matched = any(actual.lower() == value.lower() for value in expected)
    elif positive in ("StringLike", "ArnLike"):
        matched = any(fnmatch.fnmatchcase(actual, value) for value in expected)
    else:
        return negated  # an operator the emulator cannot evaluate: treat its key as absent
    return not matched if negated else matched
