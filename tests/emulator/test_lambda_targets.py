"""EventBridge → Lambda: the real handler from the deployed zip runs in a subprocess, asynchronously, with
Lambda's own retries and on-failure destination; every attempt is in the invocation log."""

import json
import time

import pytest

from batchops_local.emulator import read_invocation_log, read_outbox

CUSTOM_EVENTS = {"source": ["batchops.test"]}

PUBLISHING_HANDLER = """
import json
import os

import boto3


def handler(event, context):
    key = event["detail"]["object"]["key"]
    boto3.client("sns").publish(
        TopicArn=os.environ["SNS_TOPIC_ARN"],
        Subject=f"new data: {key}",
        Message=json.dumps({
            "function": context.function_name,
            "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            "time_left": context.get_remaining_time_in_millis() > 0,
            "key": key,
        }),
    )
    return {"leaked": os.environ.get("BATCHOPS_TEST_SECRET"), "region": os.environ["AWS_REGION"]}
"""

FAILING_HANDLER = """
def handler(event, context):
    raise ValueError("bad batch " + event["detail"]["batch"])
"""

SLOW_HANDLER = """
import time


def handler(event, context):
    time.sleep(1.5)
    return "done"
"""


def _put_custom_event(aws, detail):
    response = aws.events.put_events(
        Entries=[{"Source": "batchops.test", "DetailType": "Test", "Detail": json.dumps(detail)}]
    )
    assert response["FailedEntryCount"] == 0
    return response["Entries"][0]["EventId"]


def test_lambda_target_runs_the_deployed_handler_which_publishes_to_the_outbox(aws, monkeypatch):
    monkeypatch.setenv("BATCHOPS_TEST_SECRET", "must-not-reach-the-handler")
    aws.bucket("data-bucket")
    topic = aws.topic_with_emails("alerts", ["ml-team@example.com"])
    function_arn = aws.function("notify", PUBLISHING_HANDLER, {"SNS_TOPIC_ARN": topic})
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
    aws.events.put_rule(Name="on-data", EventPattern=json.dumps(pattern))
    aws.events.put_targets(Rule="on-data", Targets=[{"Id": "notify", "Arn": function_arn}])
    seen = aws.capture("seen", pattern)

    aws.s3.put_object(Bucket="data-bucket", Key="data/inference/batch7.csv", Body=b"x\n")

    assert aws.emulator.wait_for_lambdas(60)
    event_id = aws.events_in(seen)[0]["id"]
    [invocation] = read_invocation_log(aws.emulator.home)
    assert invocation["function"] == "notify" and invocation["event_id"] == event_id
    assert invocation["rc"] == 0, invocation["stderr_tail"]
    assert invocation["result"] == {"leaked": None, "region": "us-east-1"}
    assert invocation["duration_s"] > 0
    [message] = read_outbox(aws.emulator.home)
    assert message["to"] == "ml-team@example.com"
    assert message["subject"] == "new data: data/inference/batch7.csv"
    assert json.loads(message["body"]) == {
        "function": "notify",
        "env_name": "notify",
        "time_left": True,
        "key": "data/inference/batch7.csv",
    }


def test_the_api_call_that_emits_the_event_does_not_wait_for_the_lambda(aws):
    function_arn = aws.function("slow", SLOW_HANDLER)
    aws.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    aws.events.put_targets(Rule="custom", Targets=[{"Id": "slow", "Arn": function_arn}])

    started = time.monotonic()
    event_id = _put_custom_event(aws, {"batch": "1"})
    assert time.monotonic() - started < 1.2
    assert read_invocation_log(aws.emulator.home) == []

    assert aws.emulator.wait_for_lambdas(60)
    [invocation] = read_invocation_log(aws.emulator.home)
    assert (invocation["event_id"], invocation["rc"], invocation["result"]) == (event_id, 0, "done")


def _on_failure(aws, function: str, queue_arn: str, **config) -> None:
    aws.awslambda.put_function_event_invoke_config(
        FunctionName=function, DestinationConfig={"OnFailure": {"Destination": queue_arn}}, **config
    )


@pytest.mark.parametrize(("config", "attempts"), [({}, 3), ({"MaximumRetryAttempts": 0}, 1)])
def test_lambda_retries_a_failing_function_then_records_it_at_the_on_failure_destination(aws, config, attempts):
    """Lambda's asynchronous rules (3 attempts by default), not the rule target's RetryPolicy; the record goes to
    the function's on-failure queue in Lambda's documented shape, and the target's DLQ stays empty."""
    function_arn = aws.function("fragile", FAILING_HANDLER)
    on_failure_url, on_failure_arn = aws.queue("fragile-on-failure")
    _on_failure(aws, "fragile", on_failure_arn, **config)
    events_dlq_url, events_dlq_arn = aws.queue("events-dlq")
    target = {"Id": "fragile", "Arn": function_arn, "DeadLetterConfig": {"Arn": events_dlq_arn},
              "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}}
    aws.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    aws.events.put_targets(Rule="custom", Targets=[target])

    event_id = _put_custom_event(aws, {"batch": "42"})

    assert aws.emulator.wait_for_lambdas(60)
    log = read_invocation_log(aws.emulator.home)
    assert [(entry["attempt"], entry["rc"], entry["event_id"]) for entry in log] == [
        (attempt, 1, event_id) for attempt in range(1, attempts + 1)
    ]
    assert "ValueError: bad batch 42" in log[-1]["stderr_tail"]
    assert aws.drain(events_dlq_url) == []  # EventBridge delivered the event to Lambda: not its DLQ's business
    [message] = aws.drain(on_failure_url)
    record = json.loads(message["Body"])
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload", "responseContext",
                           "responsePayload"}
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": log[-1]["request_id"], "functionArn": f"{function_arn}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": attempts}
    assert record["requestPayload"]["id"] == event_id and record["requestPayload"]["detail"] == {"batch": "42"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "bad batch 42"


def test_an_event_for_a_function_that_does_not_exist_goes_to_the_target_dead_letter_queue(aws):
    function_arn = aws.function("gone", FAILING_HANDLER)
    events_dlq_url, events_dlq_arn = aws.queue("events-dlq")
    aws.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    aws.events.put_targets(Rule="custom", Targets=[
        {"Id": "gone", "Arn": function_arn, "DeadLetterConfig": {"Arn": events_dlq_arn}}])
    aws.awslambda.delete_function(FunctionName="gone")

    event_id = _put_custom_event(aws, {"batch": "7"})

    assert aws.emulator.wait_for_lambdas(30)
    assert read_invocation_log(aws.emulator.home) == []
    [dead_letter] = aws.drain(events_dlq_url)
    assert json.loads(dead_letter["Body"])["id"] == event_id
    attributes = {name: value["StringValue"] for name, value in dead_letter["MessageAttributes"].items()}
    assert attributes["RULE_ARN"].endswith(":rule/custom") and attributes["TARGET_ARN"] == function_arn
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"


def test_a_handler_missing_from_the_zip_fails_each_attempt_and_is_logged(aws):
    function_arn = aws.function("broken", FAILING_HANDLER, handler="app.handler")
    aws.awslambda.update_function_configuration(FunctionName="broken", Handler="missing_module.handler")
    aws.awslambda.put_function_event_invoke_config(FunctionName="broken", MaximumRetryAttempts=0)
    aws.events.put_rule(Name="custom", EventPattern=json.dumps(CUSTOM_EVENTS))
    aws.events.put_targets(Rule="custom", Targets=[{"Id": "broken", "Arn": function_arn}])

    _put_custom_event(aws, {"batch": "1"})

    assert aws.emulator.wait_for_lambdas(60)
    [invocation] = read_invocation_log(aws.emulator.home)
    assert invocation["rc"] == 1
    assert "No module named 'missing_module'" in invocation["stderr_tail"]


ECHO_HANDLER = """
def handler(event, context):
    if event.get("fail"):
        raise KeyError("no such batch")
    return {"echo": event, "function": context.function_name}
"""


def test_the_invoke_api_runs_the_handler_too(aws):
    aws.function("echo", ECHO_HANDLER)

    response = aws.awslambda.invoke(FunctionName="echo", Payload=json.dumps({"batch": 3}))
    assert json.loads(response["Payload"].read()) == {"echo": {"batch": 3}, "function": "echo"}
    assert "FunctionError" not in response

    failed = aws.awslambda.invoke(FunctionName="echo", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())  # the Python runtime's error object
    assert (error["errorMessage"], error["errorType"], list(error)) == (
        "'no such batch'", "KeyError", ["errorMessage", "errorType", "requestId", "stackTrace"])
    assert [frame.splitlines()[-1].strip() for frame in error["stackTrace"]] == ['raise KeyError("no such batch")']

    queued = aws.awslambda.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps({"batch": 4}))
    assert queued["StatusCode"] == 202
    assert aws.emulator.wait_for_lambdas(60)
    assert [entry["result"] for entry in read_invocation_log(aws.emulator.home)][-1] == {
        "echo": {"batch": 4},
        "function": "echo",
    }


def test_an_sns_subscription_invokes_the_handler_asynchronously(aws):
    function_arn = aws.function("echo", ECHO_HANDLER)
    topic = aws.sns.create_topic(Name="to-lambda")["TopicArn"]
    aws.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)

    aws.sns.publish(TopicArn=topic, Message="hello")

    assert aws.emulator.wait_for_lambdas(60)
    [invocation] = read_invocation_log(aws.emulator.home)
    record = invocation["result"]["echo"]["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["Sns"]["Message"] == "hello"


def test_a_deployment_package_that_is_not_a_zip_is_logged_as_a_failed_invocation(aws):
    aws.role()
    aws.awslambda.create_function(
        FunctionName="corrupt",
        Runtime="python3.12",
        Role=aws.role(),
        Handler="app.handler",
        Code={"ZipFile": b"this is not a zip archive"},
    )
    response = aws.awslambda.invoke(FunctionName="corrupt", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    [invocation] = read_invocation_log(aws.emulator.home)
    assert invocation["rc"] is None and "cannot unpack the deployment package" in invocation["error"]
