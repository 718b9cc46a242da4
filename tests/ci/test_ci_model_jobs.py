"""The jobs that act on an environment's SageMaker side: approval-triggered deploy, promotion gate, retraining.

They run the real wrappers against a moto server on 127.0.0.1 (standing in for the environment's account);
boto3 reaches it through AWS_ENDPOINT_URL, exactly as the scripts would reach AWS.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import boto3
import pytest
from ci_testkit import ROOT, run_batchops, run_job, run_wrapper, start_moto, wrapper_env

from batchops_core.settings import load_settings

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_server():
    server, variables = start_moto()
    yield variables
    server.stop()


@pytest.fixture
def account(moto_server, tmp_path):
    """A clean moto account per test, with clients and the environment the wrappers run with."""
    endpoint = moto_server["AWS_ENDPOINT_URL"]
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)

    def client(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test")

    return wrapper_env(**moto_server, BATCHOPS_CI_OUT=str(tmp_path / "ci")), client


def register_versions(sagemaker, group: str, statuses: list[str]) -> list[str]:
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arns = []
    for status in statuses:
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={"Containers": [{"Image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        )["ModelPackageArn"]
        if status != "PendingManualApproval":
            sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
        arns.append(arn)
    return arns


def create_stack_parts(client, env_name: str) -> None:
    """What Terraform and the pipeline upsert leave in an environment: the SSM pointer and three pipelines."""
    settings = load_settings(env_name)
    client("ssm").put_parameter(Name=f"/{settings.project}/{env_name}/active-model-package-arn", Value="none",
                                Type="String")
    definition = json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []})
    for name in settings.pipeline_names.values():
        client("sagemaker").create_pipeline(PipelineName=name, PipelineDefinition=definition,
                                            RoleArn="arn:aws:iam::123456789012:role/sagemaker")


def active_model(client, env_name: str) -> str:
    return client("ssm").get_parameter(Name=f"/abalone/{env_name}/active-model-package-arn")["Parameter"]["Value"]


# ------------------------------------------------------------------------------------------------ deploy


def test_triggered_deploy_activates_an_approved_version_once(account, tmp_path):
    env, client = account
    create_stack_parts(client, "staging")
    approved, _pending = register_versions(client("sagemaker"), "abalone-staging-models",
                                           ["Approved", "PendingManualApproval"])
    trigger = {**env, "BATCHOPS_CI_OUT": str(tmp_path), "MODEL_PACKAGE_ARN": approved, "MODEL_PACKAGE_VERSION": "1"}

    first = run_job("deploy:staging", env=trigger)  # as the trigger pipeline runs it

    assert first.returncode == 0, first.stdout + first.stderr
    assert active_model(client, "staging") == approved
    assert "model version 1 is now active" in first.stdout
    record = dict(line.split("=", 1) for line in (tmp_path / "staging" / "deploy.env").read_text().splitlines())
    assert record == {
        "DEPLOYED_ENVIRONMENT": "staging", "DEPLOYED_MODEL_PACKAGE_ARN": approved,
        "DEPLOYED_MODEL_PACKAGE_VERSION": "1", "DEPLOYED_MODEL_ACCOUNT": "123456789012",
        "SOURCE_ENVIRONMENT": "staging", "PREVIOUS_MODEL_PACKAGE_ARN": "none",
        "ACTIVE_MODEL_PARAMETER": "/abalone/staging/active-model-package-arn", "DEPLOY_ACTION": "updated",
    }

    second = run_wrapper("deploy.sh", "staging", env=trigger)
    assert second.returncode == 0, second.stderr
    assert "was already active" in second.stdout
    assert "DEPLOY_ACTION=unchanged" in (tmp_path / "staging" / "deploy.env").read_text()


def test_a_standalone_environment_takes_no_version_of_another_group_and_none_flows_back(account, tmp_path):
    # Single-account environments each score with their own group (ResolveModel refuses any other): promoting
    # one's version into another's pointer would stop its inference, so it is refused; promotion across
    # environments is the registry/consumer set-up's (test_multi_account_promotion_* below).
    env, client = account
    create_stack_parts(client, "staging")
    create_stack_parts(client, "prod")
    staging_version, = register_versions(client("sagemaker"), "abalone-staging-models", ["Approved"])
    prod_version, = register_versions(client("sagemaker"), "abalone-prod-models", ["Approved"])
    env = {**env, "BATCHOPS_CI_OUT": str(tmp_path)}

    forward = run_wrapper("deploy.sh", "prod", env={**env, "MODEL_PACKAGE_ARN": staging_version})
    backward = run_wrapper("deploy.sh", "staging", env={**env, "MODEL_PACKAGE_ARN": prod_version})

    assert forward.returncode == 2, forward.stdout
    assert (f"{staging_version} is a version of group 'abalone-staging-models', not of 'abalone-prod-models': "
            "environment 'prod' (accounts.role = standalone) scores with versions of its own group only") \
        in forward.stderr
    assert active_model(client, "prod") == "none"
    assert backward.returncode == 0, backward.stderr
    assert "approved in 'prod', which comes after 'staging'" in backward.stdout
    assert active_model(client, "staging") == "none"
    assert "DEPLOY_ACTION=skipped" in (tmp_path / "staging" / "deploy.env").read_text()


def test_deploy_refuses_a_version_that_is_not_approved(account, tmp_path):
    env, client = account
    create_stack_parts(client, "prod")
    _approved, pending = register_versions(client("sagemaker"), "abalone-prod-models",
                                           ["Approved", "PendingManualApproval"])

    result = run_wrapper("deploy.sh", "prod", env={**env, "BATCHOPS_CI_OUT": str(tmp_path),
                                                   "MODEL_PACKAGE_ARN": pending})

    assert result.returncode == 2  # a user error: one line on stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"model package {pending} is PendingManualApproval, not Approved: nothing deployed" in result.stderr
    assert active_model(client, "prod") == "none"


@pytest.mark.parametrize(("arn", "version", "message"), [
    ("abalone-prod-models/1", "", "is not of the form arn:aws:sagemaker:"),
    ("arn:aws:sagemaker:us-east-1:111122223333:model-package/abalone-prod-models/4", "5",
     "MODEL_PACKAGE_VERSION=5 does not match the ARN's version 4"),
    ("arn:aws:sagemaker:eu-west-1:111122223333:model-package/abalone-prod-models/4", "",
     "the package is in region eu-west-1, environment 'prod' in us-east-1"),
    ("arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone-prod-models/9", "",
     "cannot read model package"),
])
def test_deploy_names_what_is_wrong_with_the_trigger_variables(account, tmp_path, arn, version, message):
    env, client = account
    create_stack_parts(client, "prod")
    result = run_wrapper("deploy.sh", "prod", env={**env, "BATCHOPS_CI_OUT": str(tmp_path),
                                                   "MODEL_PACKAGE_ARN": arn, "MODEL_PACKAGE_VERSION": version})
    assert result.returncode == 2
    assert message in result.stderr
    assert active_model(client, "prod") == "none"


def test_deploy_into_an_environment_without_its_stack_says_so(account, tmp_path):
    env, client = account
    approved, = register_versions(client("sagemaker"), "abalone-prod-models", ["Approved"])
    result = run_wrapper("deploy.sh", "prod", env={**env, "BATCHOPS_CI_OUT": str(tmp_path),
                                                   "MODEL_PACKAGE_ARN": approved})
    assert result.returncode == 2
    assert "SSM parameter /abalone/prod/active-model-package-arn of environment 'prod' is not readable" in result.stderr


def test_deploy_without_a_package_from_the_trigger_fails_before_any_call(tmp_path):
    result = run_wrapper("deploy.sh", "staging", env=wrapper_env(BATCHOPS_CI_OUT=str(tmp_path)))
    assert result.returncode == 2
    assert "no model package: pass --model-package-arn or set MODEL_PACKAGE_ARN" in result.stderr


# ------------------------------------------------------------------------------------ several accounts
# The multi-account example (env_files/multi-account: registry dev 111111111111, consumers staging 222222222222 and
# prod 333333333333) on one moto server that keeps per-account state (the x-moto-account-id header).

MULTI = ROOT / "env_files" / "multi-account"
REGISTRY_ACCOUNT, STAGING_ACCOUNT, PROD_ACCOUNT = "111111111111", "222222222222", "333333333333"


@pytest.fixture
def accounts(account):
    """(wrapper environment, client(service, account))."""
    env, _ = account

    def client(service: str, account_id: str):
        made = boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test")
        made.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(
            "x-moto-account-id", account_id))
        return made

    for name, account_id in (("staging", STAGING_ACCOUNT), ("prod", PROD_ACCOUNT)):
        client("ssm", account_id).put_parameter(Name=f"/abalone/{name}/active-model-package-arn", Value="none",
                                                Type="String")
    return env, client


def pointer(client, name: str, account_id: str) -> str:
    return client("ssm", account_id).get_parameter(
        Name=f"/abalone/{name}/active-model-package-arn")["Parameter"]["Value"]


def multi(env, name: str, *args: str):
    return run_batchops("--env", str(MULTI / f"{name}.tfvars"), "ci", *args, env=env)


def test_multi_account_promotion_points_one_consumer_at_a_registry_version(accounts, tmp_path):
    env, client = accounts
    first, second, pending = register_versions(client("sagemaker", REGISTRY_ACCOUNT), "abalone-dev-models",
                                               ["Approved", "Approved", "PendingManualApproval"])

    staging = multi(env, "staging", "deploy-model", "--model-package-arn", first, "--report",
                    str(tmp_path / "staging.env"))

    assert staging.returncode == 0, staging.stderr
    assert f":{REGISTRY_ACCOUNT}:" in first
    assert pointer(client, "staging", STAGING_ACCOUNT) == first
    assert pointer(client, "prod", PROD_ACCOUNT) == "none"  # prod keeps its model until it is promoted there
    record = dict(line.split("=", 1) for line in (tmp_path / "staging.env").read_text().splitlines())
    assert (record["DEPLOYED_MODEL_ACCOUNT"], record["SOURCE_ENVIRONMENT"]) == (REGISTRY_ACCOUNT, "dev")
    assert "version 1 of abalone-dev-models in account 111111111111, Approved (read as 'dev')" in staging.stdout

    refused = multi(env, "prod", "deploy-model", "--model-package-arn", pending)
    assert refused.returncode == 2
    assert f"model package {pending} is PendingManualApproval, not Approved: nothing deployed" in refused.stderr
    assert pointer(client, "prod", PROD_ACCOUNT) == "none"

    prod = multi(env, "prod", "deploy-model", "--model-package-arn", second)
    assert prod.returncode == 0, prod.stderr
    assert (pointer(client, "prod", PROD_ACCOUNT), pointer(client, "staging", STAGING_ACCOUNT)) == (second, first)


def test_multi_account_consumer_refuses_a_version_outside_its_registry_group(accounts):
    env, client = accounts
    own, = register_versions(client("sagemaker", STAGING_ACCOUNT), "abalone-staging-models", ["Approved"])
    result = multi(env, "staging", "deploy-model", "--model-package-arn", own)
    assert result.returncode == 2
    assert (f"{own} is a version of group 'abalone-staging-models' in account {STAGING_ACCOUNT}; environment "
            f"'staging' scores with versions of its registry's group 'abalone-dev-models' in account "
            f"{REGISTRY_ACCOUNT} only: nothing deployed") in result.stderr
    assert pointer(client, "staging", STAGING_ACCOUNT) == "none"


def test_multi_account_rollback_rejects_a_version_in_one_environment_only(accounts, tmp_path):
    env, client = accounts
    first, second = register_versions(client("sagemaker", REGISTRY_ACCOUNT), "abalone-dev-models",
                                      ["Approved", "Approved"])
    for name, version in (("staging", first), ("staging", second), ("prod", second)):
        assert multi(env, name, "deploy-model", "--model-package-arn", version).returncode == 0

    rolled = multi(env, "staging", "rollback-model", "--report", str(tmp_path / "rollback.env"))

    assert rolled.returncode == 0, rolled.stderr
    assert pointer(client, "staging", STAGING_ACCOUNT) == first
    assert pointer(client, "prod", PROD_ACCOUNT) == second  # prod keeps the version staging rejected
    assert f"staging: rejected {second}; active now: {first}" in rolled.stdout
    assert "RESTORED_MODEL_PACKAGE_ARN=" + first in (tmp_path / "rollback.env").read_text()
    again = multi(env, "staging", "rollback-model")
    assert again.returncode == 0 and pointer(client, "staging", STAGING_ACCOUNT) == "none"
    nothing = multi(env, "staging", "rollback-model")
    assert nothing.returncode == 2 and "has no active model version" in nothing.stderr


# ------------------------------------------------------------------------------------------------ promotion


def test_promotion_gate_passes_only_when_the_source_environment_is_deployed(account):
    env, client = account
    missing = run_wrapper("promote_check.sh", "dev", "staging", env=env)
    assert missing.returncode == 1
    for name in ("abalone-dev-training", "abalone-dev-training-hpo", "abalone-dev-inference"):
        assert f"pipeline '{name}'" in missing.stderr
    assert "SSM parameter /abalone/dev/active-model-package-arn is missing" in missing.stderr

    create_stack_parts(client, "dev")
    passed = run_wrapper("promote_check.sh", "dev", "staging", env=env)
    assert passed.returncode == 0, passed.stderr
    assert "promotion dev -> staging approved" in passed.stdout


def test_promotion_needs_two_environments(account):
    env, _ = account
    result = run_wrapper("promote_check.sh", "prod", "prod", env=env)
    assert result.returncode == 2
    assert "two different environments" in result.stderr


# ------------------------------------------------------------------------------------------------ retraining


def test_scheduled_retraining_starts_the_hpo_pipeline(account):
    env, client = account
    create_stack_parts(client, "prod")

    result = run_job("retrain", env={**env, "RETRAIN_ENVIRONMENT": "prod"})  # the schedule's variable

    assert result.returncode == 0, result.stdout + result.stderr
    executions = client("sagemaker").list_pipeline_executions(PipelineName="abalone-prod-training-hpo")
    assert len(executions["PipelineExecutionSummaries"]) == 1
    for other in ("abalone-prod-training", "abalone-prod-inference"):
        assert client("sagemaker").list_pipeline_executions(PipelineName=other)["PipelineExecutionSummaries"] == []


# ------------------------------------------------------------------------------------------------ upsert


@pytest.mark.slow  # two pipeline builds with the SageMaker SDK
def test_upsert_job_deploys_the_pipelines_that_the_promotion_gate_then_accepts(account):
    env, client = account
    client("s3").create_bucket(Bucket="abalone-dev-data")
    client("ssm").put_parameter(Name="/abalone/dev/active-model-package-arn", Value="none", Type="String")

    first = run_wrapper("upsert.sh", "dev", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    pipelines = sorted(load_settings("dev").pipeline_names.values())  # every pipeline the product builds
    assert sorted(line for line in first.stdout.splitlines() if line.startswith("abalone-dev-")) == sorted(
        f"{name}: created" for name in pipelines)
    assert "abalone-dev-model-quality" in pipelines

    gate = run_wrapper("promote_check.sh", "dev", "staging", env=env)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "checking presence only" in gate.stdout

    # With the definitions:dev artifact present, the gate also proves dev runs exactly those definitions.
    built = Path(env["BATCHOPS_CI_OUT"]) / "dev" / "definitions"
    built.mkdir(parents=True)
    for name in pipelines:
        definition = client("sagemaker").describe_pipeline(PipelineName=name)["PipelineDefinition"]
        (built / f"{name}.json").write_text(definition)
    matching = run_wrapper("promote_check.sh", "dev", "staging", env=env)
    assert matching.returncode == 0, matching.stderr
    assert "match this commit's definitions" in matching.stdout
    changed = json.loads((built / "abalone-dev-inference.json").read_text())
    changed["Steps"] = changed["Steps"][:-1]
    (built / "abalone-dev-inference.json").write_text(json.dumps(changed))
    stale = run_wrapper("promote_check.sh", "dev", "staging", env=env)
    assert stale.returncode == 1
    assert "pipeline 'abalone-dev-inference' differs from this commit's definition" in stale.stderr

    # Re-running the job updates in place (the pipelines' own tests pin "unchanged" for identical code).
    second = run_wrapper("upsert.sh", "dev", env=env)
    assert second.returncode == 0, second.stderr
    actions = dict(line.split(": ", 1) for line in second.stdout.splitlines() if line.startswith("abalone-dev-"))
    assert set(actions) == set(pipelines)
    assert set(actions.values()) <= {"unchanged", "updated"}


# ------------------------------------------------------------------------------------------------ teardown


def test_teardown_removes_pipelines_and_every_step_script_version_but_keeps_data(account):
    env, client = account
    create_stack_parts(client, "dev")
    s3 = client("s3")
    s3.create_bucket(Bucket="abalone-dev-data")
    s3.put_bucket_versioning(Bucket="abalone-dev-data", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket="abalone-dev-data", Key="pipeline-code/abc/preprocess.py", Body=body)
    s3.delete_object(Bucket="abalone-dev-data", Key="pipeline-code/abc/preprocess.py")  # a delete marker too
    s3.put_object(Bucket="abalone-dev-data", Key="data/training/batch.csv", Body=b"a,b\n1,2\n")

    first = run_batchops("--env", "dev", "ci", "teardown-pipelines", env=env)
    again = run_batchops("--env", "dev", "ci", "teardown-pipelines", env=env)

    assert first.returncode == 0, first.stderr
    assert "removed 3 step-script object version(s)" in first.stdout
    assert client("sagemaker").list_pipelines()["PipelineSummaries"] == []
    versions = s3.list_object_versions(Bucket="abalone-dev-data")
    assert [v["Key"] for v in versions.get("Versions", [])] == ["data/training/batch.csv"]
    assert versions.get("DeleteMarkers", []) == []
    assert again.returncode == 0, again.stderr
    assert "deleted pipelines: none; removed 0" in again.stdout


def test_credentials_of_another_account_are_refused_before_any_change(account, tmp_path):
    env, client = account
    create_stack_parts(client, "staging")
    approved, = register_versions(client("sagemaker"), "abalone-staging-models", ["Approved"])
    file = tmp_path / "staging.tfvars"  # staging, pinned to an account the (moto) credentials are not of
    pinned = '\naccounts = { account_id = "999999999999" }\n'
    file.write_text((ROOT / "env_files" / "staging.tfvars").read_text() + pinned)
    result = run_batchops("--env", str(file), "ci", "deploy-model", "--model-package-arn", approved, env=env)
    assert result.returncode == 2
    assert ("the AWS credentials belong to account 123456789012, environment 'staging' lives in 999999999999 "
            f"(accounts.account_id in {file})") in result.stderr
    assert active_model(client, "staging") == "none"
