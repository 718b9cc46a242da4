"""env_files/local.tfvars applied to the local emulator: apply, no drift, destroy removes everything, apply again."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from batchops.terraform import Terraform
from batchops_core.settings import Settings
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow


def _check_applied(aws, settings: Settings, outputs: dict) -> None:
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=settings.bucket)["Status"] == "Enabled"
    encryption = s3.get_bucket_encryption(Bucket=settings.bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=settings.bucket)

    rules = {rule["Name"] for rule in aws.client("events").list_rules(NamePrefix=settings.resource_prefix)["Rules"]}
    assert rules == set(outputs["rule_names"].values())

    functions = outputs["lambda_function_names"]
    environment = aws.client("lambda").get_function_configuration(
        FunctionName=functions["approval_trigger"])["Environment"]["Variables"]
    assert environment["ACTIVE_MODEL_PARAMETER"] == outputs["active_model_parameter_name"]
    assert environment["DEDUP_TABLE"] == outputs["dedup_table_name"]
    assert environment["MODEL_PACKAGE_GROUP"] == settings.pipelines.model_package_group
    notification = aws.client("lambda").get_function_configuration(
        FunctionName=functions["notification"])["Environment"]["Variables"]
    # The rules travel as an S3 object (Lambda allows 4 KB for all environment variables together).
    assert "NOTIFICATION_RULES" not in notification
    bucket, _, key = notification["NOTIFICATION_RULES_URI"].removeprefix("s3://").partition("/")
    rules = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert rules == [rule.model_dump() for rule in settings.notifications.rules]
    assert notification["NOTIFICATION_RULES_URI"] == outputs["notification_rules_uri"]
    retrain = aws.client("lambda").get_function_configuration(
        FunctionName=functions["retrain_trigger"])["Environment"]["Variables"]
    assert retrain["RETRAIN_PIPELINE_NAME"] == outputs["pipeline_arns"]["training_hpo"].rsplit("/", 1)[1]
    retrain_targets = aws.client("events").list_targets_by_rule(
        Rule=outputs["rule_names"]["retrain-on-model-quality"])["Targets"]
    assert [target["Arn"] for target in retrain_targets] == [
        aws.client("lambda").get_function_configuration(FunctionName=functions["retrain_trigger"])["FunctionArn"]]
    # Thresholds and the metric come from each run's step results, not from the function's environment.
    assert not {"MODEL_METRIC", "REGISTRATION_THRESHOLD", "MODEL_QUALITY_THRESHOLD"} & set(notification)
    assert notification["DEDUP_TABLE"] == outputs["dedup_table_name"]

    targets = aws.client("events").list_targets_by_rule(Rule=outputs["rule_names"]["training-data"])["Targets"]
    assert len(targets) == 1
    assert targets[0]["Arn"] == outputs["pipeline_arns"]["training"]
    assert targets[0]["DeadLetterConfig"]["Arn"].endswith(":" + outputs["dlq_urls"]["events"].rsplit("/", 1)[1])
    assert targets[0]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    parameters = {p["Name"]: p["Value"] for p in targets[0]["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert parameters == {"InputBucket": "$.detail.bucket.name", "InputKey": "$.detail.object.key"}
    parameter = aws.client("ssm").get_parameter(Name=outputs["active_model_parameter_name"])["Parameter"]
    assert parameter["Value"] == "none"
    assert aws.client("sagemaker").describe_model_package_group(
        ModelPackageGroupName=settings.pipelines.model_package_group)["ModelPackageGroupName"]


def _check_packages(aws, settings: Settings, functions: dict[str, str], zip_dir: Path) -> None:
    """Each function runs its zip, uploaded (encrypted) under the code prefix by a key naming its SHA-256."""
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=settings.bucket, Prefix=f"{settings.prefixes.code}/")["Contents"]
    for key, name in functions.items():
        digest = hashlib.sha256((zip_dir / f"{key}.zip").read_bytes())
        configuration = aws.client("lambda").get_function(FunctionName=name)["Configuration"]
        assert configuration["CodeSha256"] == base64.b64encode(digest.digest()).decode(), name
        [package] = [item["Key"] for item in listed if item["Key"].endswith(f"/{key}-{digest.hexdigest()}.zip")]
        assert s3.head_object(Bucket=settings.bucket, Key=package)["ServerSideEncryption"] == "aws:kms"


def _check_destroyed(aws, settings: Settings, outputs: dict) -> None:
    assert aws.client("events").list_rules(NamePrefix=settings.resource_prefix)["Rules"] == []
    assert settings.bucket not in {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    deployed = {f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]}
    assert not deployed & set(outputs["lambda_function_names"].values())
    roles = {r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]}
    assert not {r for r in roles if r.startswith(settings.resource_prefix)}
    assert outputs["dedup_table_name"] not in aws.client("dynamodb").list_tables()["TableNames"]


def test_apply_then_no_drift_then_destroy_then_apply_again(tmp_path: Path, local_settings: Settings) -> None:
    home = tmp_path / "home"
    lines: list[str] = []
    with start_local_aws(home, execution_handler=None) as aws:
        terraform = Terraform(local_settings, home=home, endpoint_env=aws.env(), progress=lines.append)
        outputs = terraform.apply()
        assert outputs["bucket_name"] == local_settings.bucket
        created = terraform.resources()
        assert len(created) >= 40, created
        _check_applied(aws, local_settings, outputs)
        _check_packages(aws, local_settings, outputs["lambda_function_names"], terraform.lambda_build_dir)

        drift = terraform.plan()
        assert not drift.has_changes, f"plan after apply should be empty, found {drift}: {drift.addresses}"

        terraform.destroy()
        assert terraform.resources() == []
        _check_destroyed(aws, local_settings, outputs)

        again = terraform.apply()
        assert again["rule_names"] == outputs["rule_names"]
        _check_applied(aws, local_settings, again)
    assert (home / "terraform" / "local" / "terraform.tfstate").is_file(), "local state lives under the home"
    assert any("Apply complete!" in line for line in lines)
    # Undeclared variables, deprecated arguments and the like would show up here.
    assert [line for line in lines if "Warning:" in line] == []
