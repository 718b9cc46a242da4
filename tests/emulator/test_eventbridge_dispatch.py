"""EventBridge dispatch through the emulator: S3 → rules → SageMaker pipeline, SNS and SQS targets."""

import json

from batchops_local.emulator import read_outbox

ACCOUNT = "123456789012"
REGION = "us-east-1"

DATA_DROP = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {"bucket": {"name": ["data-bucket"]}, "object": {"key": [{"prefix": "data/training/"}]}},
}


def test_object_under_prefix_starts_the_pipeline_with_parameters_resolved_from_the_event(aws, handler, wait):
    aws.bucket("data-bucket")
    pipeline_arn = aws.pipeline("abc-training", ["InputBucket", "InputKey"])
    aws.events.put_rule(Name="training-data", EventPattern=json.dumps(DATA_DROP))
    aws.events.put_targets(
        Rule="training-data",
        Targets=[
            {
                "Id": "training",
                "Arn": pipeline_arn,
                "RoleArn": aws.role(),
                "SageMakerPipelineParameters": {
                    "PipelineParameterList": [
                        {"Name": "InputBucket", "Value": "$.detail.bucket.name"},
                        {"Name": "InputKey", "Value": "$.detail.object.key"},
                    ]
                },
            }
        ],
    )

    aws.s3.put_object(Bucket="data-bucket", Key="elsewhere/ignored.csv", Body=b"a\n1\n")
    aws.s3.put_object(Bucket="data-bucket", Key="data/training/batch1.csv", Body=b"a\n1\n")

    wait(lambda: handler.requests, what="the execution handler to be called")
    request = handler.requests[0]
    assert request.pipeline_name == "abc-training"
    assert request.parameters == {"InputBucket": "data-bucket", "InputKey": "data/training/batch1.csv"}
    assert request.definition["Parameters"][0]["Name"] == "InputBucket"
    assert request.endpoint_url == aws.emulator.endpoint_url
    executions = aws.sagemaker.list_pipeline_executions(PipelineName="abc-training")["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [request.execution_arn]
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=request.execution_arn)
    assert {p["Name"]: p["Value"] for p in parameters["PipelineParameters"]}["InputKey"] == "data/training/batch1.csv"


def test_schedule_rules_ignore_events_and_a_failing_target_cancels_nothing(aws):
    aws.bucket("data-bucket")
    schedule_queue, schedule_queue_arn = aws.queue("scheduled")
    # Created first, as in the Terraform stack: on stock moto its unsupported target silenced every rule.
    aws.events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    aws.events.put_targets(
        Rule="nightly",
        Targets=[
            {"Id": "pipeline", "Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/missing", "RoleArn": aws.role()},
            {"Id": "queue", "Arn": schedule_queue_arn},
        ],
    )
    first_queue, first_arn = aws.queue("first")
    aws.events.put_rule(Name="first", EventPattern=json.dumps(DATA_DROP))
    aws.events.put_targets(
        Rule="first",
        Targets=[
            {"Id": "missing-topic", "Arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:does-not-exist"},
            {"Id": "queue", "Arn": first_arn},
        ],
    )
    second_queue = aws.capture("second", DATA_DROP)

    aws.s3.put_object(Bucket="data-bucket", Key="data/training/a.csv", Body=b"x\n")

    first_events, second_events = aws.events_in(first_queue), aws.events_in(second_queue)
    assert [e["detail"]["object"]["key"] for e in first_events] == ["data/training/a.csv"]
    assert [e["id"] for e in second_events] == [first_events[0]["id"]]
    assert aws.drain(schedule_queue) == []
    deliveries = [json.loads(line) for line in (aws.emulator.home / "event-deliveries.jsonl").read_text().splitlines()]
    failed = [d for d in deliveries if d["outcome"] == "failed"]
    assert [(d["rule"], d["target_id"]) for d in failed] == [("first", "missing-topic")]
    assert "does-not-exist" in failed[0]["error"] or "NotFound" in failed[0]["error"]


def test_s3_events_have_unique_ids_and_the_real_detail_fields(aws):
    aws.bucket("data-bucket")
    queue = aws.capture("all-s3", {"source": ["aws.s3"]})

    aws.s3.put_object(Bucket="data-bucket", Key="data/training/a.csv", Body=b"x\n")
    aws.s3.copy_object(
        Bucket="data-bucket",
        Key="data/training/b.csv",
        CopySource={"Bucket": "data-bucket", "Key": "data/training/a.csv"},
    )

    events = aws.events_in(queue)
    assert [e["detail-type"] for e in events] == ["Object Created", "Object Created"]  # no empty "Object Tags Added"
    assert len({e["id"] for e in events}) == 2
    assert [e["detail"]["reason"] for e in events] == ["PutObject", "CopyObject"]
    first = events[0]
    assert first["resources"] == ["arn:aws:s3:::data-bucket"]
    assert first["detail"]["object"]["etag"] and first["detail"]["object"]["size"] == 2
    assert first["time"].endswith("Z") and first["account"] == ACCOUNT


def test_sns_target_input_transformer_text_reaches_every_email_recipient(aws):
    aws.bucket("data-bucket")
    topic = aws.topic_with_emails("alerts", ["ml-team@example.com", "data-eng@example.com"])
    aws.events.put_rule(Name="notify", EventPattern=json.dumps(DATA_DROP))
    aws.events.put_targets(
        Rule="notify",
        Targets=[
            {
                "Id": "mail",
                "Arn": topic,
                "InputTransformer": {
                    "InputPathsMap": {"key": "$.detail.object.key", "bucket": "$.detail.bucket.name"},
                    "InputTemplate": "New object <key> in <bucket>",
                },
            }
        ],
    )

    aws.s3.put_object(Bucket="data-bucket", Key="data/training/x.csv", Body=b"x\n")

    messages = read_outbox(aws.emulator.home)
    assert sorted(m["to"] for m in messages) == ["data-eng@example.com", "ml-team@example.com"]
    assert {m["body"].strip() for m in messages} == {"New object data/training/x.csv in data-bucket"}
    assert {m["subject"] for m in messages} == {"AWS Notification Message"}
    assert {m["topic_arn"] for m in messages} == {topic}
    assert all(m["path"].name.endswith(".eml") and m["date"] for m in messages)


def test_disabled_rules_receive_nothing(aws):
    aws.bucket("data-bucket")
    queue = aws.capture("paused", DATA_DROP)
    aws.events.disable_rule(Name="paused")
    aws.s3.put_object(Bucket="data-bucket", Key="data/training/x.csv", Body=b"x\n")
    assert aws.drain(queue) == []
    aws.events.enable_rule(Name="paused")
    aws.s3.put_object(Bucket="data-bucket", Key="data/training/y.csv", Body=b"x\n")
    assert [e["detail"]["object"]["key"] for e in aws.events_in(queue)] == ["data/training/y.csv"]


def test_sns_publish_with_subject_and_email_json_subscription(aws):
    topic = aws.topic_with_emails("plain", ["person@example.com"])
    aws.sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="robot@example.com")
    message_id = aws.sns.publish(TopicArn=topic, Subject="Run finished", Message="All good.\nSecond line.")["MessageId"]
    messages = {m["to"]: m for m in read_outbox(aws.emulator.home)}
    assert messages["person@example.com"]["subject"] == "Run finished"
    assert messages["person@example.com"]["body"] == "All good.\nSecond line.\n"
    assert messages["person@example.com"]["message_id"] == message_id
    as_json = json.loads(messages["robot@example.com"]["body"])
    assert as_json["Message"] == "All good.\nSecond line." and as_json["Type"] == "Notification"
