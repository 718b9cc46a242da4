"""Where every job runs and what encrypts it: VPC, network isolation, inter-container encryption, KMS keys.

Every job-starting step builder takes its SDK arguments from here (`processing_kwargs`, `trainer_networking`, ...),
so a job cannot be built without them. The values come from the `network` settings and from the stack
(`context.StackResources`: the data key and the subnets/security group Terraform created), which the upsert reads from
the account; an offline build without them leaves out what only the stack knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchops_core.contracts import Step
from pipelines.common.context import BuildContext

# Step -> the step kind of `network.network_isolation` (batchops_core.settings.ISOLATABLE_STEP_KINDS). Steps that
# call AWS from their container (ResolveModel, ModelQualityCheck, PublishPredictions, a Preprocess that reads
# feedback) have no kind: they are never isolated.
STEP_KINDS = {
    Step.PREPROCESS: "preprocess",
    Step.DATA_QUALITY_BASELINE: "data_quality",
    Step.DATA_QUALITY_CHECK: "data_quality",
    Step.EVALUATE: "evaluate",
    Step.TRAIN: "training",
    Step.TUNE: "training",
    Step.CREATE_MODEL: "transform",  # the model's container serves the transform job
    Step.BATCH_TRANSFORM: "transform",
    Step.LABEL_PREDICTIONS: "transform",  # reads the transform's output, writes its own: no AWS calls
}


@dataclass(frozen=True)
class JobSecurity:
    """The resolved security of one job."""

    subnets: list[str]
    security_group_ids: list[str]
    network_isolation: bool
    encrypt_inter_container_traffic: bool
    kms_key_arn: str | None  # volumes and outputs; None: SageMaker's default (AWS-managed) keys


def job_security(ctx: BuildContext, step_name: str, *, calls_aws: bool = False) -> JobSecurity:
    """The security of the job `step_name` starts; `calls_aws`: its container calls AWS APIs (never isolated)."""
    network = ctx.settings.network
    stack = ctx.stack
    if network.create_vpc:
        subnets, groups = stack.subnets, stack.security_group_ids
    else:
        subnets, groups = network.subnets, network.security_group_ids
    kind = STEP_KINDS.get(step_name)
    key = network.job_kms_key_arn or ctx.settings.storage.kms_key_arn or stack.data_kms_key_arn
    return JobSecurity(subnets=list(subnets), security_group_ids=list(groups),
                       network_isolation=not calls_aws and kind is not None and network.isolated(kind),
                       encrypt_inter_container_traffic=network.encrypt_inter_container_traffic,
                       kms_key_arn=key or None)


def processing_kwargs(ctx: BuildContext, step_name: str, *, calls_aws: bool = False) -> dict[str, Any]:
    """network_config, volume_kms_key and output_kms_key of a processor or a quality-check job."""
    from sagemaker.core.network import NetworkConfig

    security = job_security(ctx, step_name, calls_aws=calls_aws)
    network_config = NetworkConfig(
        enable_network_isolation=security.network_isolation,
        subnets=security.subnets or None, security_group_ids=security.security_group_ids or None,
        encrypt_inter_container_traffic=security.encrypt_inter_container_traffic)
    return {"network_config": network_config, "volume_kms_key": security.kms_key_arn,
            "output_kms_key": security.kms_key_arn}


def trainer_networking(ctx: BuildContext, step_name: str) -> Any:
    """The ModelTrainer's Networking (a training or tuning job)."""
    from sagemaker.core.training.configs import Networking

    security = job_security(ctx, step_name)
    return Networking(subnets=security.subnets or None, security_group_ids=security.security_group_ids or None,
                      enable_network_isolation=security.network_isolation,
                      enable_inter_container_traffic_encryption=security.encrypt_inter_container_traffic)


def job_kms_key(ctx: BuildContext, step_name: str) -> str | None:
    """The key of a training or transform job's volume and outputs."""
    return job_security(ctx, step_name).kms_key_arn


def model_networking(ctx: BuildContext, step_name: str) -> Any:
    """The model's VpcConfig and EnableNetworkIsolation (CreateModel), for ModelBuilder(network=...)."""
    from sagemaker.core.training.configs import Networking

    security = job_security(ctx, step_name)
    return Networking(subnets=security.subnets or None, security_group_ids=security.security_group_ids or None,
                      enable_network_isolation=security.network_isolation)
