"""Issue 17, item 5: a secret never leaves the Lambdas, even when a server echoes the request back.

A real HTTP server on 127.0.0.1 (lambda_testkit.local_server, stopped by the fixture) answers 4xx with the
request it received; the token must appear in no log line, exception text, email or on-failure record.
"""

from __future__ import annotations

import json
import traceback
import urllib.parse

import pytest
from lambda_testkit import GROUP, INFERENCE, POINTER, TRAINING, echo, json_echo, package_event, step_event

from batchops.lambda_package import build_lambda_zips
from batchops_local.emulator import read_invocation_log, read_outbox
from batchops_local.runtime import start_local_aws
from lambdas.approval_trigger.handler import handler as approval_handler
from lambdas.notification.handler import handler as notification_handler
from lambdas.shared import outbound, runtime
from lambdas.shared.outbound import OutboundError
from lambdas.shared.runtime import REDACTED, client, lambda_handler, log, redact, register_secret

# '/', '+' and '=' make the URL-encoded form (what GitLab receives and echoes) differ from the raw value.
TOKEN = "glptt-S3cr3t/Tok+en=value"
WEBHOOK_PATH = "/services/T0AAAA/B0BBBB/webhookCredential42"


@pytest.fixture(autouse=True)
def no_registered_secrets():
    runtime.forget_secrets()
    yield
    runtime.forget_secrets()


def secret_forms(value: str) -> list[str]:
    """How the value looks raw, in a form body or URL, and inside a JSON string."""
    return [value, urllib.parse.quote_plus(value), urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]]


def assert_nowhere(value: str, *texts: str) -> None:
    for form in secret_forms(value):
        for text in texts:
            assert form not in text


def lambda_error_record(exc: BaseException) -> str:
    """What the Lambda runtime reports for an unhandled exception (the on-failure record's responsePayload) and
    prints to the function's log: the message, the type and the traceback with its chained exceptions."""
    payload = {"errorMessage": str(exc), "errorType": type(exc).__name__,
               "stackTrace": traceback.format_tb(exc.__traceback__)}
    return json.dumps(payload) + "\n" + "".join(traceback.format_exception(exc))


# ----------------------------------------------------------------------------------------- the redaction itself


def test_registered_secrets_are_redacted_in_every_encoded_form():
    assert register_secret(TOKEN)
    text = " | ".join(secret_forms(TOKEN))
    assert redact(text) == " | ".join([REDACTED] * 4)
    assert redact("nothing secret here") == "nothing secret here"


def test_a_webhook_url_is_redacted_whole_and_by_its_path():
    register_secret(f"https://hooks.example.com{WEBHOOK_PATH}")
    assert redact(f"POST {WEBHOOK_PATH} HTTP/1.1") == f"POST {REDACTED} HTTP/1.1"
    assert redact(f"url=https://hooks.example.com{WEBHOOK_PATH}") == f"url={REDACTED}"


def test_too_short_values_are_not_registered():
    assert not register_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_a_text_cut_inside_a_secret_loses_the_secret_beginning():
    register_secret(TOKEN)
    assert redact("answer: " + TOKEN[:10], cut_off=True) == "answer: "
    assert redact("answer: " + TOKEN[:10]) == "answer: " + TOKEN[:10], "an uncut text is left as it is"


def test_log_lines_are_redacted_and_stay_json(capsys):
    register_secret(TOKEN)
    log("error", f"failed with {TOKEN}", detail={"echo": [json.dumps({"token": TOKEN})]}, other=ValueError(TOKEN))
    line = capsys.readouterr().out
    assert_nowhere(TOKEN, line)
    record = json.loads(line)
    assert record["message"] == f"failed with {REDACTED}"
    assert record["other"] == REDACTED


def test_the_handler_wrapper_redacts_the_exception_and_its_chain():
    register_secret(TOKEN)

    @lambda_handler
    def failing(event, context):
        try:
            raise KeyError(TOKEN)
        except KeyError as exc:
            raise ValueError(f"lookup failed for {TOKEN}") from exc

    with pytest.raises(ValueError, match=r"lookup failed for \[REDACTED\]") as caught:
        failing({}, None)
    assert_nowhere(TOKEN, lambda_error_record(caught.value))


def test_an_exception_with_its_own_message_rendering_is_replaced():
    register_secret(TOKEN)

    class Rendered(Exception):
        def __str__(self):
            return f"rendered {TOKEN}"

    @lambda_handler
    def failing(event, context):
        raise Rendered()

    with pytest.raises(RuntimeError, match=r"^Rendered: rendered \[REDACTED\]$") as caught:
        failing({}, None)
    assert_nowhere(TOKEN, lambda_error_record(caught.value))


# ----------------------------------------------------------------------------------------- echoing servers


@pytest.fixture
def gitlab(stack, monkeypatch, local_server):
    client("ssm").put_parameter(Name=POINTER, Value="none", Type="String")
    client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    client("secretsmanager").create_secret(Name="gitlab-trigger", SecretString=json.dumps({"token": TOKEN}))
    for name, value in {
        "MODEL_PACKAGE_GROUP": GROUP,
        "INFERENCE_PIPELINE_NAME": INFERENCE,
        "ACTIVE_MODEL_PARAMETER": POINTER,
        "GITLAB_TRIGGER_ENABLED": "true",
        "GITLAB_URL": local_server.url,
        "GITLAB_PROJECT_ID": "ml/abalone-deploy",
        "GITLAB_REF": "release",
        "GITLAB_TOKEN_SECRET_NAME": "gitlab-trigger",
    }.items():
        monkeypatch.setenv(name, value)
    return local_server


def approved_version() -> str:
    return client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://abalone-test-data/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


@pytest.mark.parametrize("answer", [echo, json_echo], ids=["verbatim", "json"])
def test_gitlab_echoing_the_token_in_a_4xx_leaks_it_nowhere(gitlab, stack, capsys, answer):
    gitlab.answer(400, answer)
    with pytest.raises(OutboundError) as caught:
        approval_handler(package_event(approved_version(), "Approved"), None)

    assert "token=" in gitlab.requests[0].body.decode(), "the request did carry the token"
    message = str(caught.value)
    assert "answered HTTP 400" in message and REDACTED in message, "the echo is quoted, redacted"
    captured = capsys.readouterr()
    mails = "\n".join(m["subject"] + m["message"] for m in stack.published())
    assert REDACTED in mails, "the approval email quotes the (redacted) error"
    assert_nowhere(TOKEN, message, lambda_error_record(caught.value), captured.out, captured.err, mails)


def test_a_token_straddling_the_quoted_length_leaves_no_half(gitlab, capsys):
    gitlab.answer(400, "x" * (outbound.ERROR_DETAIL_CHARS - 10) + TOKEN)
    with pytest.raises(OutboundError) as caught:
        approval_handler(package_event(approved_version(), "Approved"), None)
    assert TOKEN[:6] not in str(caught.value) + capsys.readouterr().out


def test_a_token_straddling_the_read_limit_leaves_no_half(gitlab, capsys, monkeypatch):
    monkeypatch.setattr(outbound, "ERROR_BODY_READ_BYTES", 64)
    gitlab.answer(400, "y" * 54 + TOKEN + "z" * 100)
    with pytest.raises(OutboundError, match=r"HTTP 400: y{54}$") as caught:
        approval_handler(package_event(approved_version(), "Approved"), None)
    assert TOKEN[:4] not in str(caught.value) + capsys.readouterr().out


def test_a_webhook_echoing_its_url_path_leaks_it_nowhere(stack, monkeypatch, local_server, capsys):
    monkeypatch.setenv("NOTIFICATION_RULES", "[]")
    client("secretsmanager").create_secret(Name="slack-hook", SecretString=json.dumps({"url": local_server.url +
                                                                                       WEBHOOK_PATH}))
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", "slack-hook")
    local_server.answer(404, echo)
    with pytest.raises(OutboundError, match=r"Slack webhook .* HTTP 404: POST \[REDACTED\] HTTP/1.1") as caught:
        notification_handler(step_event("Train", "Failed", pipeline=TRAINING), None)
    captured = capsys.readouterr()
    assert_nowhere(WEBHOOK_PATH, str(caught.value), lambda_error_record(caught.value), captured.out, captured.err)


# ----------------------------------------------------------------------------------------- deployed in the emulator

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def test_the_deployed_function_keeps_the_token_out_of_its_log_dlq_and_mail(tmp_path, local_server):
    """The real zip behind its rule: Lambda's retries, the invocation log and the on-failure record."""
    local_server.answer(400, json_echo)
    local_server.answer(400, echo)
    local_server.answer(400, json_echo)
    local_aws = start_local_aws(tmp_path / "home", execution_handler=None, lambda_retry_delay_seconds=0.05,
                                load_aws_managed_policies=False)
    try:
        sns, sqs, sagemaker = (local_aws.client(s) for s in ("sns", "sqs", "sagemaker"))
        topic = sns.create_topic(Name="abalone-e2e-notifications")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
        local_aws.client("dynamodb").create_table(
            TableName="dedup", KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        local_aws.client("ssm").put_parameter(Name=POINTER, Value="none", Type="String")
        local_aws.client("secretsmanager").create_secret(Name="gitlab-trigger", SecretString=TOKEN)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        queue_url = sqs.create_queue(QueueName="approval_trigger-dlq")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        role = local_aws.client("iam").create_role(RoleName="lambda", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        zip_path = build_lambda_zips(tmp_path / "zips")["approval_trigger"]
        lambda_client = local_aws.client("lambda")
        function_arn = lambda_client.create_function(
            FunctionName="approval_trigger", Runtime="python3.12", Role=role["Role"]["Arn"],
            Handler="handler.handler", Code={"ZipFile": zip_path.read_bytes()}, Timeout=60,
            Environment={"Variables": {
                "PROJECT": "abalone", "ENVIRONMENT": "e2e", "SNS_TOPIC_ARN": topic, "DEDUP_TABLE": "dedup",
                "MODEL_PACKAGE_GROUP": GROUP, "ACTIVE_MODEL_PARAMETER": POINTER, "GITLAB_TRIGGER_ENABLED": "true",
                "GITLAB_URL": local_server.url, "GITLAB_PROJECT_ID": "7", "GITLAB_REF": "main",
                "GITLAB_TOKEN_SECRET_NAME": "gitlab-trigger"}},
        )["FunctionArn"]
        lambda_client.put_function_event_invoke_config(
            FunctionName="approval_trigger", MaximumRetryAttempts=2,
            DestinationConfig={"OnFailure": {"Destination": queue_arn}})
        local_aws.client("events").put_rule(Name="approvals", EventPattern=json.dumps(
            {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
             "detail": {"ModelApprovalStatus": ["Approved", "Rejected"]}}))
        local_aws.client("events").put_targets(Rule="approvals", Targets=[{"Id": "approval", "Arn": function_arn}])

        arn = sagemaker.create_model_package(
            ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://abalone-e2e/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        )["ModelPackageArn"]
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        assert local_aws.wait_for_lambdas(90)

        invocations = read_invocation_log(local_aws.home)
        [record] = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue_url,
                                                                        MaxNumberOfMessages=10)["Messages"]]
        mails = read_outbox(local_aws.home)
    finally:
        local_aws.stop()

    assert [i["rc"] for i in invocations] == [1, 1, 1], "the first attempt and Lambda's two retries fail"
    assert len(local_server.requests) == 3 and all(TOKEN in urllib.parse.unquote_plus(r.body.decode())
                                                   for r in local_server.requests)
    assert record["responsePayload"]["errorType"] == "OutboundError"
    assert "answered HTTP 400: {\"message\": \"bad request\"" in record["responsePayload"]["errorMessage"]
    assert REDACTED in record["responsePayload"]["errorMessage"]
    [mail] = mails  # the approval email, once, saying the deploy failed
    assert mail["subject"].endswith("(GitLab deploy failed)")
    logs = "\n".join(i["stdout_tail"] + i["stderr_tail"] for i in invocations)
    assert "GitLab deploy pipeline not triggered" in logs
    assert_nowhere(TOKEN, json.dumps(record), logs, json.dumps(mails, default=str))
