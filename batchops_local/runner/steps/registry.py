"""Model and RegisterModel steps: no container runs, they are CreateModel / CreateModelPackage calls against
the emulator (aws-contracts §8.6), so registry queries and approval events work as on AWS."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from batchops_local.runner.errors import StepFailed
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.jobs import job_name


def api_request(context: StepContext, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Keep the members the API accepts; anything else is named in the log (never silently sent or lost)."""
    members = context.aws.sagemaker.meta.service_model.operation_model(operation).input_shape.members
    dropped = sorted(set(arguments) - set(members))
    if dropped:
        context.log.note(f"{operation}: ignoring argument(s) the API does not take: {', '.join(dropped)}")
    return {key: value for key, value in arguments.items() if key in members and value is not None}


def call(context: StepContext, operation: str, **request: Any) -> dict[str, Any]:
    method = getattr(context.aws.sagemaker, _snake(operation))
    try:
        return method(**request)
    except ParamValidationError as exc:
        raise StepFailed(f"{operation} request is invalid: {exc}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StepFailed(f"{operation} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def run_model(context: StepContext) -> StepResult:
    arguments = context.arguments()
    name = arguments.get("ModelName") or job_name(context.execution_id, context.name)
    request = api_request(context, "CreateModel", {**arguments, "ModelName": name})
    context.aws.check_job_network(request.get("VpcConfig"), "CreateModel")
    response = call(context, "CreateModel", **request)
    arn = response["ModelArn"]
    context.metadata["Model"] = {"Arn": arn}
    context.log.note(f"created model {name} ({arn})")
    return StepResult(properties={**arguments, "ModelName": name, "ModelArn": arn})


def run_register_model(context: StepContext) -> StepResult:
    arguments = context.arguments()
    if not arguments.get("ModelPackageGroupName"):
        raise StepFailed(f"RegisterModel step '{context.name}': ModelPackageGroupName is required")
    arguments.setdefault("ModelApprovalStatus", "PendingManualApproval")
    metadata_properties = dict(arguments.get("MetadataProperties") or {})
    metadata_properties.setdefault("GeneratedBy", context.request.execution_arn)
    arguments["MetadataProperties"] = metadata_properties
    request = api_request(context, "CreateModelPackage", arguments)
    response = call(context, "CreateModelPackage", **request)
    arn = response["ModelPackageArn"]
    context.metadata["RegisterModel"] = {"Arn": arn}
    context.log.note(f"registered {arn} as {arguments['ModelApprovalStatus']}")
    return StepResult(properties={**arguments, "ModelPackageArn": arn})
