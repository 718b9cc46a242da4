"""The embedded default's VPC environment end to end (issue 22): env_files/local-vpc.tfvars applied by Terraform to
the emulator (VPC, two subnets in two Availability Zones, the jobs' security group, endpoints), the pipelines
upserted with the stack's subnets, security group and key, then the demo's training from a CSV drop, approval and
a clean batch scored: every job in the stack's VPC, the AWS-free ones network-isolated."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from batchops.aws_session import connect
from batchops.demo import Demo
from batchops_core import contracts
from batchops_core.contracts import Step
from batchops_core.settings import load_settings
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow


def test_training_and_scoring_run_in_the_vpc_terraform_created(tmp_path):
    settings = load_settings("local-vpc")
    home = tmp_path / "home"
    with start_local_aws(home) as local_aws:
        target = connect(settings, endpoint_url=local_aws.endpoint_url)
        demo = Demo(settings, home, target, console=Console(file=io.StringIO()), execution_timeout=900)
        demo.set_up_infrastructure()
        demo.train_and_approve()
        demo.score_clean_batch()

        ec2 = local_aws.client("ec2")
        tagged = [{"Name": f"tag:{contracts.JOB_NETWORK_TAG}", "Values": [settings.resource_prefix]}]
        subnets = sorted(subnet["SubnetId"] for subnet in ec2.describe_subnets(Filters=tagged)["Subnets"])
        group = ec2.describe_security_groups(Filters=tagged)["SecurityGroups"][0]["GroupId"]
        key = local_aws.client("kms").describe_key(KeyId=f"alias/{settings.resource_prefix}-data")["KeyMetadata"][
            "Arn"]
        sagemaker = local_aws.client("sagemaker")
        isolation = {}
        for label in ("training", "clean"):
            execution = demo.outcome.executions[label]
            steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=execution.arn)[
                "PipelineExecutionSteps"]
            for step in steps:
                job = (step.get("Metadata") or {}).get("ProcessingJob")
                if not job:
                    continue
                described = sagemaker.describe_processing_job(ProcessingJobName=job["Arn"].rsplit("/", 1)[-1])
                network = described["NetworkConfig"]
                assert sorted(network["VpcConfig"]["Subnets"]) == subnets, step["StepName"]
                assert network["VpcConfig"]["SecurityGroupIds"] == [group], step["StepName"]
                assert described["ProcessingOutputConfig"]["KmsKeyId"] == key, step["StepName"]
                isolation[(label, step["StepName"])] = network["EnableNetworkIsolation"]
        # The steps that call AWS ran with network access (and reached it); the others isolated.
        assert isolation[("clean", Step.RESOLVE_MODEL)] is False
        assert isolation[("clean", Step.MODEL_QUALITY_CHECK)] is False
        assert isolation[("training", Step.PREPROCESS)] is True and isolation[("clean", Step.PREPROCESS)] is True
        assert isolation[("training", Step.EVALUATE)] is True
