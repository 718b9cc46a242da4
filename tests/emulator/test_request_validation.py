"""Every request the emulator serves is checked against botocore's model of its operation before moto sees it:
an out-of-contract request gets the service's own error and message, and nothing is stored."""

from __future__ import annotations

import io
import zipfile

import pytest
from botocore.exceptions import ClientError

from batchops_local.validation import RequestInvalid, validate
from batchops_local.validation.patterns import matcher

ROLE = "arn:aws:iam::123456789012:role/emulator-test"
TRUST = '{"Version":"2012-10-17","Statement":[]}'


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def _processing_request(environment: dict[str, str]) -> dict:
    return {
        "ProcessingJobName": "job-1", "RoleArn": ROLE, "Environment": environment,
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/a.py"]},
    }


def test_a_442_character_processing_environment_value_is_refused_with_aws_message(emulator):
    sagemaker = emulator.client("sagemaker")
    value = "x" * 442
    with pytest.raises(ClientError) as excinfo:
        sagemaker.create_processing_job(**_processing_request({"DATASET_SCHEMA": value}))
    code, message = _error(excinfo)
    assert code == "ValidationException"
    assert message == (f"1 validation error detected: Value '{{DATASET_SCHEMA={value}}}' at 'environment' failed to "
                       "satisfy constraint: Map value must satisfy constraint: [Member must have length less than "
                       "or equal to 256]")
    assert sagemaker.list_processing_jobs()["ProcessingJobSummaries"] == []  # nothing stored


def test_query_services_answer_validation_error_and_store_nothing(emulator):
    iam = emulator.client("iam")
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="no spaces allowed", AssumeRolePolicyDocument=TRUST)
    assert _error(excinfo) == ("ValidationError", "1 validation error detected: Value 'no spaces allowed' at "
                               "'roleName' failed to satisfy constraint: Member must satisfy regular expression "
                               "pattern: [\\w+=,.@-]+")
    assert all(role["RoleName"] != "no spaces allowed" for role in iam.list_roles()["Roles"])


def test_rest_json_lambda_reports_sensitive_map_keys_without_their_values(emulator):
    with pytest.raises(ClientError) as excinfo:
        emulator.client("lambda").create_function(
            FunctionName="f", Role=ROLE, Runtime="python3.12", Handler="h.handler", Code={"ZipFile": _zip()},
            Environment={"Variables": {"X": "single-character names are refused by Lambda"}})
    assert _error(excinfo) == ("ValidationException", "1 validation error detected: Value at 'environment.variables' "
                               "failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
                               "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")


def test_cloudwatch_logs_answers_invalid_parameter_exception(emulator):
    with pytest.raises(ClientError) as excinfo:
        emulator.client("logs").create_log_group(logGroupName="bad name")
    assert _error(excinfo)[0] == "InvalidParameterException"


def test_in_contract_requests_of_every_service_pass(emulator):
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="contract-bucket")
    s3.put_object(Bucket="contract-bucket", Key="a/b c(1).csv", Body=b"x,y\n")
    assert s3.get_object(Bucket="contract-bucket", Key="a/b c(1).csv")["Body"].read() == b"x,y\n"
    assert emulator.client("events").put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}])[
        "FailedEntryCount"] == 0
    emulator.client("iam").create_role(RoleName="emulator-test", AssumeRolePolicyDocument=TRUST)
    emulator.client("lambda").create_function(
        FunctionName="contract-fn", Role=ROLE, Runtime="python3.12", Handler="h.handler", Code={"ZipFile": _zip()},
        Environment={"Variables": {"PROJECT": "batchops"}})
    topic = emulator.client("sns").create_topic(Name="contract-topic")["TopicArn"]
    emulator.client("sns").publish(TopicArn=topic, Message="hello")
    emulator.client("sqs").create_queue(QueueName="contract-queue")
    emulator.client("kms").create_key(Description="contract")
    emulator.client("ssm").put_parameter(Name="/batchops/local/p", Value="none", Type="String")
    emulator.client("secretsmanager").create_secret(Name="contract/secret", SecretString="s")
    emulator.client("dynamodb").create_table(
        TableName="contract-table", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}])
    emulator.client("logs").create_log_group(logGroupName="/aws/lambda/contract-fn")
    assert emulator.client("sts").get_caller_identity()["Account"] == "123456789012"
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="contract-models")


# ---------------------------------------------------------------------------------------- the validator itself


def test_java_patterns_are_translated_faithfully():
    # Java's \w is ASCII; \p{L} is any letter; a surrogate-pair range is the supplementary planes
    assert not matcher(r"[\w+=,.@-]+")("é")
    assert matcher(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")("éü 1")
    assert matcher(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*")("a\U0001F600")
    assert matcher(r"[\w-\/]+")("a-/")  # a '-' right after a class is a literal in Java


def test_lengths_count_utf16_code_units_as_aws_does():
    request = _processing_request({"K": "\U0001F600" * 128})  # 128 characters, 256 UTF-16 code units
    validate("sagemaker", "CreateProcessingJob", request)
    request["Environment"] = {"K": "\U0001F600" * 129}
    with pytest.raises(RequestInvalid, match="less than or equal to 256"):
        validate("sagemaker", "CreateProcessingJob", request)


def test_missing_required_members_and_enums_and_ranges_are_reported():
    request = _processing_request({})
    del request["RoleArn"]
    request["ProcessingResources"]["ClusterConfig"].update(InstanceCount=0, InstanceType="ml.nope")
    with pytest.raises(RequestInvalid) as excinfo:
        validate("sagemaker", "CreateProcessingJob", request)
    message = str(excinfo.value)
    assert message.startswith("3 validation errors detected: ")
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in message
    assert ("at 'processingResources.clusterConfig.instanceCount' failed to satisfy constraint: Member must have "
            "value greater than or equal to 1") in message
    assert "'processingResources.clusterConfig.instanceType' failed to satisfy constraint: Member must satisfy " \
           "enum value set: [" in message


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("h.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_shape_being_compiled_is_never_seen_half_built_by_another_thread():
    """The threaded server validates requests concurrently: a second request for a shape that another thread is
    compiling waits for the finished check instead of calling an unfinished one."""
    import threading

    from batchops_local.validation import shapes

    model = shapes.service_model("dynamodb")
    attribute_value = model.shape_for("AttributeValue")  # recursive: maps and lists of AttributeValue
    compiler = shapes._Compiler()
    building, release = threading.Event(), threading.Event()
    real_build = compiler._build

    def slow_build(shape):
        building.set()
        release.wait(10)
        return real_build(shape)

    compiler._build = slow_build
    first = threading.Thread(target=compiler.check, args=(attribute_value,))
    first.start()
    assert building.wait(10)
    outcome: list = []

    def second_request():
        try:
            out: list = []
            compiler.check(attribute_value)({"M": {"a": {"S": "x"}}}, "Item.a", out)
            outcome.append(out)
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            outcome.append(exc)

    second = threading.Thread(target=second_request)
    second.start()
    second.join(0.5)
    release.set()
    first.join(10)
    second.join(10)
    assert outcome == [[]]
