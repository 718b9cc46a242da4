"""Several accounts in one emulator: a request's account comes from moto's header or from keys STS AssumeRole
returned for a role in another account; the ARNs the emulator builds carry that account; pipeline executions
and Lambda handlers act as their execution role; cross-account reads of a model package group, a bucket and a
KMS key are denied (AWS's error code and wording) until the resource's policy and the caller's identity policy
allow them; a restart keeps every account."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from batchops_local.emulator import Emulator, accounts
from batchops_local.emulator.persistence import SNAPSHOT_FILE
from batchops_local.runner.aws import AwsClients

from .conftest import REGION, RecordingHandler, make_zip

REGISTRY = "111111111111"
CONSUMER = "222222222222"
CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER}:role/consumer-execution"
GROUP = "abalone-models"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/{GROUP}"
BUCKET = "registry-artefacts"
MODEL_KEY = "models/abalone/model.tar.gz"
INFERENCE = {
    "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                    "ModelDataUrl": f"s3://{BUCKET}/{MODEL_KEY}"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
READS = ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackageGroup",
         "s3:GetObject", "s3:ListBucket", "kms:Decrypt"]


def _allow(principal: str, actions: list[str], resources: list[str] | str) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": resources}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _session(emulator: Emulator, role_arn: str) -> boto3.session.Session:
    keys = emulator.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="consumer-test")["Credentials"]
    return boto3.session.Session(aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                                 aws_session_token=keys["SessionToken"], region_name=REGION)


def _consumer_role(emulator: Emulator, actions: list[str]) -> None:
    iam = emulator.client("iam", account_id=CONSUMER)
    iam.create_role(RoleName="consumer-execution", AssumeRolePolicyDocument=TRUST)
    if actions:
        iam.put_role_policy(RoleName="consumer-execution", PolicyName="registry-read",
                            PolicyDocument=_policy({"Effect": "Allow", "Action": actions, "Resource": "*"}))


def _registry(emulator: Emulator) -> dict[str, str]:
    """A group with one approved version, a bucket with its (KMS-encrypted) model and the key, in REGISTRY."""
    sagemaker = emulator.client("sagemaker", account_id=REGISTRY)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    package = sagemaker.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=INFERENCE,
                                             ModelApprovalStatus="Approved")["ModelPackageArn"]
    key = emulator.client("kms", account_id=REGISTRY).create_key()["KeyMetadata"]["Arn"]
    s3 = emulator.client("s3", account_id=REGISTRY)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=b"model bytes", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    return {"package": package, "key": key}


def _grant_group(emulator: Emulator, principal: str = CONSUMER_ROLE) -> None:
    emulator.client("sagemaker", account_id=REGISTRY).put_model_package_group_policy(
        ModelPackageGroupName=GROUP, ResourcePolicy=_policy(
            _allow(principal, ["sagemaker:DescribeModelPackageGroup"], GROUP_ARN),
            _allow(principal, ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                   f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/{GROUP}/*")))


def _grant_bucket(emulator: Emulator) -> None:
    emulator.client("s3", account_id=REGISTRY).put_bucket_policy(Bucket=BUCKET, Policy=_policy(
        _allow(CONSUMER_ROLE, ["s3:GetObject"], f"arn:aws:s3:::{BUCKET}/models/*"),
        _allow(CONSUMER_ROLE, ["s3:ListBucket"], f"arn:aws:s3:::{BUCKET}")))


def _grant_key(emulator: Emulator, key: str) -> None:
    kms = emulator.client("kms", account_id=REGISTRY)
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append(_allow(CONSUMER_ROLE, ["kms:Decrypt"], "*"))
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return {**raised.value.response["Error"], "status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# ------------------------------------------------------------------------------------------- selecting an account


def test_each_account_has_its_own_resources_by_header(emulator):
    for account in (REGISTRY, CONSUMER):
        sqs = emulator.client("sqs", account_id=account)
        url = sqs.create_queue(QueueName="same-name")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert arn == f"arn:aws:sqs:{REGION}:{account}:same-name"
        topic = emulator.client("sns", account_id=account).create_topic(Name=f"only-in-{account}")["TopicArn"]
        assert topic == f"arn:aws:sns:{REGION}:{account}:only-in-{account}"
    registry_topics = emulator.client("sns", account_id=REGISTRY).list_topics()["Topics"]
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in registry_topics] == [f"only-in-{REGISTRY}"]
    assert emulator.client("sns").list_topics()["Topics"] == []  # moto's default account: untouched
    identity = emulator.client("sts", account_id=CONSUMER).get_caller_identity()
    assert identity["Account"] == CONSUMER


def test_assume_role_keys_act_in_the_role_account_as_its_session(emulator):
    _consumer_role(emulator, [])
    session = _session(emulator, CONSUMER_ROLE)
    identity = session.client("sts", endpoint_url=emulator.endpoint_url).get_caller_identity()
    assert identity["Account"] == CONSUMER
    assert identity["Arn"] == f"arn:aws:sts::{CONSUMER}:assumed-role/consumer-execution/consumer-test"
    topic = session.client("sns", endpoint_url=emulator.endpoint_url).create_topic(Name="by-role")["TopicArn"]
    assert topic == f"arn:aws:sns:{REGION}:{CONSUMER}:by-role"
    assert emulator.env(CONSUMER)["AWS_ACCESS_KEY_ID"] != "test"
    admin = boto3.session.Session(**{k.lower(): v for k, v in emulator.env(CONSUMER).items()
                                     if k.startswith("AWS_") and k.endswith(("KEY_ID", "ACCESS_KEY", "TOKEN"))},
                                  region_name=REGION)
    assert admin.client("sts", endpoint_url=emulator.endpoint_url).get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{CONSUMER}:assumed-role/{accounts.ADMIN_ROLE_NAME}/batchops-local")


def test_finding_the_account_of_a_key_builds_no_iam_backends(emulator):
    """moto's own lookup built every partition's IAM backend of every account it had seen (seconds each with the
    AWS-managed policies) on each request signed with keys it had to look up."""
    from moto.iam.models import iam_backends

    emulator.client("s3", account_id=REGISTRY).list_buckets()
    _consumer_role(emulator, [])
    built = {account: sorted(dict.keys(iam_backends[account])) for account in (REGISTRY, CONSUMER)}
    _session(emulator, CONSUMER_ROLE).client("s3", endpoint_url=emulator.endpoint_url).list_buckets()
    assert {account: sorted(dict.keys(iam_backends[account])) for account in (REGISTRY, CONSUMER)} == built


def test_a_malformed_account_or_role_is_refused_in_one_line(emulator):
    with pytest.raises(ValueError, match="account id must be 12 digits, got '12345'"):
        emulator.client("s3", account_id="12345")
    with pytest.raises(ValueError, match="role ARN must be an IAM role ARN"):
        accounts.role_credentials("arn:aws:iam::1:user/x", REGION, "session")


# ------------------------------------------------------------------------------------------- what runs in an account


def test_a_pipeline_execution_runs_in_the_pipeline_account_as_its_role(emulator, handler, wait):
    seen: dict[str, Any] = {}

    def behaviour(request, sink):
        clients = AwsClients(request.endpoint_url, request.region, request.account_id, role_arn=request.role_arn)
        job_environment = clients.job_environment()
        job = boto3.session.Session(aws_access_key_id=job_environment["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=job_environment["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=job_environment["AWS_SESSION_TOKEN"], region_name=REGION)
        seen["job identity"] = job.client("sts", endpoint_url=request.endpoint_url).get_caller_identity()["Arn"]
        seen["runner identity"] = clients._client("sts").get_caller_identity()["Arn"]
        sink.execution_status(request.execution_arn, "Succeeded")

    handler.behaviour = behaviour
    _consumer_role(emulator, [])
    sagemaker = emulator.client("sagemaker", account_id=CONSUMER)
    definition = json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []})
    pipeline = sagemaker.create_pipeline(PipelineName="batch-inference", PipelineDefinition=definition,
                                         RoleArn=CONSUMER_ROLE)["PipelineArn"]
    execution = sagemaker.start_pipeline_execution(PipelineName="batch-inference")["PipelineExecutionArn"]
    assert emulator.wait_for_execution(execution) == "Succeeded"
    assert pipeline.startswith(f"arn:aws:sagemaker:{REGION}:{CONSUMER}:pipeline/")
    assert execution.startswith(f"arn:aws:sagemaker:{REGION}:{CONSUMER}:pipeline/")
    request = handler.requests[0]
    assert (request.account_id, request.role_arn) == (CONSUMER, CONSUMER_ROLE)
    session = f"arn:aws:sts::{CONSUMER}:assumed-role/consumer-execution/SageMaker"
    assert seen == {"job identity": session, "runner identity": session}
    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    with pytest.raises(ClientError):  # the execution lives in CONSUMER only
        emulator.client("sagemaker", account_id=REGISTRY).describe_pipeline_execution(PipelineExecutionArn=execution)


def test_a_lambda_handler_calls_aws_as_its_execution_role(emulator):
    _consumer_role(emulator, [])
    source = ("import boto3\n"
              "def handler(event, context):\n"
              "    return boto3.client('sts').get_caller_identity()['Arn']\n")
    client = emulator.client("lambda", account_id=CONSUMER)
    arn = client.create_function(FunctionName="whoami", Runtime="python3.12", Role=CONSUMER_ROLE,
                                 Handler="app.handler", Code={"ZipFile": make_zip({"app.py": source})},
                                 Timeout=30)["FunctionArn"]
    assert arn == f"arn:aws:lambda:{REGION}:{CONSUMER}:function:whoami"
    answer = json.loads(client.invoke(FunctionName="whoami")["Payload"].read())
    assert answer == f"arn:aws:sts::{CONSUMER}:assumed-role/consumer-execution/whoami"


def test_an_event_reaches_the_rule_of_the_account_it_happened_in(emulator, wait):
    for account in (REGISTRY, CONSUMER):
        emulator.client("sqs", account_id=account).create_queue(QueueName="registry-events")
        events = emulator.client("events", account_id=account)
        events.put_rule(Name="registry", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
        events.put_targets(Rule="registry", Targets=[
            {"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{account}:registry-events"}])
    emulator.client("sagemaker", account_id=REGISTRY).create_model_package_group(ModelPackageGroupName=GROUP)
    emulator.client("sagemaker", account_id=REGISTRY).create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=INFERENCE)

    def received(account: str) -> list[dict[str, Any]]:
        sqs = emulator.client("sqs", account_id=account)
        url = sqs.get_queue_url(QueueName="registry-events")["QueueUrl"]
        return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0,
                                                                    MaxNumberOfMessages=10).get("Messages", [])]

    events = wait(lambda: received(REGISTRY), what="the model package event in the registry account")
    assert events[0]["account"] == REGISTRY
    assert events[0]["resources"] == [f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/{GROUP}/1"]
    assert received(CONSUMER) == []


def test_a_schedule_rule_of_another_account_fires_by_its_account(emulator, wait):
    from batchops_local.emulator.events.schedules import RuleNotFound

    sqs = emulator.client("sqs", account_id=CONSUMER)
    url = sqs.create_queue(QueueName="retrain")["QueueUrl"]
    events = emulator.client("events", account_id=CONSUMER)
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{CONSUMER}:retrain"}])
    with pytest.raises(RuleNotFound):
        emulator.fire_rule_now("nightly")  # the default account has no such rule
    emulator.fire_rule_now("nightly", account_id=CONSUMER)
    messages = wait(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"),
                    what="the scheduled event in the consumer's queue")
    event = json.loads(messages[0]["Body"])
    assert (event["account"], event["resources"]) == (
        CONSUMER, [f"arn:aws:events:{REGION}:{CONSUMER}:rule/nightly"])


# ------------------------------------------------------------------------------------------- cross-account access


def test_a_consumer_reads_the_registry_group_only_with_its_policy(emulator):
    registry = _registry(emulator)
    _consumer_role(emulator, READS)
    consumer = _session(emulator, CONSUMER_ROLE).client("sagemaker", endpoint_url=emulator.endpoint_url)
    session = f"arn:aws:sts::{CONSUMER}:assumed-role/consumer-execution/consumer-test"

    denied = _error(lambda: consumer.describe_model_package(ModelPackageName=registry["package"]))
    assert denied == {"Code": "AccessDeniedException", "status": 400, "Message": (
        f"User: {session} is not authorized to perform: sagemaker:DescribeModelPackage on resource: "
        f"{registry['package']} because no resource-based policy allows the sagemaker:DescribeModelPackage action")}
    assert _error(lambda: consumer.list_model_packages(ModelPackageGroupName=GROUP_ARN))["Code"] == (
        "AccessDeniedException")
    assert _error(lambda: consumer.describe_model_package_group(ModelPackageGroupName=GROUP_ARN))["Code"] == (
        "AccessDeniedException")

    _grant_group(emulator)
    described = consumer.describe_model_package(ModelPackageName=registry["package"])
    assert (described["ModelPackageArn"], described["ModelApprovalStatus"]) == (registry["package"], "Approved")
    listed = consumer.list_model_packages(ModelPackageGroupName=GROUP_ARN)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [registry["package"]]
    assert consumer.describe_model_package_group(ModelPackageGroupName=GROUP_ARN)["ModelPackageGroupArn"] == GROUP_ARN
    model = consumer.create_model(ModelName="from-registry", ExecutionRoleArn=CONSUMER_ROLE,
                                  PrimaryContainer={"ModelPackageName": registry["package"]})["ModelArn"]
    assert model == f"arn:aws:sagemaker:{REGION}:{CONSUMER}:model/from-registry"
    # the consumer's own account never got a copy of the group
    assert emulator.client("sagemaker", account_id=CONSUMER).list_model_package_groups()[
        "ModelPackageGroupSummaryList"] == []


def test_the_group_policy_must_name_the_caller_and_the_identity_policy_must_allow(emulator):
    registry = _registry(emulator)
    _consumer_role(emulator, ["s3:GetObject"])  # no sagemaker:* in its identity policy
    _grant_group(emulator)
    consumer = _session(emulator, CONSUMER_ROLE).client("sagemaker", endpoint_url=emulator.endpoint_url)
    message = _error(lambda: consumer.describe_model_package(ModelPackageName=registry["package"]))["Message"]
    assert message.endswith("because no identity-based policy allows the sagemaker:DescribeModelPackage action")

    _grant_group(emulator, principal="arn:aws:iam::333333333333:root")  # another account only
    emulator.client("iam", account_id=CONSUMER).put_role_policy(
        RoleName="consumer-execution", PolicyName="registry-read",
        PolicyDocument=_policy({"Effect": "Allow", "Action": READS, "Resource": "*"}))
    message = _error(lambda: consumer.describe_model_package(ModelPackageName=registry["package"]))["Message"]
    assert message.endswith("because no resource-based policy allows the sagemaker:DescribeModelPackage action")

    _grant_group(emulator, principal=CONSUMER)  # the whole account: its identity policies decide
    assert consumer.describe_model_package(ModelPackageName=registry["package"])["ModelPackageArn"]


def test_the_group_policy_api_as_terraform_uses_it(emulator):
    _registry(emulator)
    sagemaker = emulator.client("sagemaker", account_id=REGISTRY)
    missing = _error(lambda: sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP))
    assert missing["Code"] == "ValidationException" and "Cannot find resource policy" in missing["Message"]
    _grant_group(emulator)
    policy = json.loads(sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP)["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": CONSUMER_ROLE}
    sagemaker.delete_model_package_group_policy(ModelPackageGroupName=GROUP)
    assert _error(lambda: sagemaker.delete_model_package_group_policy(ModelPackageGroupName=GROUP))["Code"] == (
        "ValidationException")
    no_group = _error(lambda: sagemaker.put_model_package_group_policy(
        ModelPackageGroupName="no-such-group", ResourcePolicy=_policy(_allow(CONSUMER, ["sagemaker:*"], "*"))))
    assert "Cannot find Model Package Group no-such-group" in no_group["Message"]
    not_a_policy = _error(lambda: sagemaker.put_model_package_group_policy(ModelPackageGroupName=GROUP,
                                                                          ResourcePolicy="not json"))
    assert not_a_policy["Code"] == "ValidationException"


def test_a_consumer_gets_the_registry_object_only_with_the_bucket_policy_and_the_key_grant(emulator):
    registry = _registry(emulator)
    _consumer_role(emulator, READS)
    s3 = _session(emulator, CONSUMER_ROLE).client("s3", endpoint_url=emulator.endpoint_url)
    denied = _error(lambda: s3.get_object(Bucket=BUCKET, Key=MODEL_KEY))
    assert (denied["Code"], denied["Message"], denied["status"]) == ("AccessDenied", "Access Denied", 403)
    assert _error(lambda: s3.list_objects_v2(Bucket=BUCKET))["Code"] == "AccessDenied"

    _grant_bucket(emulator)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="models/")["Contents"]] == [MODEL_KEY]
    # the object is encrypted with the registry's key: without kms:Decrypt on it, S3 refuses to return its bytes
    # (its metadata needs no key)
    assert _error(lambda: s3.get_object(Bucket=BUCKET, Key=MODEL_KEY))["Code"] == "AccessDenied"
    assert s3.head_object(Bucket=BUCKET, Key=MODEL_KEY)["ServerSideEncryption"] == "aws:kms"
    _grant_key(emulator, registry["key"])
    assert s3.get_object(Bucket=BUCKET, Key=MODEL_KEY)["Body"].read() == b"model bytes"
    # read-only: nothing in the grant allows writing or reading outside the prefix
    assert _error(lambda: s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=b"overwritten"))["Code"] == "AccessDenied"
    emulator.client("s3", account_id=REGISTRY).put_object(Bucket=BUCKET, Key="private/x", Body=b"x")
    assert _error(lambda: s3.get_object(Bucket=BUCKET, Key="private/x"))["Code"] == "AccessDenied"
    assert emulator.client("s3", account_id=REGISTRY).get_object(Bucket=BUCKET, Key=MODEL_KEY)["Body"].read() == (
        b"model bytes")


def test_a_consumer_creates_a_function_from_a_registry_package_only_with_the_bucket_policy_and_the_key_grant(emulator):
    """Lambda reads a deployment package with its caller's rights (packages.py), here across accounts."""
    key = _registry(emulator)["key"]
    package = make_zip({"app.py": "def handler(event, context):\n    return 'shared'\n"})
    emulator.client("s3", account_id=REGISTRY).put_object(Bucket=BUCKET, Key="models/app.zip", Body=package,
                                                          ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    _consumer_role(emulator, READS)
    awslambda = _session(emulator, CONSUMER_ROLE).client("lambda", endpoint_url=emulator.endpoint_url)

    def create() -> dict[str, Any]:
        return awslambda.create_function(FunctionName="shared", Runtime="python3.12", Role=CONSUMER_ROLE,
                                         Handler="app.handler", Code={"S3Bucket": BUCKET, "S3Key": "models/app.zip"})

    denied = {"Code": "AccessDeniedException", "status": 403, "Message": (
        f"Your access has been denied by S3, please make sure your request credentials have permission to GetObject "
        f"for {BUCKET}/models/app.zip. S3 Error Code: AccessDenied. S3 Error Message: Access Denied")}
    assert _error(create).items() >= denied.items()
    _grant_bucket(emulator)
    assert _error(create).items() >= denied.items()  # the key does not let the consumer decrypt yet
    _grant_key(emulator, key)
    assert create()["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert json.loads(awslambda.invoke(FunctionName="shared")["Payload"].read()) == "shared"


def test_a_listing_grant_narrowed_by_s3_prefix_allows_only_listings_under_that_prefix(emulator):
    _registry(emulator)
    _consumer_role(emulator, READS)
    emulator.client("s3", account_id=REGISTRY).put_bucket_policy(Bucket=BUCKET, Policy=_policy(
        {**_allow(CONSUMER_ROLE, ["s3:ListBucket"], f"arn:aws:s3:::{BUCKET}"),
         "Condition": {"StringLike": {"s3:prefix": ["models/*"]}}}))
    s3 = _session(emulator, CONSUMER_ROLE).client("s3", endpoint_url=emulator.endpoint_url)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="models/abalone/")["Contents"]] == [MODEL_KEY]
    assert [o["Key"] for o in s3.list_objects(Bucket=BUCKET, Prefix="models/")["Contents"]] == [MODEL_KEY]
    # outside the prefix, and without one (the key is absent, so StringLike does not hold): refused as on AWS
    assert _error(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="private/"))["Code"] == "AccessDenied"
    assert _error(lambda: s3.list_objects_v2(Bucket=BUCKET))["Code"] == "AccessDenied"


def test_a_consumer_decrypts_with_the_registry_key_only_when_the_key_policy_grants_it(emulator):
    registry = _registry(emulator)
    _consumer_role(emulator, READS + ["kms:GenerateDataKey"])
    blob = emulator.client("kms", account_id=REGISTRY).encrypt(KeyId=registry["key"], Plaintext=b"secret")[
        "CiphertextBlob"]
    kms = _session(emulator, CONSUMER_ROLE).client("kms", endpoint_url=emulator.endpoint_url)
    denied = _error(lambda: kms.decrypt(CiphertextBlob=blob))
    assert (denied["Code"], denied["status"]) == ("AccessDeniedException", 400)
    assert denied["Message"].endswith(f"kms:Decrypt on resource: {registry['key']} because no resource-based "
                                      "policy allows the kms:Decrypt action")
    assert _error(lambda: kms.generate_data_key(KeyId=registry["key"], KeySpec="AES_256"))["Code"] == (
        "AccessDeniedException")

    _grant_key(emulator, registry["key"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # the key policy grants Decrypt only
    assert _error(lambda: kms.generate_data_key(KeyId=registry["key"], KeySpec="AES_256"))["Code"] == (
        "AccessDeniedException")


def test_within_one_account_nothing_changes(emulator):
    """A role with no identity policy at all still works in its own account, as moto answered before."""
    _consumer_role(emulator, [])
    session = _session(emulator, CONSUMER_ROLE)
    s3 = session.client("s3", endpoint_url=emulator.endpoint_url)
    s3.create_bucket(Bucket="consumer-own")
    s3.put_object(Bucket="consumer-own", Key="k", Body=b"v")
    assert s3.get_object(Bucket="consumer-own", Key="k")["Body"].read() == b"v"
    sagemaker = session.client("sagemaker", endpoint_url=emulator.endpoint_url)
    sagemaker.create_model_package_group(ModelPackageGroupName="own")
    own = f"arn:aws:sagemaker:{REGION}:{CONSUMER}:model-package-group/own"
    assert sagemaker.describe_model_package_group(ModelPackageGroupName=own)["ModelPackageGroupArn"] == own


# ------------------------------------------------------------------------------------------- restart


def test_a_restart_keeps_every_account_and_the_grants(tmp_path):
    def start() -> Emulator:
        return Emulator(tmp_path / "home", execution_handler=RecordingHandler(), load_aws_managed_policies=False,
                        state_path=tmp_path / "home" / SNAPSHOT_FILE).start()

    first = start()
    try:
        registry = _registry(first)
        _consumer_role(first, READS)
        _grant_group(first)
        _grant_bucket(first)
        _grant_key(first, registry["key"])
        first.client("sns", account_id=CONSUMER).create_topic(Name="consumer-topic")
        keys = first.client("sts").assume_role(RoleArn=CONSUMER_ROLE, RoleSessionName="before-restart")[
            "Credentials"]
    finally:
        first.stop()

    second = start()
    try:
        assert second.restored is not None
        topics = second.client("sns", account_id=CONSUMER).list_topics()["Topics"]
        assert [t["TopicArn"] for t in topics] == [f"arn:aws:sns:{REGION}:{CONSUMER}:consumer-topic"]
        session = boto3.session.Session(aws_access_key_id=keys["AccessKeyId"],
                                        aws_secret_access_key=keys["SecretAccessKey"],
                                        aws_session_token=keys["SessionToken"], region_name=REGION)
        sts = session.client("sts", endpoint_url=second.endpoint_url)
        assert sts.get_caller_identity()["Account"] == CONSUMER  # keys handed out before the restart still work
        consumer = session.client("sagemaker", endpoint_url=second.endpoint_url)
        assert consumer.describe_model_package(ModelPackageName=registry["package"])["ModelPackageArn"] == (
            registry["package"])
        s3 = session.client("s3", endpoint_url=second.endpoint_url)
        assert s3.get_object(Bucket=BUCKET, Key=MODEL_KEY)["Body"].read() == b"model bytes"
        # the other account still cannot take the registry's bucket name
        taken = _error(lambda: second.client("s3", account_id=CONSUMER).create_bucket(Bucket=BUCKET))
        assert taken["Code"] == "BucketAlreadyExists"
    finally:
        second.stop()
