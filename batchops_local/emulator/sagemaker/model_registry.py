"""SageMaker model registry behaviour moto lacks.

- `UpdateModelPackage` keeps what the request omits (moto overwrote the approval status, the approval
  description and CustomerMetadataProperties with None); CustomerMetadataProperties are merged;
- `DeleteModelPackage` and `DeleteModelPackageGroup` exist (deleting a group deletes its versions, so a
  local `terraform destroy` succeeds after pipelines registered models);
- version numbers keep increasing after a delete, as on AWS (moto reused them and overwrote packages);
- `SageMaker Model Package State Change` events on creation and on every approval-status change;
- `CreateModel` with a container's `ModelPackageName` takes the package's inference container (Image,
  ModelDataUrl, Environment), so `DescribeModel` shows what would be served; an unknown package is refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import AWSValidationException, ValidationError
from moto.sagemaker.models import ModelPackage, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from ..events.bus import emit_service_event, iso_time
from ..patching import Patcher
from .group_policies import find_package

STATE_CHANGE_DETAIL_TYPE = "SageMaker Model Package State Change"
_EVENT_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageName",
    "ModelPackageDescription",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "InferenceSpecification",
    "ModelMetrics",
    "MetadataProperties",
    "DriftCheckBaselines",
    "CustomerMetadataProperties",
    "CreationTime",
    "LastModifiedTime",
    "CertifyForMarketplace",
)

_original_create: Any = None
_original_update: Any = None
_original_create_model: Any = None


def install(patcher: Patcher) -> None:
    global _original_create, _original_update, _original_create_model
    _original_create = patcher.replace(SageMakerModelBackend, "create_model_package", _create_model_package)
    _original_update = patcher.replace(SageMakerModelBackend, "update_model_package", _update_model_package)
    patcher.replace(SageMakerResponse, "delete_model_package", _delete_model_package_response)
    patcher.replace(SageMakerResponse, "delete_model_package_group", _delete_model_package_group_response)
    _original_create_model = patcher.replace(SageMakerModelBackend, "create_model", _create_model)


# ------------------------------------------------------------------------------------------- create


def _create_model_package(self: SageMakerModelBackend, **kwargs: Any) -> str:
    group = kwargs.get("model_package_group_name")
    if not group or kwargs.get("model_package_name"):
        arn = _original_create(self, **kwargs)  # unversioned packages and moto's own validation errors
    else:
        arn = _create_versioned_package(self, group, kwargs)
    package = self.model_packages[arn]
    if package.model_package_version is not None:
        _emit_state_change(self, package)
    return arn


def _create_versioned_package(self: SageMakerModelBackend, group: str, kwargs: dict[str, Any]) -> str:
    if group not in self.model_package_groups:
        raise AWSValidationException(
            "An error occurred (ValidationException) when calling the CreateModelPackage operation: "
            f"Model Package Group {group} does not exist."
        )
    versions = [
        p.model_package_version or 0 for p in self.model_packages.values() if p.model_package_group_name == group
    ]
    highest = _highest_versions(self)
    version = max([highest.get(group, 0), *versions]) + 1
    highest[group] = version
    package = ModelPackage(
        model_package_name=group,
        model_package_group_name=group,
        model_package_version=version,
        model_package_description=kwargs.get("model_package_description"),
        inference_specification=kwargs.get("inference_specification"),
        source_algorithm_specification=kwargs.get("source_algorithm_specification"),
        validation_specification=kwargs.get("validation_specification"),
        certify_for_marketplace=kwargs.get("certify_for_marketplace", False),
        model_approval_status=kwargs.get("model_approval_status"),
        metadata_properties=kwargs.get("metadata_properties"),
        model_metrics=kwargs.get("model_metrics"),
        approval_description=None,
        customer_metadata_properties=kwargs.get("customer_metadata_properties"),
        drift_check_baselines=kwargs.get("drift_check_baselines"),
        domain=kwargs.get("domain"),
        task=kwargs.get("task"),
        sample_payload_url=kwargs.get("sample_payload_url"),
        additional_inference_specifications=kwargs.get("additional_inference_specifications"),
        client_token=kwargs.get("client_token"),
        region_name=self.region_name,
        account_id=self.account_id,
        model_package_type="Versioned",
        tags=kwargs.get("tags"),
    )
    if package.model_approval_status is None:
        package.model_approval_status = "PendingManualApproval"  # the AWS default for a new version
    self.model_package_name_mapping[group] = package.arn
    self.model_package_name_mapping[package.arn] = package.arn
    self.model_packages[package.arn] = package
    return package.arn


def _highest_versions(backend: SageMakerModelBackend) -> dict[str, int]:
    if not hasattr(backend, "_batchops_highest_versions"):
        backend._batchops_highest_versions = {}  # type: ignore[attr-defined]
    return backend._batchops_highest_versions  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------- update


def _update_model_package(
    self: SageMakerModelBackend,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    customer_metadata_properties_to_remove: list[str],
    additional_inference_specifications_to_add: list[Any] | None,
) -> str:
    package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
    if package is None:
        raise ValidationError(f"Model package {model_package_arn} not found")
    previous_status = package.model_approval_status
    merged_properties = dict(package.customer_metadata_properties or {})
    merged_properties.update(customer_metadata_properties or {})
    keep_none = package.customer_metadata_properties is None and not customer_metadata_properties
    arn = _original_update(
        self,
        model_package_arn=model_package_arn,
        model_approval_status=model_approval_status if model_approval_status is not None else previous_status,
        approval_description=approval_description if approval_description is not None else package.approval_description,
        customer_metadata_properties=None
        if keep_none and not customer_metadata_properties_to_remove
        else merged_properties,
        customer_metadata_properties_to_remove=customer_metadata_properties_to_remove,
        additional_inference_specifications_to_add=additional_inference_specifications_to_add,
    )
    if package.model_approval_status != previous_status and package.model_package_version is not None:
        _emit_state_change(self, package)
    return arn


# ------------------------------------------------------------------------------------------- delete


def _delete_model_package_response(self: SageMakerResponse) -> ActionResult:
    name = self._get_param("ModelPackageName")
    delete_model_package(self.sagemaker_backend, name)
    return EmptyResult()


def _delete_model_package_group_response(self: SageMakerResponse) -> ActionResult:
    name = self._get_param("ModelPackageGroupName")
    backend = self.sagemaker_backend
    if name not in backend.model_package_groups:
        group_names = [g for g, v in backend.model_package_groups.items() if v.arn == name]
        if not group_names:
            raise ValidationError(f"ModelPackageGroup {name} does not exist.")
        name = group_names[0]
    for arn, package in list(backend.model_packages.items()):
        if package.model_package_group_name == name:
            delete_model_package(backend, arn)
    del backend.model_package_groups[name]
    backend.model_package_name_mapping.pop(name, None)
    _highest_versions(backend).pop(name, None)
    return EmptyResult()


def delete_model_package(backend: SageMakerModelBackend, name_or_arn: str) -> None:
    arn = backend.model_package_name_mapping.get(name_or_arn, name_or_arn)
    package = backend.model_packages.pop(arn, None)
    if package is None:
        raise ValidationError(f"Model package {name_or_arn} does not exist.")
    for key, value in list(backend.model_package_name_mapping.items()):
        if value == arn:
            del backend.model_package_name_mapping[key]
    group = package.model_package_group_name
    if group:
        remaining = [p for p in backend.model_packages.values() if p.model_package_group_name == group]
        if remaining:
            backend.model_package_name_mapping[group] = max(remaining, key=lambda p: p.model_package_version or 0).arn


# ------------------------------------------------------------------------------------------- models


def _create_model(self: SageMakerModelBackend, **kwargs: Any) -> Any:
    """ContainerDefinition.ModelPackageName: "The name or Amazon Resource Name (ARN) of the model package to use
    to create the model" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html);
    the model then runs the package's inference container with its image, model data and environment."""
    if kwargs.get("primary_container"):
        kwargs["primary_container"] = _from_package(self, kwargs["primary_container"], "PrimaryContainer")
    if kwargs.get("containers"):
        kwargs["containers"] = [_from_package(self, container, f"Containers[{index}]")
                                for index, container in enumerate(kwargs["containers"])]
    return _original_create_model(self, **kwargs)


def _from_package(backend: SageMakerModelBackend, container: dict[str, Any], where: str) -> dict[str, Any]:
    name = container.get("ModelPackageName")
    if not name:
        return container
    package = find_package(backend, name)  # another account's package by ARN too (its access is checked before)
    if package is None:
        # The same ValidationException as DescribeModelPackage for an unknown package.
        raise ValidationError(f"{where}.ModelPackageName: Model package {name} not found")
    specification = package.inference_specification or {}
    spec_name = container.get("InferenceSpecificationName")
    if spec_name:
        additional = {s.get("Name"): s for s in package.additional_inference_specifications or []}
        if spec_name not in additional:
            raise ValidationError(f"{where}.InferenceSpecificationName: model package {package.arn} has no "
                                  f"additional inference specification named {spec_name}")
        specification = additional[spec_name]
    package_containers = specification.get("Containers") or []
    if len(package_containers) != 1:
        # A package with several containers is a serial inference pipeline; the emulator does not build one.
        raise ValidationError(f"{where}.ModelPackageName: model package {package.arn} has "
                              f"{len(package_containers)} inference containers; the local emulator serves "
                              "packages with exactly one")
    source = package_containers[0]
    resolved = {key: source[key] for key in ("Image", "ModelDataUrl") if source.get(key)}
    # The request's Environment adds to (and overrides) the package's, as the SDK's ModelPackage(env=...) relies on.
    environment = {**(source.get("Environment") or {}), **(container.get("Environment") or {})}
    return {**resolved, **container, "Environment": environment}


# ------------------------------------------------------------------------------------------- events


def state_change_detail(package: ModelPackage) -> dict[str, Any]:
    described = package.gen_response_object()
    described["ModelPackageName"] = package.model_package_name
    described["ModelPackageGroupName"] = package.model_package_group_name
    detail = {key: described[key] for key in _EVENT_FIELDS if described.get(key) is not None}
    return json.loads(json.dumps(detail, default=_json_default))


def _emit_state_change(backend: SageMakerModelBackend, package: ModelPackage) -> None:
    emit_service_event(
        source="aws.sagemaker",
        detail_type=STATE_CHANGE_DETAIL_TYPE,
        detail=state_change_detail(package),
        resources=[package.arn],
        account_id=backend.account_id,
        region=backend.region_name,
    )


def _json_default(value: Any) -> Any:
    return iso_time(value) if isinstance(value, datetime) else str(value)
