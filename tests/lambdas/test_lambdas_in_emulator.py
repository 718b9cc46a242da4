"""The Lambdas deployed from their real zips into the local emulator: events reach them through EventBridge
rules, they run in a subprocess with only the zip on their path, and their effects land in SNS mail / SSM."""

from __future__ import annotations

import json

import pytest

from batchops.lambda_package import build_lambda_zips
from batchops_local.emulator import read_invocation_log, read_outbox
from batchops_local.runtime import start_local_aws

GROUP = "abalone-e2e-models"
POINTER = "/abalone/e2e/active-model-package-arn"
PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone-e2e-training"
INFERENCE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone-e2e-inference"
HPO_PIPELINE = "abalone-e2e-training-hpo"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def local_aws(tmp_path):
    runtime = start_local_aws(
        tmp_path / "home", execution_handler=None, lambda_retry_delay_seconds=0.05, load_aws_managed_policies=False
    )
    try:
        yield runtime
    finally:
        runtime.stop()


def deploy(local_aws, tmp_path, packaged_handler: bool = False) -> dict[str, str]:
    """Topic with a mail recipient, dedup table, pointer, group, both functions and their rules.

    The handler setting is `handler.handler`, or with `packaged_handler` `lambdas.<function>.handler.handler`
    (the form Terraform uses): the zips support both."""
    sns, dynamodb, ssm = (local_aws.client(s) for s in ("sns", "dynamodb", "ssm"))
    topic = sns.create_topic(Name="abalone-e2e-notifications")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
    dynamodb.create_table(
        TableName="abalone-e2e-event-dedup",
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ssm.put_parameter(Name=POINTER, Value="none", Type="String")
    local_aws.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    common = {
        "PROJECT": "abalone",
        "ENVIRONMENT": "e2e",
        "SNS_TOPIC_ARN": topic,
        "DEDUP_TABLE": "abalone-e2e-event-dedup",
    }
    environments = {
        "notification": {**common, "NOTIFICATION_RULES": "[]"},
        "approval_trigger": {**common, "MODEL_PACKAGE_GROUP": GROUP, "ACTIVE_MODEL_PARAMETER": POINTER},
        "retrain_trigger": {**common, "RETRAIN_PIPELINE_NAME": HPO_PIPELINE,
                            "RETRAIN_PARAMETERS": json.dumps({"InputBucket": "abalone-e2e-data",
                                                              "InputKey": "data/training/"})},
    }
    patterns = {
        "notification": {
            "source": ["aws.sagemaker"],
            "detail-type": [
                "SageMaker Model Building Pipeline Execution Status Change",
                "SageMaker Model Building Pipeline Execution Step Status Change",
            ],
        },
        "approval_trigger": {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved", "Rejected"]},
        },
        "retrain_trigger": {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Building Pipeline Execution Step Status Change"],
            "detail": {"pipelineArn": [INFERENCE_ARN], "stepName": ["ModelQualityViolated"],
                       "currentStepStatus": ["Failed"]},
        },
    }
    role = local_aws.client("iam").create_role(
        RoleName="abalone-e2e-lambda", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )
    lambda_client, events = local_aws.client("lambda"), local_aws.client("events")
    for name, path in build_lambda_zips(tmp_path / "zips").items():
        arn = lambda_client.create_function(
            FunctionName=f"abalone-e2e-{name}",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler=f"lambdas.{name}.handler.handler" if packaged_handler else "handler.handler",
            Code={"ZipFile": path.read_bytes()},
            Environment={"Variables": environments[name]},
            Timeout=60,
        )["FunctionArn"]
        events.put_rule(Name=f"to-{name}", EventPattern=json.dumps(patterns[name]))
        events.put_targets(Rule=f"to-{name}", Targets=[{"Id": name, "Arn": arn}])
    return {"topic": topic}


def test_approval_in_the_registry_moves_the_pointer_and_mails_the_team(local_aws, tmp_path):
    deploy(local_aws, tmp_path)
    sagemaker = local_aws.client("sagemaker")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://abalone-e2e/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    assert local_aws.wait_for_lambdas(90)
    invocations = [i for i in read_invocation_log(local_aws.home) if i["function"] == "abalone-e2e-approval_trigger"]
    assert invocations and all(i["rc"] == 0 for i in invocations), invocations
    assert local_aws.client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"] == arn
    [mail] = read_outbox(local_aws.home)
    assert mail["subject"] == "[e2e] model version 1 approved: now used for batch inference"
    assert f"Model package:         {arn}" in mail["body"]


def test_failed_step_event_becomes_one_readable_mail(local_aws, tmp_path):
    deploy(local_aws, tmp_path, packaged_handler=True)
    detail = {
        "pipelineArn": PIPELINE_ARN,
        "pipelineExecutionArn": f"{PIPELINE_ARN}/execution/run42",
        "stepName": "MetricAboveThreshold",
        "stepType": "Fail",
        "currentStepStatus": "Failed",
        "previousStepStatus": "Executing",
        "failureReason": "rmse 2.93 is above the registration threshold 2.6",
    }
    entry = {
        "Source": "aws.sagemaker",
        "Detail": json.dumps(detail),
        "Resources": [PIPELINE_ARN],
        "DetailType": "SageMaker Model Building Pipeline Execution Step Status Change",
    }
    local_aws.client("events").put_events(Entries=[entry])

    assert local_aws.wait_for_lambdas(90)
    [invocation] = read_invocation_log(local_aws.home)
    assert invocation["rc"] == 0, invocation["stderr_tail"]
    [mail] = read_outbox(local_aws.home)
    assert mail["subject"] == "[e2e] abalone-e2e-training: step MetricAboveThreshold failed"
    # No execution run42 exists in this emulator: the gate's result cannot be read, and the mail says so
    # (the gate values themselves come from Evaluate's result.json: tests/lambdas/test_notification_handler.py).
    assert "Quality gate: (not available: the result of Evaluate could not be read: ListPipelineExecutionSteps " \
        "failed" in mail["body"]
    assert "#/pipelines/abalone-e2e-training/executions/run42" in mail["body"]


def _create_hpo_pipeline(local_aws) -> None:
    definition = {"Version": "2020-12-01", "Parameters": [{"Name": "InputBucket", "Type": "String"},
                                                          {"Name": "InputKey", "Type": "String"}], "Steps": []}
    local_aws.client("sagemaker").create_pipeline(
        PipelineName=HPO_PIPELINE, PipelineDefinition=json.dumps(definition),
        ClientRequestToken="create-hpo-pipeline-" + "0" * 12,
        RoleArn="arn:aws:iam::123456789012:role/abalone-e2e-sagemaker")


def test_a_violation_sent_twice_starts_training_with_hpo_once(local_aws, tmp_path):
    """Issue 16, item 8: SageMaker may send one state change twice (different event ids)."""
    deploy(local_aws, tmp_path)
    _create_hpo_pipeline(local_aws)
    detail = {
        "pipelineArn": INFERENCE_ARN,
        "pipelineExecutionArn": f"{INFERENCE_ARN}/execution/run7",
        "stepName": "ModelQualityViolated",
        "stepType": "Fail",
        "currentStepStatus": "Failed",
        "previousStepStatus": "Executing",
    }
    entry = {
        "Source": "aws.sagemaker",
        "Detail": json.dumps(detail),
        "Resources": [INFERENCE_ARN],
        "DetailType": "SageMaker Model Building Pipeline Execution Step Status Change",
    }
    local_aws.client("events").put_events(Entries=[entry, entry])

    assert local_aws.wait_for_lambdas(90)
    invocations = [i for i in read_invocation_log(local_aws.home) if i["function"] == "abalone-e2e-retrain_trigger"]
    assert len(invocations) == 2 and all(i["rc"] == 0 for i in invocations), invocations
    executions = local_aws.client("sagemaker").list_pipeline_executions(PipelineName=HPO_PIPELINE)
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_start_pipeline_execution_with_the_same_token_starts_one_execution(local_aws):
    """The retrain_trigger's second line of defence is SageMaker's idempotency on ClientRequestToken."""
    _create_hpo_pipeline(local_aws)
    sagemaker = local_aws.client("sagemaker")
    token = "f" * 64
    first = sagemaker.start_pipeline_execution(PipelineName=HPO_PIPELINE, ClientRequestToken=token)
    second = sagemaker.start_pipeline_execution(PipelineName=HPO_PIPELINE, ClientRequestToken=token)
    assert first["PipelineExecutionArn"] == second["PipelineExecutionArn"]
    assert len(sagemaker.list_pipeline_executions(PipelineName=HPO_PIPELINE)["PipelineExecutionSummaries"]) == 1
