"""retrain_trigger (issue 16, item 8): one violating inference execution starts training with HPO at most once,
however often SageMaker sends the state change (with different event ids)."""

from __future__ import annotations

import json

import botocore.loaders
import pytest
from lambda_testkit import INFERENCE, execution_arn, step_event

from lambdas.retrain_trigger.handler import handler, request_token
from lambdas.shared.runtime import ConfigurationError, EventError

HPO_PIPELINE = "abalone-test-training-hpo"
PARAMETERS = {"InputBucket": "abalone-test-data", "InputKey": "data/training/"}


@pytest.fixture
def retrain_env(stack, stub_sagemaker, monkeypatch):
    monkeypatch.setenv("RETRAIN_PIPELINE_NAME", HPO_PIPELINE)
    monkeypatch.setenv("RETRAIN_PARAMETERS", json.dumps(PARAMETERS))
    return stub_sagemaker


def expect_start(stubber, violating: str, arn: str = "hpo-exec-1") -> None:
    stubber.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{HPO_PIPELINE}/execution/{arn}"},
        {
            "PipelineName": HPO_PIPELINE,
            "PipelineParameters": [{"Name": "InputBucket", "Value": "abalone-test-data"},
                                   {"Name": "InputKey", "Value": "data/training/"}],
            "PipelineExecutionDescription": f"Retraining after a model-quality violation in {violating}",
            "ClientRequestToken": request_token(violating),
        },
    )


def test_the_same_violation_sent_twice_with_different_ids_starts_training_once(retrain_env):
    violating = execution_arn(INFERENCE)
    expect_start(retrain_env, violating)

    first = handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", event_id="id-1"), None)
    second = handler(step_event("ModelQualityViolated", "Failed", stepType="Fail", event_id="id-2"), None)

    assert first["status"] == "started" and first["violating_execution_arn"] == violating
    assert second["status"] == "duplicate"
    retrain_env.assert_no_pending_responses()  # exactly one StartPipelineExecution


def test_past_the_claim_the_same_token_is_sent_so_sagemaker_dedupes(retrain_env, stack):
    """An expired claim (or its loss) must not start a second pipeline: the token is the execution's."""
    violating = execution_arn(INFERENCE)
    expect_start(retrain_env, violating)
    expect_start(retrain_env, violating)  # SageMaker answers the same token with the same execution
    handler(step_event("ModelQualityViolated", "Failed", event_id="id-1"), None)
    from lambdas.shared.runtime import client

    client("dynamodb").delete_item(TableName="abalone-test-event-dedup",
                                   Key={"event_id": {"S": f"retrain:{violating}"}})
    handler(step_event("ModelQualityViolated", "Failed", event_id="id-2"), None)
    retrain_env.assert_no_pending_responses()


def test_the_token_fits_start_pipeline_execution_and_differs_per_execution():
    shape = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")["shapes"]["IdempotencyToken"]
    token = request_token(execution_arn(INFERENCE, "exec0001"))
    assert shape["min"] <= len(token) <= shape["max"]
    assert token == request_token(execution_arn(INFERENCE, "exec0001"))
    assert token != request_token(execution_arn(INFERENCE, "exec0002"))


def test_other_steps_and_statuses_start_nothing(retrain_env):
    assert handler(step_event("ModelQualityCheck", "Failed"), None)["status"] == "ignored"
    assert handler(step_event("ModelQualityViolated", "Executing"), None)["status"] == "ignored"
    retrain_env.assert_no_pending_responses()


def test_malformed_event_and_parameters_are_errors_naming_them(retrain_env, monkeypatch):
    event = step_event("ModelQualityViolated", "Failed", event_id="x")
    del event["detail"]["pipelineExecutionArn"]
    with pytest.raises(EventError, match="event x: detail.pipelineExecutionArn is missing or not a string"):
        handler(event, None)
    with pytest.raises(EventError, match="event x: unknown detail-type 'Object Created'"):
        handler({**event, "detail-type": "Object Created"}, None)
    monkeypatch.setenv("RETRAIN_PARAMETERS", "[1]")
    with pytest.raises(ConfigurationError, match="RETRAIN_PARAMETERS must be a JSON object"):
        handler(step_event("ModelQualityViolated", "Failed"), None)
