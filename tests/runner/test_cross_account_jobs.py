"""A consumer account's pipeline job reads a registry account's model package group: the job's container calls
AWS as the step's execution role in the consumer account, so the read is a real cross-account call, refused
until the group's resource policy names that role."""

from __future__ import annotations

import json

import pytest
from runner_support import processing_step

from batchops_local.runner.logs import read_step_log
from batchops_local.runtime import start_local_aws

REGISTRY = "111111111111"
CONSUMER = "222222222222"
CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER}:role/consumer-execution"
PIPELINE_ROLE = f"arn:aws:iam::{CONSUMER}:role/consumer-pipeline"  # the job runs with the step's own RoleArn
GROUP = "abalone-models"
BUCKET = "consumer-runner-data"
READ_REGISTRY = """\
import json, pathlib, sys
import boto3
identity = boto3.client("sts").get_caller_identity()["Arn"]
package = boto3.client("sagemaker").describe_model_package(ModelPackageName=sys.argv[1])
out = pathlib.Path("/opt/ml/processing/output")
out.mkdir(parents=True, exist_ok=True)
(out / "seen.json").write_text(json.dumps({"identity": identity, "package": package["ModelPackageArn"]}))
"""


@pytest.fixture
def local_aws(tmp_path):
    with start_local_aws(tmp_path / "home") as running:
        yield running


def _run(local_aws, name: str, package_arn: str) -> tuple[str, dict, str]:
    s3 = local_aws.client("s3", account_id=CONSUMER)
    s3.put_object(Bucket=BUCKET, Key="code/read_registry.py", Body=READ_REGISTRY.encode())
    step = processing_step("ReadRegistry", f"s3://{BUCKET}/code/read_registry.py", arguments=[package_arn],
                           outputs=[("seen", f"s3://{BUCKET}/{name}/seen", "/opt/ml/processing/output")])
    step["Arguments"]["RoleArn"] = CONSUMER_ROLE
    definition = {"Version": "2020-12-01", "Metadata": {}, "Parameters": [], "Steps": [step]}
    sagemaker = local_aws.client("sagemaker", account_id=CONSUMER)
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=PIPELINE_ROLE)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    status = local_aws.wait_for_execution(arn, timeout=300)
    step_record = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"][0]
    return status, step_record, read_step_log(local_aws.home, arn.rsplit("/", 1)[-1], "ReadRegistry")


def test_a_consumer_job_reads_the_registry_group_only_with_its_policy(local_aws):
    registry = local_aws.client("sagemaker", account_id=REGISTRY)
    registry.create_model_package_group(ModelPackageGroupName=GROUP)
    package = registry.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification={
        "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": "s3://registry/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    iam = local_aws.client("iam", account_id=CONSUMER)
    iam.create_role(RoleName="consumer-execution", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="consumer-execution", PolicyName="registry-read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sagemaker:DescribeModelPackage"],
                                                "Resource": "*"}]}))
    local_aws.client("s3", account_id=CONSUMER).create_bucket(Bucket=BUCKET)

    status, step, log = _run(local_aws, "without-grant", package)
    assert status == "Failed" and step["StepStatus"] == "Failed"
    assert "AccessDeniedException" in log, "the job's own log shows SageMaker's refusal"
    assert f"assumed-role/consumer-execution/SageMaker is not authorized to perform: " \
           f"sagemaker:DescribeModelPackage on resource: {package}" in log

    registry.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": CONSUMER_ROLE}, "Action": ["sagemaker:DescribeModelPackage"],
            "Resource": f"arn:aws:sagemaker:us-east-1:{REGISTRY}:model-package/{GROUP}/*"}]}))
    status, step, _ = _run(local_aws, "with-grant", package)
    assert status == "Succeeded", step.get("FailureReason")
    seen = json.loads(local_aws.client("s3", account_id=CONSUMER).get_object(
        Bucket=BUCKET, Key="with-grant/seen/seen.json")["Body"].read())
    assert seen == {"identity": f"arn:aws:sts::{CONSUMER}:assumed-role/consumer-execution/SageMaker",
                    "package": package}
