"""Create or update the three pipelines from their definitions: `upsert_pipelines(settings, boto_session=...)`.

Step scripts are uploaded first (content-addressed, never overwritten). Each pipeline is then created, updated
when its definition, role or tags differ, or left alone; a pipeline is never deleted, so its execution history
is kept. The clients come from the given boto3 session (against the local emulator its clients carry the
emulator's endpoint, or botocore takes it from AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from batchops_core import contracts
from batchops_core.settings import Settings
from pipelines.common.code import shipped_files
from pipelines.common.context import StackResources, execution_role_arn
from pipelines.definitions import build_definitions


class StackNotApplied(ValueError):
    """The settings need resources of the applied stack that the account does not have (yet)."""


@dataclass(frozen=True)
class BuiltDefinitions:
    """Definitions built for exactly these inputs; an upsert reuses them only when its own inputs are equal."""

    settings: Settings  # already completed for the account (`Settings.for_account`)
    account_id: str
    stack: StackResources
    definitions: dict[str, str]

    def made_from(self, settings: Settings, account_id: str, stack: StackResources) -> bool:
        return (self.settings, self.account_id, self.stack) == (settings.for_account(account_id), account_id, stack)


@dataclass(frozen=True)
class UpsertResult:
    pipeline: str
    action: str  # created | updated | unchanged


def upload_step_scripts(settings: Settings, s3: Any) -> list[str]:
    """Upload each shipped file (scripts, core modules, dataset schema) to its content-addressed key unless it is
    already there; returns the new keys."""
    uploaded = []
    for script in shipped_files(settings):
        key = script.key(settings)
        try:
            s3.head_object(Bucket=settings.bucket, Key=key)
            continue
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        content_type = "application/json" if script.name.endswith(".json") else "text/x-python"
        s3.put_object(Bucket=settings.bucket, Key=key, Body=script.read_bytes(), ContentType=content_type)
        uploaded.append(key)
    return uploaded


def stack_resources(settings: Settings, boto_session: Any) -> StackResources:
    """The applied stack's data key (when the stack created it) and the subnets/security group it created."""
    key = settings.storage.kms_key_arn
    if not key:
        kms = boto_session.client("kms", region_name=settings.region)
        try:
            key = kms.describe_key(KeyId=f"alias/{settings.resource_prefix}-data")["KeyMetadata"]["Arn"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NotFoundException":
                raise
            key = ""  # no key of the stack in the account (not applied there): SageMaker's default keys
    if not settings.network.create_vpc:
        return StackResources(data_kms_key_arn=key)
    ec2 = boto_session.client("ec2", region_name=settings.region)
    tagged = [{"Name": f"tag:{contracts.JOB_NETWORK_TAG}", "Values": [settings.resource_prefix]}]
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"])
    groups = sorted(g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"])
    if not subnets or not groups:
        raise StackNotApplied(f"network.create_vpc = true but the stack's subnets or security group (tag "
                              f"{contracts.JOB_NETWORK_TAG}={settings.resource_prefix}) are not in the account: "
                              "apply the Terraform stack first")
    return StackResources(data_kms_key_arn=key, subnets=subnets, security_group_ids=groups)


def build_for_stack(settings: Settings, *, account_id: str, stack: StackResources) -> BuiltDefinitions:
    """The definitions for these settings in this account with the applied stack's resources."""
    settings = settings.for_account(account_id)  # the bucket name may carry the account id
    definitions = build_definitions(settings, account_id=account_id, stack=stack)
    return BuiltDefinitions(settings, account_id, stack, definitions)


def upsert_pipelines(settings: Settings, *, boto_session: Any, account_id: str | None = None,
                     built: BuiltDefinitions | None = None) -> list[UpsertResult]:
    """`built`: definitions built earlier (the demo builds them while Terraform applies), used only when built
    from the settings, account and stack resources this upsert finds; otherwise they are built here."""
    if account_id is None:
        account_id = boto_session.client("sts", region_name=settings.region).get_caller_identity()["Account"]
    settings = settings.for_account(account_id)
    stack = stack_resources(settings, boto_session)
    if built is None or not built.made_from(settings, account_id, stack):
        built = build_for_stack(settings, account_id=account_id, stack=stack)
    definitions = built.definitions
    upload_step_scripts(settings, boto_session.client("s3", region_name=settings.region))
    sagemaker = boto_session.client("sagemaker", region_name=settings.region)
    role = execution_role_arn(settings, account_id)
    tags = [{"Key": key, "Value": value} for key, value in sorted(settings.tags.items())]
    results = []
    for key, definition in definitions.items():
        name = settings.pipelines.name_of(key)
        action = _upsert_one(sagemaker, name, definition, role, tags, description=f"{settings.project} {key} pipeline")
        print(f"pipeline {name}: {action}")
        results.append(UpsertResult(name, action))
    return results


def _upsert_one(sagemaker: Any, name: str, definition: str, role: str, tags: list[dict[str, str]], *,
                description: str) -> str:
    try:
        current = sagemaker.describe_pipeline(PipelineName=name)
    except ClientError as error:
        if not _is_not_found(error):
            raise
        sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=role,
                                  PipelineDescription=description, Tags=tags)
        return "created"
    changed = False
    stored = json.loads(current.get("PipelineDefinition") or "{}")
    if stored != json.loads(definition) or current.get("RoleArn") != role:
        sagemaker.update_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=role,
                                  PipelineDescription=description)
        changed = True
    present = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=current["PipelineArn"]).get("Tags", [])}
    missing = [t for t in tags if present.get(t["Key"]) != t["Value"]]
    if missing:
        sagemaker.add_tags(ResourceArn=current["PipelineArn"], Tags=missing)
        changed = True
    return "updated" if changed else "unchanged"


def _is_not_found(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in ("ResourceNotFound", "ResourceNotFoundException") or (
        code == "ValidationException" and ("does not exist" in message or "Could not find" in message))
