"""Issue 22: with VPC settings, every job of every pipeline runs in the configured subnets and security groups, with
its volume and outputs encrypted with the job key, inter-container traffic encrypted, and network isolation on
exactly the jobs that make no AWS calls; the requests stay within botocore's SageMaker shapes."""

from __future__ import annotations

import json

import pytest
from aws_request_shapes import STEP_OPERATIONS, definition_problems
from pipeline_definition_tools import all_steps
from pipeline_test_support import ACCOUNT_ID, network_guard

from batchops_core.contracts import Step
from batchops_core.settings import ISOLATABLE_STEP_KINDS, PIPELINE_KEYS, Settings

SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
GROUPS = ["sg-0123456789abcdef0"]
JOB_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STACK_KEY = "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-00aa-00aa-00aa-000000000000"
# Steps whose containers call AWS (the model registry and SSM; S3 listings of labels and feedback): never isolated.
CALLS_AWS = {("inference", Step.RESOLVE_MODEL), ("inference", Step.MODEL_QUALITY_CHECK),
             ("inference", Step.PUBLISH_PREDICTIONS),
             ("model_quality", Step.MODEL_QUALITY_CHECK), ("training_hpo", Step.PREPROCESS)}
JOB_STEP_TYPES = ("Processing", "QualityCheck", "Training", "Tuning", "Transform", "Model")


def vpc_settings(base: Settings, *, engine: str = "builtin", job_key: str = JOB_KEY) -> Settings:
    network = base.network.model_copy(update={
        "subnets": SUBNETS, "security_group_ids": GROUPS, "network_isolation": list(ISOLATABLE_STEP_KINDS),
        "job_kms_key_arn": job_key})
    quality = base.data_quality.model_copy(update={"engine": engine})
    return base.model_copy(update={"network": network, "data_quality": quality})


def build(settings: Settings, **stack) -> dict[str, dict]:
    from pipelines.common.context import StackResources
    from pipelines.definitions import build_definitions

    with network_guard():
        texts = build_definitions(settings, account_id=ACCOUNT_ID, stack=StackResources(**stack) if stack else None)
    return {key: json.loads(text) for key, text in texts.items()}


def job_security(step: dict) -> dict:
    """Where each security setting sits in the step's request (one API operation per step type)."""
    arguments = step["Arguments"]
    operation = STEP_OPERATIONS[step["Type"]]
    if operation == "CreateProcessingJob":
        network = arguments.get("NetworkConfig") or {}
        return {"vpc": network.get("VpcConfig"), "isolation": network.get("EnableNetworkIsolation"),
                "encryption": network.get("EnableInterContainerTrafficEncryption"),
                "volume_key": arguments["ProcessingResources"]["ClusterConfig"].get("VolumeKmsKeyId"),
                "output_key": arguments["ProcessingOutputConfig"].get("KmsKeyId")}
    if operation in ("CreateTrainingJob", "CreateHyperParameterTuningJob"):
        request = arguments["TrainingJobDefinition"] if operation == "CreateHyperParameterTuningJob" else arguments
        return {"vpc": request.get("VpcConfig"), "isolation": request.get("EnableNetworkIsolation"),
                "encryption": request.get("EnableInterContainerTrafficEncryption"),
                "volume_key": request["ResourceConfig"].get("VolumeKmsKeyId"),
                "output_key": request["OutputDataConfig"].get("KmsKeyId")}
    if operation == "CreateTransformJob":  # VPC and isolation are the model's (CreateModel)
        return {"volume_key": arguments["TransformResources"].get("VolumeKmsKeyId"),
                "output_key": arguments["TransformOutput"].get("KmsKeyId")}
    return {"vpc": arguments.get("VpcConfig"), "isolation": arguments.get("EnableNetworkIsolation")}  # CreateModel


def job_steps(definitions: dict[str, dict]) -> list[tuple[str, str, dict]]:
    return [(key, name, step) for key in PIPELINE_KEYS for name, step in all_steps(definitions[key]).items()
            if step["Type"] in JOB_STEP_TYPES]


@pytest.mark.parametrize("engine", ["builtin", "model_monitor"])
def test_every_job_of_every_pipeline_carries_the_vpc_the_key_and_its_isolation(local_settings, engine):
    definitions = build(vpc_settings(local_settings, engine=engine))
    steps = job_steps(definitions)
    assert {step["Type"] for _, _, step in steps} >= {"Processing", "Training", "Tuning", "Transform", "Model"}
    for key, name, step in steps:
        security = job_security(step)
        where = f"{key}.{name}"
        if step["Type"] != "Model":  # a model has no volume or output of its own
            assert (security["volume_key"], security["output_key"]) == (JOB_KEY, JOB_KEY), where
        if step["Type"] == "Transform":
            continue
        vpc = security["vpc"]
        assert vpc and sorted(vpc["Subnets"]) == sorted(SUBNETS) and vpc["SecurityGroupIds"] == GROUPS, where
        assert security["isolation"] is ((key, name) not in CALLS_AWS), where
        if step["Type"] != "Model":
            assert security["encryption"] is True, where
    for key in PIPELINE_KEYS:
        assert definition_problems(definitions[key]) == [], key


def test_the_job_key_defaults_to_the_stack_s_key_and_without_it_to_sagemaker_s_default(local_settings):
    settings = vpc_settings(local_settings, job_key="")
    with_stack = build(settings, data_kms_key_arn=STACK_KEY)
    assert {job_security(step)["volume_key"] for _, _, step in job_steps(with_stack)
            if step["Type"] != "Model"} == {STACK_KEY}
    offline = build(settings)  # no stack known (a preview): SageMaker's default keys, no made-up key
    assert {job_security(step)["volume_key"] for _, _, step in job_steps(offline) if step["Type"] != "Model"} == {None}


def test_isolation_follows_the_configured_step_kinds(local_settings):
    network = local_settings.network.model_copy(update={"network_isolation": ["training"]})
    definitions = build(local_settings.model_copy(update={"network": network}))
    isolated = {(key, name) for key, name, step in job_steps(definitions) if job_security(step).get("isolation")}
    assert isolated == {("training", Step.TRAIN), ("training_hpo", Step.TUNE)}


def test_a_vpc_the_stack_creates_needs_the_stack_s_ids(local_settings):
    network = local_settings.network.model_copy(update={"create_vpc": True})
    settings = local_settings.model_copy(update={"network": network})
    with pytest.raises(ValueError, match="create_vpc = true: the subnets and security group are the stack's"):
        build(settings)
    definitions = build(settings, subnets=SUBNETS, security_group_ids=GROUPS)
    for key, name, step in job_steps(definitions):
        if step["Type"] != "Transform":
            assert job_security(step)["vpc"]["Subnets"] == SUBNETS, f"{key}.{name}"


def test_without_network_settings_no_job_runs_in_a_vpc_or_isolated(local_definitions):
    for key, name, step in job_steps(local_definitions):
        security = job_security(step)
        assert not security.get("vpc") and not security.get("isolation"), f"{key}.{name}"


def test_the_upsert_names_a_stack_network_that_is_not_applied(local_settings):
    import boto3
    import moto

    from pipelines.upsert import StackNotApplied, stack_resources

    network = local_settings.network.model_copy(update={"create_vpc": True})
    settings = local_settings.model_copy(update={"network": network})
    with moto.mock_aws():
        session = boto3.Session(region_name=settings.region, aws_access_key_id="x", aws_secret_access_key="x")
        with pytest.raises(StackNotApplied, match=r"tag batchops:job-network=abalone-local\) are not in the "
                                                   r"account: apply the Terraform stack first"):
            stack_resources(settings, session)
        assert stack_resources(local_settings, session).data_kms_key_arn == ""  # no stack key: SageMaker's default
