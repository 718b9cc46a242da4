"""Issue 16 item 10: a model created from the registered package (CreateModel with a container's
ModelPackageName, as a consumer does on AWS) serves a record through the runner's batch transform, and a package
whose container sets SAGEMAKER_PROGRAM="" fails as the XGBoost serving container would (script mode)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from botocore.exceptions import ClientError
from runner_support import ROLE, XGBOOST_IMAGE, Aws, Runner
from test_models import _batch, _trained_model, _transform_step

from batchops_local.runtime import start_local_aws


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The emulator (CreateModel resolves model packages there), a bucket and a model trained in the image."""
    home = tmp_path_factory.mktemp("serve-registered")
    with start_local_aws(home / "emulator", execution_handler=None, load_aws_managed_policies=False) as local:
        aws = Aws(local.endpoint_url, f"serve-{uuid.uuid4().hex[:12]}")
        aws.s3.create_bucket(Bucket=aws.bucket)
        model_url, booster = _trained_model(aws)
        aws.client("sagemaker").create_model_package_group(ModelPackageGroupName="abalone-serve")
        yield aws, Runner(aws, home / "runner"), model_url, booster


def _register(runner: Runner, model_url: str, environment: dict[str, str]) -> str:
    register = {"Name": "RegisterModel", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "abalone-serve",
        "InferenceSpecification": {"Containers": [{"Image": XGBOOST_IMAGE, "Environment": environment,
                                                   "ModelDataUrl": model_url}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": "Approved"}}
    sink, _ = runner.run([register])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    return sink.last("RegisterModel")["metadata"]["RegisterModel"]["Arn"]


def _from_package(package_arn: str) -> dict:
    return {"Name": "CreateModel", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": ROLE, "Containers": [{"ModelPackageName": package_arn}]}}


def test_a_model_created_from_the_registered_package_serves_a_record(served):
    aws, runner, model_url, booster = served
    package_arn = _register(runner, model_url, {})
    text, x = _batch(1, 21)
    aws.put("one/record.csv", text)
    sink, _ = runner.run([_from_package(package_arn), _transform_step(aws, aws.uri("one/"))])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    model_name = sink.last("CreateModel")["metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    container = aws.client("sagemaker").describe_model(ModelName=model_name)["Containers"][0]
    assert container["ModelPackageName"] == package_arn
    assert (container["Image"], container["ModelDataUrl"]) == (XGBOOST_IMAGE, model_url)
    [line] = aws.get("scored/record.csv.out").splitlines()
    assert line.startswith(text.strip() + ",")
    expected = booster.inplace_predict(x.round(6).astype(np.float32))
    np.testing.assert_allclose([float(line.rsplit(",", 1)[1])], expected, rtol=1e-6)


def test_a_package_with_an_empty_sagemaker_program_fails_the_transform_as_the_container_would(served):
    aws, runner, model_url, _ = served
    package_arn = _register(runner, model_url, {"SAGEMAKER_PROGRAM": ""})
    aws.put("empty-program/record.csv", _batch(1, 22)[0])
    step = _transform_step(aws, aws.uri("empty-program/"))
    step["Arguments"]["TransformOutput"]["S3OutputPath"] = aws.uri("scored-empty-program")
    sink, _ = runner.run([_from_package(package_arn), step])
    assert sink.final[0] == "Failed"
    reason = sink.last("Score")["reason"]
    assert "SAGEMAKER_PROGRAM" in reason and "script mode" in reason and "module ''" in reason, reason
    assert aws.keys("scored-empty-program") == []


def test_create_model_refuses_an_unknown_package(served):
    aws, *_ = served
    unknown = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone-serve/999"
    with pytest.raises(ClientError) as raised:
        aws.client("sagemaker").create_model(ModelName="from-unknown", ExecutionRoleArn=ROLE,
                                             Containers=[{"ModelPackageName": unknown}])
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException" and unknown in error["Message"], error
