"""Model package group resource policies and cross-account access to a registry, as SageMaker does it.

- `PutModelPackageGroupPolicy` / `GetModelPackageGroupPolicy` / `DeleteModelPackageGroupPolicy` (moto has none;
  Terraform's `aws_sagemaker_model_package_group_policy` uses all three): the policy is kept on the group (and goes
  with it). The not-found messages contain what the Terraform provider matches ("Cannot find Model Package
  Group", "Cannot find resource policy"; terraform-provider-aws, model_package_group_policy.go).
- `DescribeModelPackage`, `ListModelPackages`, `DescribeModelPackageGroup` and `CreateModel`'s
  `ModelPackageName` accept another account's group or package by ARN ("Cross-account discoverability" in the
  SageMaker Developer Guide's Model Registry chapter; the policy API:
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PutModelPackageGroupPolicy.html): allowed only
  when the group's resource policy and the caller's identity policies allow the action
  (`policies.cross_account_denial`), else `AccessDeniedException`; allowed requests are answered from the owner
  account's registry.
- `DescribeModelPackageGroup` also accepts the group's ARN in its own account (moto only took the name).
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from .. import accounts
from ..patching import Patcher
from ..policies import cross_account_denial

REGISTRY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<type>model-package-group|model-package)/(?P<path>.+)$"
)

_originals: dict[str, Any] = {}


def install(patcher: Patcher) -> None:
    patcher.replace(SageMakerResponse, "put_model_package_group_policy", _put_policy)
    patcher.replace(SageMakerResponse, "get_model_package_group_policy", _get_policy)
    patcher.replace(SageMakerResponse, "delete_model_package_group_policy", _delete_policy)
    _originals["describe_group"] = patcher.replace(
        SageMakerModelBackend, "describe_model_package_group", _describe_model_package_group)
    _originals["create_model"] = patcher.replace(SageMakerResponse, "create_model", _create_model)
    for name, parameter, action in (
        ("describe_model_package", "ModelPackageName", "sagemaker:DescribeModelPackage"),
        ("list_model_packages", "ModelPackageGroupName", "sagemaker:ListModelPackages"),
        ("describe_model_package_group", "ModelPackageGroupName", "sagemaker:DescribeModelPackageGroup"),
    ):
        _originals[name] = patcher.replace(SageMakerResponse, name, _in_owner_account(name, parameter, action))


# ------------------------------------------------------------------------------------------- the policy API


def _group(backend: SageMakerModelBackend, name_or_arn: str) -> Any:
    group = backend.model_package_groups.get(name_or_arn)
    if group is None:
        group = next((g for g in backend.model_package_groups.values() if g.arn == name_or_arn), None)
    return group


def _describe_model_package_group(self: SageMakerModelBackend, model_package_group_name: str) -> Any:
    group = _group(self, model_package_group_name)
    return group if group is not None else _originals["describe_group"](self, model_package_group_name)


def _require_group(response: SageMakerResponse) -> Any:
    name = response._get_param("ModelPackageGroupName")
    group = _group(response.sagemaker_backend, name)
    if group is None:
        raise ValidationError(f"Cannot find Model Package Group {name}")
    return group


def _put_policy(self: SageMakerResponse) -> ActionResult:
    group = _require_group(self)
    document = self._get_param("ResourcePolicy")
    try:
        parsed = json.loads(document)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict) or not parsed.get("Statement"):
        raise ValidationError("ResourcePolicy: the resource policy must be a JSON policy document with a Statement")
    group.resource_policy = document
    return ActionResult({"ModelPackageGroupArn": group.arn})


def _get_policy(self: SageMakerResponse) -> ActionResult:
    group = _require_group(self)
    policy = getattr(group, "resource_policy", None)
    if policy is None:
        raise ValidationError(f"Cannot find resource policy for Model Package Group {group.arn}")
    return ActionResult({"ResourcePolicy": policy})


def _delete_policy(self: SageMakerResponse) -> EmptyResult:
    group = _require_group(self)
    if getattr(group, "resource_policy", None) is None:
        raise ValidationError(f"Cannot find resource policy for Model Package Group {group.arn}")
    group.resource_policy = None
    return EmptyResult()


# ------------------------------------------------------------------------------------------- cross-account


def owner_group(arn: str) -> tuple[str, Any, tuple[str, ...]] | None:
    """(owner account, the group or None, other ARNs a policy statement may name the resource by) for a registry
    ARN; None for a name. A group's policy names its versions by the group's ARN (Terraform's example) or by
    `model-package/<group>/*` (SageMaker's cross-account example): both count."""
    match = REGISTRY_ARN.match(arn or "")
    if match is None:
        return None
    owner = match["account"]
    prefix = f"arn:{match['partition']}:sagemaker:{match['region']}:{owner}"
    backend = sagemaker_backends[owner][match["region"]] if owner in sagemaker_backends else None
    if match["type"] == "model-package-group":
        group = _group(backend, match["path"]) if backend is not None else None
        return owner, group, (f"{prefix}:model-package/{match['path'].lower()}/*",)
    package = backend.model_packages.get(backend.model_package_name_mapping.get(arn, arn)) if backend else None
    group_name = package.model_package_group_name if package is not None else match["path"].split("/")[0]
    groups = backend.model_package_groups.items() if backend is not None else []
    group = next((g for name, g in groups if name.lower() == group_name.lower()), None)
    return owner, group, (group.arn if group is not None else f"{prefix}:model-package-group/{group_name}",)


def authorize(response: Any, arn: str, action: str) -> str | None:
    """The owner account of another account's registry ARN the caller may use for `action` (None: same account
    or a name); raises AccessDeniedException as SageMaker does when the group's policy does not allow it."""
    found = owner_group(arn)
    if found is None:
        return None
    owner, group, also_named = found
    caller = accounts.caller_of(response)
    denial = cross_account_denial(caller, owner, action, arn, getattr(group, "resource_policy", None),
                                  also_named=also_named)
    if denial is not None:
        # AccessDeniedException is one of AWS's common errors (HTTP 400), not in SageMaker's own model
        raise JsonRESTError("AccessDeniedException", denial)
    return owner if owner != caller.account_id else None


def _in_owner_account(name: str, parameter: str, action: str) -> Any:
    def handler(self: SageMakerResponse) -> Any:
        owner = authorize(self, self._get_param(parameter), action)
        if owner is None:
            return _originals[name](self)
        with accounts.answered_by(self, owner):  # answered from the owner's registry
            return _originals[name](self)

    handler.__name__ = name
    return handler


def _create_model(self: SageMakerResponse) -> Any:
    """A container naming another account's model package: the emulator reads the package's inference container
    (`model_registry`), so the caller must be allowed to describe it."""
    containers = [self._get_param("PrimaryContainer") or {}, *(self._get_param("Containers") or [])]
    for container in containers:
        if container.get("ModelPackageName"):
            authorize(self, container["ModelPackageName"], "sagemaker:DescribeModelPackage")
    return _originals["create_model"](self)


def find_package(backend: SageMakerModelBackend, name_or_arn: str) -> Any:
    """A model package by name or ARN, also another account's by ARN (after `authorize`); None if there is none."""
    match = REGISTRY_ARN.match(name_or_arn or "")
    if match is not None and match["account"] != backend.account_id:
        if match["account"] not in sagemaker_backends:
            return None
        backend = sagemaker_backends[match["account"]][match["region"]]
    return backend.model_packages.get(backend.model_package_name_mapping.get(name_or_arn, name_or_arn))
