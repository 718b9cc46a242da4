"""env_files/local-vpc.tfvars applied to the local emulator (issue 22): Terraform creates the jobs' VPC, two subnets
in two Availability Zones, their security group and the endpoints; the upsert finds them; and each permission the
issue tightened is now denied by the applied policies (evaluated with iam_simulation: the emulator does not
enforce IAM), beside the permission that stays.

The applied file is local-vpc.tfvars plus a GitLab token secret name (trigger off), so the Lambda secret-key
statement is applied too."""

from __future__ import annotations

import json

import boto3
import pytest
from iam_simulation import allowed

from batchops.terraform import Terraform
from batchops_core import contracts
from batchops_core.settings import ENV_DIR, load_settings
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow

SECRET = "abalone/local-vpc/gitlab-token"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vpc-stack")
    env_file = directory / "local-vpc.tfvars"
    env_file.write_text((ENV_DIR / "local-vpc.tfvars").read_text(encoding="utf-8")
                        + f'\napproval = {{\n  gitlab_token_secret_name = "{SECRET}"\n}}\n', encoding="utf-8")
    settings = load_settings(env_file)
    home = directory / "home"
    with start_local_aws(home, execution_handler=None) as aws:
        outputs = Terraform(settings, home=home, endpoint_env=aws.env()).apply()
        yield settings, aws, outputs


def _role_policies(aws, role: str) -> list[dict]:
    iam = aws.client("iam")
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert names, f"role {role} has no inline policy"
    return [iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in names]


def test_terraform_creates_the_jobs_network_and_the_upsert_finds_it(stack, monkeypatch):
    settings, aws, outputs = stack
    ec2 = aws.client("ec2")
    tagged = [{"Name": f"tag:{contracts.JOB_NETWORK_TAG}", "Values": [settings.resource_prefix]}]
    subnets = ec2.describe_subnets(Filters=tagged)["Subnets"]
    assert len(subnets) == 2 and len({subnet["AvailabilityZone"] for subnet in subnets}) == 2
    groups = ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]
    assert len(groups) == 1 and groups[0]["VpcId"] == subnets[0]["VpcId"]
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [subnets[0]["VpcId"]]}])
    services = {endpoint["ServiceName"].rsplit(".", 1)[-1] if "sagemaker" not in endpoint["ServiceName"]
                else "sagemaker.api" for endpoint in endpoints["VpcEndpoints"]}
    assert services == {"s3", "sagemaker.api", "ssm", "sts", "logs", "events"}

    from pipelines.upsert import stack_resources

    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    found = stack_resources(settings, boto3.Session(region_name=settings.region))
    assert found.subnets == sorted(subnet["SubnetId"] for subnet in subnets)
    assert found.security_group_ids == [groups[0]["GroupId"]]
    key = aws.client("kms").describe_key(KeyId=f"alias/{settings.resource_prefix}-data")["KeyMetadata"]["Arn"]
    assert found.data_kms_key_arn == key
    assert outputs["job_network"]["subnet_ids"] == [subnet["SubnetId"] for subnet in sorted(
        subnets, key=lambda subnet: subnet["CidrBlock"])]
    assert outputs["job_network"]["security_group_ids"] == found.security_group_ids


def test_the_execution_role_writes_only_under_the_outputs_prefix(stack):
    settings, aws, _ = stack
    policies = _role_policies(aws, f"{settings.resource_prefix}-sagemaker-execution")
    bucket = f"arn:aws:s3:::{settings.bucket}"
    prefixes = settings.prefixes
    assert allowed(policies, "s3:PutObject", f"{bucket}/{prefixes.outputs}/training/run-1/Preprocess/train/a.csv")
    for starting in (prefixes.training, prefixes.inference):  # a job's object there would start a pipeline
        assert not allowed(policies, "s3:PutObject", f"{bucket}/{starting}/loop.csv"), starting
    assert not allowed(policies, "s3:PutObject", f"{bucket}/{prefixes.ground_truth}/x.csv")
    assert allowed(policies, "s3:GetObject", f"{bucket}/{prefixes.training}/data.csv")


def test_the_execution_role_creates_key_grants_only_for_aws_resources(stack):
    settings, aws, _ = stack
    policies = _role_policies(aws, f"{settings.resource_prefix}-sagemaker-execution")
    key = aws.client("kms").describe_key(KeyId=f"alias/{settings.resource_prefix}-data")["KeyMetadata"]["Arn"]
    assert not allowed(policies, "kms:CreateGrant", key)
    assert not allowed(policies, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "false"})
    assert allowed(policies, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "true"})
    assert allowed(policies, "kms:GenerateDataKey", key)


def test_the_execution_role_manages_the_network_interfaces_of_vpc_jobs(stack):
    settings, aws, _ = stack
    policies = _role_policies(aws, f"{settings.resource_prefix}-sagemaker-execution")
    account = aws.client("sts").get_caller_identity()["Account"]
    interface = f"arn:aws:ec2:{settings.region}:{account}:network-interface/eni-0123456789abcdef0"
    for action in ("ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                   "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"):
        assert allowed(policies, action, interface), action
    for action in ("ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                   "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"):
        assert allowed(policies, action, "*"), action
    assert not allowed(policies, "ec2:RunInstances", f"arn:aws:ec2:{settings.region}:{account}:instance/*")


def test_the_pipeline_starter_only_starts_the_stack_s_pipelines(stack):
    settings, aws, outputs = stack
    policies = _role_policies(aws, f"{settings.resource_prefix}-pipeline-starter")
    assert allowed(policies, "sagemaker:StartPipelineExecution", outputs["pipeline_arns"]["training"])
    queue = aws.client("sqs").get_queue_attributes(QueueUrl=outputs["dlq_urls"]["events"],
                                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert not allowed(policies, "sqs:SendMessage", queue)
    key = aws.client("kms").describe_key(KeyId=f"alias/{settings.resource_prefix}-data")["KeyMetadata"]["Arn"]
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert not allowed(policies, action, key), action


def test_the_lambda_that_reads_a_secret_may_decrypt_it_only_through_secrets_manager(stack):
    settings, aws, _ = stack
    account = aws.client("sts").get_caller_identity()["Account"]
    secret_arn = f"arn:aws:secretsmanager:{settings.region}:{account}:secret:{SECRET}-AbCdEf"
    customer_key = f"arn:aws:kms:{settings.region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    via_secrets_manager = {"kms:ViaService": f"secretsmanager.{settings.region}.amazonaws.com",
                           "kms:EncryptionContext:SecretARN": secret_arn}
    reader = _role_policies(aws, f"{settings.resource_prefix}-approval-trigger-lambda")
    assert allowed(reader, "secretsmanager:GetSecretValue", secret_arn)
    assert allowed(reader, "kms:Decrypt", customer_key, via_secrets_manager)
    direct = {"kms:EncryptionContext:SecretARN": secret_arn}  # the same context, not through Secrets Manager
    assert not allowed(reader, "kms:Decrypt", customer_key, direct)
    other = {**via_secrets_manager,
             "kms:EncryptionContext:SecretARN": f"arn:aws:secretsmanager:{settings.region}:{account}:secret:x-AbCdEf"}
    assert not allowed(reader, "kms:Decrypt", customer_key, other)  # another secret
    # The function that reads no secret gets neither.
    notification = _role_policies(aws, f"{settings.resource_prefix}-notification-lambda")
    assert not allowed(notification, "kms:Decrypt", customer_key, via_secrets_manager)


def test_configured_subnets_in_one_zone_are_warned_about_at_plan_time(stack, tmp_path, write_env_file):
    # Which zone a configured subnet is in is known only once Terraform looks it up: a check block warns.
    _, aws, _ = stack
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{index}.0/24", AvailabilityZone=zone)["Subnet"][
        "SubnetId"] for index in range(2)]
    group = ec2.create_security_group(GroupName="own-jobs", Description="jobs", VpcId=vpc)["GroupId"]
    env_file = write_env_file(tmp_path / "envs", "own-vpc")
    env_file.write_text(env_file.read_text(encoding="utf-8").replace(
        "subnets            = []", f"subnets            = {json.dumps(subnets)}").replace(
        "security_group_ids = []", f'security_group_ids = ["{group}"]'), encoding="utf-8")
    settings = load_settings(env_file)
    assert settings.network.subnets == subnets
    lines: list[str] = []
    Terraform(settings, home=tmp_path / "home", endpoint_env=aws.env(), progress=lines.append).plan()
    text = "\n".join(lines)
    assert "Check block assertion failed" in text
    assert "network.subnets: all in one Availability Zone" in text
    assert "different VPCs" not in text
