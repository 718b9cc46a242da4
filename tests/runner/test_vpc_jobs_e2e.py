"""Issue 22 in the embedded default: the real definitions of a VPC environment (a VPC, two subnets in two
Availability Zones and a security group in the emulator; every AWS-free job network-isolated; the stack's key on
every job) run end to end; a job in a subnet that does not exist fails as SageMaker refuses it; an isolated job
that calls AWS fails.

One emulator and one definition build serve the module (building definitions imports the SDK: slow)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runner_support import ACCOUNT, deploy_pipelines, fast_settings

from batchops.demo_data import REFERENCE, generate
from batchops_core.contracts import Step
from batchops_core.settings import ISOLATABLE_STEP_KINDS
from batchops_local.runner import read_step_log
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow

MISSING_SUBNET = "subnet-0000000000000dead"


@dataclass
class VpcEnvironment:
    settings: Any
    local_aws: Any
    home: Path
    names: dict[str, str]
    definitions: dict[str, str]
    subnets: list[str]
    group: str
    key: str


def vpc_settings():
    settings = fast_settings()
    network = settings.network.model_copy(update={"create_vpc": True,
                                                  "network_isolation": list(ISOLATABLE_STEP_KINDS)})
    return settings.model_copy(update={"network": network})


def build(settings, stack) -> dict[str, str]:
    from pipelines.definitions import build_definitions

    return build_definitions(settings, account_id=ACCOUNT, stack=stack)


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> VpcEnvironment:
    from pipelines.common.context import StackResources

    settings = vpc_settings()
    home = tmp_path_factory.mktemp("vpc-e2e") / "home"
    with start_local_aws(home) as local_aws:
        ec2 = local_aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"] for index, zone in enumerate(zones)]
        group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"]
        key = local_aws.client("kms").create_key()["KeyMetadata"]["Arn"]
        definitions = build(settings, StackResources(data_kms_key_arn=key, subnets=subnets,
                                                     security_group_ids=[group]))
        names = deploy_pipelines(local_aws, settings, definitions)
        yield VpcEnvironment(settings, local_aws, home, names, definitions, subnets, group, key)


def _deploy(environment: VpcEnvironment, name: str, definition: str) -> None:
    environment.local_aws.client("sagemaker").create_pipeline(
        PipelineName=name, PipelineDefinition=definition,
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{environment.settings.resource_prefix}-sagemaker-execution")


def _run(environment: VpcEnvironment, pipeline: str, key: str, body: bytes) -> tuple[str, str, dict[str, dict]]:
    settings, local_aws = environment.settings, environment.local_aws
    local_aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=body)
    sagemaker = local_aws.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, PipelineParameters=[
        {"Name": "InputBucket", "Value": settings.bucket}, {"Name": "InputKey", "Value": key}])["PipelineExecutionArn"]
    status = local_aws.wait_for_execution(arn, timeout=900)
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return arn, status, {step["StepName"]: step for step in steps}


def training_csv() -> bytes:
    return generate(REFERENCE, 600, seed=11, id_prefix="t").to_csv(index=False).encode()


def test_training_runs_end_to_end_with_every_job_in_the_vpc(environment):
    settings = environment.settings
    arn, status, steps = _run(environment, environment.names["training"],
                              f"{settings.prefixes.training}/vpc/batch-1.csv", training_csv())
    assert status == "Succeeded", {name: step.get("FailureReason") for name, step in steps.items()}
    assert set(steps) == {"Preprocess", "DataQualityBaseline", "Train", "Evaluate", "CheckMetric", "RegisterModel"}
    sagemaker = environment.local_aws.client("sagemaker")
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate"):  # as SageMaker recorded each job
        job = sagemaker.describe_processing_job(
            ProcessingJobName=steps[name]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1])
        network = job["NetworkConfig"]
        assert network["VpcConfig"] == {"Subnets": environment.subnets, "SecurityGroupIds": [environment.group]}
        assert network["EnableNetworkIsolation"] is True and network["EnableInterContainerTrafficEncryption"] is True
        assert job["ProcessingOutputConfig"]["KmsKeyId"] == environment.key
    train = json.loads(environment.definitions["training"])["Steps"]
    train_request = next(step for step in train if step["Name"] == Step.TRAIN)["Arguments"]
    assert train_request["VpcConfig"]["Subnets"] == environment.subnets and train_request["EnableNetworkIsolation"]


def test_a_job_in_a_subnet_that_does_not_exist_fails_its_step_with_aws_s_error(environment):
    from pipelines.common.context import StackResources

    settings = environment.settings
    definitions = build(settings, StackResources(data_kms_key_arn=environment.key, subnets=[MISSING_SUBNET],
                                                 security_group_ids=[environment.group]))
    name = f"{environment.names['training']}-missing-subnet"
    _deploy(environment, name, definitions["training"])
    _, status, steps = _run(environment, name, f"{settings.prefixes.training}/vpc/batch-2.csv", training_csv())
    assert status == "Failed"
    assert set(steps) == {"Preprocess"}  # the first job was refused, nothing after it ran
    reason = steps["Preprocess"]["FailureReason"]
    assert reason.startswith("ClientError: Failed to invoke sagemaker:CreateProcessingJob. Error Details: "
                             "InvalidSubnetID.NotFound: "), reason
    assert MISSING_SUBNET in reason and "does not exist" in reason


def test_an_isolated_job_that_calls_aws_fails(environment):
    # ResolveModel calls the model registry and SSM, so the builders never isolate it; isolated anyway, its
    # container has no credentials and no endpoint, and its first AWS call fails.
    settings = environment.settings
    inference = json.loads(environment.definitions["inference"])
    isolated = copy.deepcopy(inference)
    resolve = next(step for step in isolated["Steps"] if step["Name"] == Step.RESOLVE_MODEL)
    assert resolve["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] is False
    resolve["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] = True
    batch = generate(REFERENCE, 50, seed=3, id_prefix="b").drop(columns=["rings"]).to_csv(index=False).encode()
    outcomes = {}
    for label, definition in (("as-built", inference), ("isolated", isolated)):
        name = f"{environment.names['inference']}-{label}"
        _deploy(environment, name, json.dumps(definition))
        arn, status, steps = _run(environment, name, f"{settings.prefixes.inference}/vpc/{label}.csv", batch)
        outcomes[label] = (status, steps, read_step_log(environment.home, arn.rsplit("/", 1)[-1],
                                                        Step.RESOLVE_MODEL))
    status, steps, log = outcomes["isolated"]
    assert status == "Failed" and steps[Step.RESOLVE_MODEL]["StepStatus"] == "Failed"
    assert "Unable to locate credentials" in log, log[-2000:]
    # As built (not isolated) the same step reaches the registry: it fails only for want of an approved model.
    _, steps, log = outcomes["as-built"]
    assert "no Approved model version in model package group" in log, log[-2000:]
    assert "Unable to locate credentials" not in log
