"""The registry and consumer stacks of env_files/multi-account applied in three emulated accounts: a consumer's
execution role reads what a model version refers to, and nothing else, only because the registry's group policy,
bucket policy and key policy grant it; a consumer the registry does not list gets AccessDenied (the emulator
evaluates the policies Terraform wrote, batchops_local/emulator/README.md "Several accounts")."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from batchops.terraform import Terraform
from batchops_core import contracts
from batchops_core.settings import ENV_DIR, TRAINING_PIPELINE_KEYS, load_settings
from batchops_local.emulator import accounts
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow

MULTI = ENV_DIR / "multi-account"
REGISTRY, STAGING = "111111111111", "222222222222"
MODEL_KEY = "pipeline-runs/abalone-dev-training/run-1/Train/model/model.tar.gz"
BASELINE_KEY = "pipeline-runs/abalone-dev-training/run-1/DataQualityBaseline/quality_check_output/statistics.json"
PRIVATE_KEYS = ("data/training/abalone.csv",  # training data: never granted
                "pipeline-runs/abalone-dev-inference/run-2/Preprocess/preprocessing/preprocessing.json")


def consumer_file(tmp_path: Path, name: str, key_arn: str) -> Path:
    """The example consumer file with the registry's real (emulated) key ARN, as the demo writes it."""
    text = (MULTI / f"{name}.tfvars").read_text(encoding="utf-8")
    placeholder = load_settings(MULTI / f"{name}.tfvars").accounts.registry.kms_key_arn
    path = tmp_path / "envs" / f"{name}.tfvars"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(placeholder, key_arn), encoding="utf-8")
    return path


def registry_file(tmp_path: Path, *, without: str | None = None) -> Path:
    """The example registry file (one path: the adapter keeps one state per file), with the consumer `without` left
    out (its grants then go)."""
    lines = [line for line in (MULTI / "dev.tfvars").read_text(encoding="utf-8").splitlines()
             if without is None or f'environment = "{without}"' not in line]
    path = tmp_path / "envs" / "dev.tfvars"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def denied(call) -> str:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def assert_the_consumer_stack_trains_nothing(aws, registry, consumer) -> None:
    """The applied consumer stack has no rule starting training or retraining and grants none, the registry's
    stack has them; the consumer's emails name the registry that retrains."""
    rules = {}
    for account, settings in ((REGISTRY, registry), (STAGING, consumer)):
        listed = aws.client("events", account_id=account).list_rules(NamePrefix=f"{settings.resource_prefix}-")
        rules[account] = {r["Name"].removeprefix(f"{settings.resource_prefix}-") for r in listed["Rules"]}
    for rule in ("training-data", "retrain-on-model-quality"):
        assert rule in rules[REGISTRY] and rule not in rules[STAGING], (rule, rules)
    assert {"inference-data", "ground-truth-data", "pipeline-status"} <= rules[STAGING]

    iam = aws.client("iam", account_id=STAGING)
    policies = [iam.get_role_policy(RoleName=f"{consumer.resource_prefix}-{name}", PolicyName=policy)["PolicyDocument"]
                for name, policy in (("sagemaker-execution", "pipelines"), ("pipeline-starter", "start-pipelines"))]
    granted = json.dumps(policies)
    for training in ("CreateTrainingJob", "CreateHyperParameterTuningJob", "CreateModelPackage",
                     *(consumer.pipelines.name_of(key) for key in TRAINING_PIPELINE_KEYS)):
        assert training not in granted, training
    assert consumer.pipelines.inference_name in granted and "CreateTransformJob" in granted

    variables = aws.client("lambda", account_id=STAGING).get_function_configuration(
        FunctionName=f"{consumer.resource_prefix}-notification")["Environment"]["Variables"]
    assert (variables[contracts.REGISTRY_ENVIRONMENT_VARIABLE], variables[contracts.REGISTRY_ACCOUNT_VARIABLE]) == (
        "dev", REGISTRY)


def test_a_consumer_reads_a_model_version_only_through_the_registry_grants(tmp_path: Path) -> None:
    home = tmp_path / "home"
    registry = load_settings(registry_file(tmp_path))
    with start_local_aws(home, execution_handler=None) as aws:
        registry_stack = Terraform(registry, home=home, endpoint_env=aws.env(REGISTRY))
        outputs = registry_stack.apply()
        staging = load_settings(consumer_file(tmp_path, "staging", outputs["kms_key_arn"]))
        staging_outputs = Terraform(staging, home=home, endpoint_env=aws.env(STAGING)).apply()
        role = staging_outputs["pipeline_role_arn"]
        assert role == f"arn:aws:iam::{STAGING}:role/abalone-staging-sagemaker-execution"
        assert_the_consumer_stack_trains_nothing(aws, registry, staging)

        # What the registry's training run left: a model version and its artefacts (SSE-KMS with the stack's key).
        s3 = aws.client("s3", account_id=REGISTRY)
        for key in (MODEL_KEY, BASELINE_KEY, *PRIVATE_KEYS):
            s3.put_object(Bucket=registry.bucket, Key=key, Body=b"bytes of " + key.encode())
        sagemaker = aws.client("sagemaker", account_id=REGISTRY)
        package = sagemaker.create_model_package(
            ModelPackageGroupName=registry.pipelines.model_package_group, ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                                    "ModelDataUrl": f"s3://{registry.bucket}/{MODEL_KEY}"}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        )["ModelPackageArn"]

        keys = accounts.assume_role_over_http(aws.endpoint_url, registry.region, role, "consumer-test")
        session = boto3.Session(aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                                aws_session_token=keys["AWS_SESSION_TOKEN"], region_name=registry.region)
        as_consumer = {service: session.client(service, endpoint_url=aws.endpoint_url)
                       for service in ("sagemaker", "s3")}
        group_arn = staging.model_package_group_ref

        assert as_consumer["sagemaker"].describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == (
            "Approved")
        listed = as_consumer["sagemaker"].list_model_packages(ModelPackageGroupName=group_arn)
        assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [package]
        for key in (MODEL_KEY, BASELINE_KEY):  # decrypted with the registry's key: the key grant is used
            body = as_consumer["s3"].get_object(Bucket=registry.bucket, Key=key)["Body"].read()
            assert body == b"bytes of " + key.encode()
        for key in PRIVATE_KEYS:
            assert denied(lambda key=key: as_consumer["s3"].get_object(Bucket=registry.bucket, Key=key)) == (
                "AccessDenied")
        assert denied(lambda: as_consumer["s3"].put_object(Bucket=registry.bucket, Key=MODEL_KEY, Body=b"x")) == (
            "AccessDenied")
        # Read-only: the consumer cannot change the registry's version (the emulator answers UpdateModelPackage
        # from the caller's own account, AWS with AccessDenied; either way the version stays as it is).
        denied(lambda: as_consumer["sagemaker"].update_model_package(ModelPackageArn=package,
                                                                     ModelApprovalStatus="Rejected"))
        assert sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"

        # The registry no longer lists staging: the group, bucket and key policies lose its grants.
        Terraform(load_settings(registry_file(tmp_path, without="staging")), home=home,
                  endpoint_env=aws.env(REGISTRY)).apply()
        assert denied(lambda: as_consumer["sagemaker"].describe_model_package(ModelPackageName=package)) == (
            "AccessDeniedException")
        assert denied(lambda: as_consumer["sagemaker"].list_model_packages(ModelPackageGroupName=group_arn)) == (
            "AccessDeniedException")
        assert denied(lambda: as_consumer["s3"].get_object(Bucket=registry.bucket, Key=MODEL_KEY)) == "AccessDenied"
