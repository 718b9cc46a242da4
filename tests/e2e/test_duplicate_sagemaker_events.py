"""SageMaker "may send multiple events to EventBridge for each state change"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html): a pipeline run by
the local runner with every SageMaker event sent twice (different event ids), the notification Lambda deployed
from its real zip behind its EventBridge rule: each state change is mailed once."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from batchops.lambda_package import build_lambda_zips
from batchops_local.emulator import read_invocation_log, read_outbox
from batchops_local.runtime import start_local_aws

ROLE = "arn:aws:iam::123456789012:role/duplicates-test"
PIPELINE_EVENTS = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Building Pipeline Execution Status Change",
                    "SageMaker Model Building Pipeline Execution Step Status Change"],
}
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
GATE = {"Version": "2020-12-01", "Parameters": [], "Steps": [
    {"Name": "CheckMetric", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}],
        "IfSteps": [],
        "ElseSteps": [{"Name": "MetricAboveThreshold", "Type": "Fail",
                       "Arguments": {"ErrorMessage": "rmse 2.93 is above the registration threshold 2.6"}}]}}]}


@pytest.fixture
def local_aws(tmp_path):
    runtime = start_local_aws(tmp_path / "home", duplicate_sagemaker_events=True, lambda_retry_delay_seconds=0.05,
                              load_aws_managed_policies=False)
    try:
        yield runtime
    finally:
        runtime.stop()


def _deploy_notification(local_aws, tmp_path) -> None:
    sns, dynamodb, events = (local_aws.client(s) for s in ("sns", "dynamodb", "events"))
    topic = sns.create_topic(Name="dup-notifications")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
    dynamodb.create_table(TableName="dup-event-dedup", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}])
    role = local_aws.client("iam").create_role(RoleName="dup-lambda",
                                               AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    zip_path = build_lambda_zips(tmp_path / "zips")["notification"]
    arn = local_aws.client("lambda").create_function(
        FunctionName="dup-notification", Runtime="python3.12", Role=role, Handler="handler.handler", Timeout=60,
        Code={"ZipFile": zip_path.read_bytes()},
        Environment={"Variables": {"PROJECT": "abalone", "ENVIRONMENT": "dup", "SNS_TOPIC_ARN": topic,
                                   "DEDUP_TABLE": "dup-event-dedup", "NOTIFICATION_RULES": "[]"}},
    )["FunctionArn"]
    events.put_rule(Name="to-notification", EventPattern=json.dumps(PIPELINE_EVENTS))
    events.put_targets(Rule="to-notification", Targets=[{"Id": "notification", "Arn": arn}])


def test_each_sagemaker_state_change_arrives_twice_and_is_mailed_once(local_aws, tmp_path):
    _deploy_notification(local_aws, tmp_path)
    sqs, events, sagemaker = (local_aws.client(s) for s in ("sqs", "events", "sagemaker"))
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="capture", EventPattern=json.dumps(PIPELINE_EVENTS))
    events.put_targets(Rule="capture", Targets=[{"Id": "seen", "Arn": queue_arn}])
    sagemaker.create_pipeline(PipelineName="dup-training", PipelineDefinition=json.dumps(GATE), RoleArn=ROLE)

    arn = sagemaker.start_pipeline_execution(PipelineName="dup-training")["PipelineExecutionArn"]
    assert local_aws.wait_for_execution(arn, timeout=120) == "Failed"
    assert local_aws.wait_for_lambdas(120)

    seen = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        seen += [json.loads(m["Body"]) for m in batch]
        for message in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    def change(event: dict) -> tuple:
        detail = event["detail"]
        return (detail.get("stepName", "execution"),
                detail.get("currentStepStatus") or detail["currentPipelineExecutionStatus"])

    # Every state change twice, each copy with its own event id.
    changes = Counter(change(event) for event in seen)
    assert changes and set(changes.values()) == {2}, changes
    assert len({event["id"] for event in seen}) == len(seen)
    assert ("MetricAboveThreshold", "Failed") in changes and ("execution", "Failed") in changes

    # The Lambda was invoked for every copy and never failed.
    invocations = read_invocation_log(local_aws.home)
    assert sorted(i["event_id"] for i in invocations) == sorted(event["id"] for event in seen)
    assert all(i["rc"] == 0 for i in invocations), [i["stderr_tail"] for i in invocations if i["rc"]]

    # One email per state change: the claim is on the state change (execution ARN, step, statuses, times), not on
    # the event id, so the second copy finds it done. The default rules mail the failed Fail step and the
    # execution's failure.
    mails = read_outbox(local_aws.home)
    subjects = Counter(mail["subject"] for mail in mails)
    assert set(subjects.values()) == {1}, subjects
    assert len(mails) == 2, subjects
    assert any("MetricAboveThreshold failed" in subject for subject in subjects), subjects
    assert any("execution failed" in subject for subject in subjects), subjects
    copies = Counter((i.get("result") or {}).get("status") for i in invocations)
    assert copies["sent"] == 2 and copies["duplicate"] == 2, copies
