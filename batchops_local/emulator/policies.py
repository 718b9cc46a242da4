"""IAM policy evaluation: statement conditions (any request) and cross-account access (resource policy AND identity
policy).

AWS allows a request from one account to a resource of another only when the resource's own policy (bucket
policy, key policy, model package group policy) allows the calling principal and the caller's identity-based
policies allow it too, and no statement of either denies it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
moto evaluates neither across accounts; the services' patches ask `cross_account_denial` here. Requests within
one account are left as moto answers them (the single-account stack is unchanged).

Denials read as AWS words them (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html):
"User: <caller> is not authorized to perform: <action> on resource: <resource> because no resource-based policy
allows the <action> action".
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from .accounts import Caller

ALLOW = "Allow"
DENY = "Deny"


# ------------------------------------------------------------------------------------------- conditions


def conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """True when every operator/key/value condition holds for the request context (keys in lower case, as IAM
    compares them case-insensitively). Keys absent from the context follow IAM's rules for absent keys
    (`...IfExists` and negated operators hold, `Null` checks absence, the others do not hold)."""
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


def request_context(caller: Caller) -> dict[str, str]:
    """The global condition keys the emulator knows for a caller's request (the emulator stands in for AWS's
    HTTPS endpoints, so every request counts as secure transport)."""
    return {
        "aws:securetransport": "true",
        "aws:principalaccount": caller.account_id,
        "aws:principalarn": caller.role_arn or caller.arn,
    }


# ------------------------------------------------------------------------------------------- statements


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches_any(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    for pattern in _listed(patterns):
        if ignore_case and fnmatch.fnmatchcase(value.lower(), str(pattern).lower()):
            return True
        if not ignore_case and fnmatch.fnmatchcase(value, str(pattern)):
            return True
    return False


def _principal_matches(principal: Any, caller: Caller) -> bool:
    """`Principal` naming the caller: everyone (`*`), its account (id or root ARN: the account delegates to its
    own identity policies), its role (for an assumed-role session) or exactly its ARN."""
    if principal == "*":
        return True
    names = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    for name in names:
        name = str(name)
        if name in ("*", caller.account_id, caller.account_root, caller.arn) or name == caller.role_arn:
            return True
    return False


def _statement_applies(statement: dict[str, Any], action: str, resources: list[str], caller: Caller | None,
                       context: dict[str, str]) -> bool:
    if "NotAction" in statement:
        if _matches_any(statement["NotAction"], action, ignore_case=True):
            return False
    elif not _matches_any(statement.get("Action"), action, ignore_case=True):
        return False
    if "NotResource" in statement:
        if any(_matches_any(statement["NotResource"], r, ignore_case=False) for r in resources):
            return False
    elif "Resource" in statement and not any(_matches_any(statement["Resource"], r, ignore_case=False)
                                             for r in resources):
        return False
    if caller is not None:
        if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], caller):
            return False
        if "Principal" in statement and not _principal_matches(statement["Principal"], caller):
            return False
    return conditions_hold(statement.get("Condition") or {}, context)


def evaluate(document: Any, action: str, resources: list[str], caller: Caller | None,
             context: dict[str, str]) -> str | None:
    """ALLOW, DENY (an explicit Deny wins) or None (no statement applies) for one policy document (a JSON string
    or parsed). `resources`: the request's resource ARN and the other ARNs a statement may name it by (a package
    by its group). `caller` None: the document is an identity policy (its statements name no principal)."""
    if isinstance(document, bytes):
        document = document.decode()
    if isinstance(document, str):
        document = json.loads(document)
    result = None
    for statement in _listed((document or {}).get("Statement")):
        if isinstance(statement, dict) and _statement_applies(statement, action, resources, caller, context):
            if statement.get("Effect") == DENY:
                return DENY
            if statement.get("Effect") == ALLOW:
                result = ALLOW
    return result


def identity_policies(caller: Caller) -> list[Any]:
    """The identity-based policies of the caller's role or user (inline and attached managed policies)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[caller.account_id][caller.partition]
    if caller.role_arn is not None:
        try:
            principal = backend.get_role_by_arn(caller.role_arn)
        except Exception:  # a session of a role deleted since (or never created): it has no policies
            return []
    else:
        principal = next((u for u in backend.users.values() if u.arn == caller.arn), None)
        if principal is None:
            return []
    documents = list(principal.policies.values())
    for policy in principal.managed_policies.values():
        documents += [v.document for v in policy.versions if v.version_id == policy.default_version_id]
    return documents


def _identity_result(caller: Caller, action: str, resources: list[str], context: dict[str, str]) -> str | None:
    if caller.is_root:
        return ALLOW  # an account's root user may do anything in its account that no policy denies
    results = [evaluate(document, action, resources, None, context) for document in identity_policies(caller)]
    return DENY if DENY in results else ALLOW if ALLOW in results else None


def cross_account_denial(caller: Caller, owner_account: str, action: str, resource: str,
                         resource_policy: Any | None, *, also_named: tuple[str, ...] = (),
                         service_keys: dict[str, str] | None = None) -> str | None:
    """None when the request is allowed; else AWS's AccessDenied message. Requests of the owner account itself
    are not evaluated here (moto's own behaviour stands). `also_named`: other ARNs statements may name the
    resource by; `service_keys`: the request's service-specific condition keys (lower case), e.g. s3:prefix."""
    if caller.account_id == owner_account:
        return None
    context = {**request_context(caller), **(service_keys or {})}
    resources = [resource, *also_named]
    prefix = f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"
    by_resource = evaluate(resource_policy, action, resources, caller, context) if resource_policy else None
    if by_resource == DENY:
        return f"{prefix} with an explicit deny in a resource-based policy"
    if by_resource != ALLOW:
        return f"{prefix} because no resource-based policy allows the {action} action"
    by_identity = _identity_result(caller, action, resources, context)
    if by_identity == DENY:
        return f"{prefix} with an explicit deny in an identity-based policy"
    if by_identity != ALLOW:
        return f"{prefix} because no identity-based policy allows the {action} action"
    return None
