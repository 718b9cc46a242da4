"""Pipeline executions handed to an execution handler: statuses, steps, events in order, stop, failures."""

import threading

import pytest
from botocore.exceptions import ClientError

from batchops_local.emulator import Emulator, context
from batchops_local.emulator.sagemaker.pipeline_executions import NO_HANDLER_REASON

PIPELINE_EVENTS = {
    "source": ["aws.sagemaker"],
    "detail-type": [
        "SageMaker Model Building Pipeline Execution Status Change",
        "SageMaker Model Building Pipeline Execution Step Status Change",
    ],
}
PROCESSING_JOB = "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-abc-preprocess"


def _start(aws, name="abc-training"):
    aws.pipeline(name, ["InputKey"])
    return aws.sagemaker.start_pipeline_execution(
        PipelineName=name, PipelineParameters=[{"Name": "InputKey", "Value": "data/training/"}]
    )["PipelineExecutionArn"]


def _summary(event):
    detail = event["detail"]
    if "stepName" in detail:
        return (detail["stepName"], detail.get("previousStepStatus"), detail["currentStepStatus"])
    return ("execution", detail.get("previousPipelineExecutionStatus"), detail["currentPipelineExecutionStatus"])


def test_handler_reports_steps_for_the_step_api_and_events_in_order(aws, handler):
    def two_steps_second_fails(request, sink):
        arn = request.execution_arn
        sink.step_status(arn, "Preprocess", "Processing", "Starting")
        sink.step_status(arn, "Preprocess", "Processing", "Executing")
        sink.step_status(
            arn, "Preprocess", "Processing", "Succeeded", metadata={"ProcessingJob": {"Arn": PROCESSING_JOB}}
        )
        sink.step_status(arn, "Train", "Training", "Executing")
        sink.step_status(arn, "Train", "Training", "Failed", failure_reason="AlgorithmError: no rows")
        sink.execution_status(arn, "Failed", "Step Train failed: AlgorithmError: no rows")

    handler.behaviour = two_steps_second_fails
    events = aws.capture("pipeline-events", PIPELINE_EVENTS)
    arn = _start(aws)
    assert aws.emulator.wait_for_execution(arn) == "Failed"

    described = aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    # As SageMaker writes it: the execution's reason is generic, the step's own is in ListPipelineExecutionSteps.
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert [(s["StepName"], s["StepStatus"]) for s in steps] == [("Train", "Failed"), ("Preprocess", "Succeeded")]
    assert steps[0]["FailureReason"] == "AlgorithmError: no rows"
    assert steps[1]["Metadata"] == {"ProcessingJob": {"Arn": PROCESSING_JOB}}
    assert all(s["StartTime"] <= s["EndTime"] for s in steps)
    ascending = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")
    assert [s["StepName"] for s in ascending["PipelineExecutionSteps"]] == ["Preprocess", "Train"]
    [summary] = aws.sagemaker.list_pipeline_executions(PipelineName="abc-training")["PipelineExecutionSummaries"]
    assert summary["PipelineExecutionStatus"] == "Failed"
    assert summary["PipelineExecutionFailureReason"] == "Step failure: One or multiple steps failed."

    received = aws.events_in(events)
    assert [_summary(e) for e in received] == [
        ("execution", None, "Executing"),
        ("Preprocess", None, "Starting"),
        ("Preprocess", "Starting", "Executing"),
        ("Preprocess", "Executing", "Succeeded"),
        ("Train", None, "Executing"),
        ("Train", "Executing", "Failed"),
        ("execution", "Executing", "Failed"),
    ]
    pipeline_arn = described["PipelineArn"]
    assert all(e["resources"] == [pipeline_arn, arn] for e in received)
    succeeded = received[3]["detail"]
    assert succeeded["metadata"] == {"processingJob": {"arn": PROCESSING_JOB}} and succeeded["stepType"] == "Processing"
    assert received[5]["detail"]["failureReason"] == "AlgorithmError: no rows"
    assert received[-1]["detail"]["executionEndTime"].endswith("Z")


def test_start_returns_at_once_while_the_execution_is_executing(aws, handler):
    release = threading.Event()

    def wait_for_release(request, sink):
        release.wait(20)
        sink.execution_status(request.execution_arn, "Succeeded")

    handler.behaviour = wait_for_release
    arn = _start(aws)
    assert aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing"
    release.set()
    assert aws.emulator.wait_for_execution(arn) == "Succeeded"
    assert "FailureReason" not in aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)


def test_stop_pipeline_execution_goes_through_stopping_to_stopped(aws, handler, wait):
    def train_until_stopped(request, sink):
        arn = request.execution_arn
        sink.step_status(arn, "Train", "Training", "Executing")
        for _ in range(400):
            if sink.stop_requested(arn):
                sink.step_status(arn, "Train", "Training", "Stopped")
                return  # no final status: the emulator completes Stopping → Stopped
            threading.Event().wait(0.05)

    handler.behaviour = train_until_stopped
    events = aws.capture("pipeline-events", PIPELINE_EVENTS)
    arn = _start(aws)
    wait(lambda: aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"])

    assert aws.sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionArn"] == arn
    assert aws.emulator.wait_for_execution(arn) == "Stopped"

    assert aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopped"
    [step] = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert step["StepStatus"] == "Stopped"
    executions = [_summary(e) for e in aws.events_in(events) if _summary(e)[0] == "execution"]
    assert executions == [
        ("execution", None, "Executing"),
        ("execution", "Executing", "Stopping"),
        ("execution", "Stopping", "Stopped"),
    ]
    with pytest.raises(ClientError, match="only Executing executions can be stopped"):
        aws.sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn)


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (lambda request, sink: (_ for _ in ()).throw(RuntimeError("runner crashed")), "RuntimeError: runner crashed"),
        (lambda request, sink: None, "the execution handler returned without reporting a final execution status"),
    ],
)
def test_a_handler_that_crashes_or_forgets_the_final_status_fails_the_execution(aws, handler, behaviour, reason):
    handler.behaviour = behaviour
    arn = _start(aws)
    assert aws.emulator.wait_for_execution(arn) == "Failed"
    assert aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["FailureReason"] == reason


def test_without_a_handler_the_execution_fails_and_says_why(tmp_path):
    with Emulator(tmp_path / "home", load_aws_managed_policies=False) as emulator:
        sagemaker = emulator.client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName="abc-training",
            PipelineDefinition='{"Version": "2020-12-01", "Steps": []}',
            RoleArn="arn:aws:iam::123456789012:role/x",
        )
        arn = sagemaker.start_pipeline_execution(PipelineName="abc-training")["PipelineExecutionArn"]
        assert emulator.wait_for_execution(arn) == "Failed"
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        assert (described["PipelineExecutionStatus"], described["FailureReason"]) == ("Failed", NO_HANDLER_REASON)


def test_the_sink_rejects_unknown_statuses_and_changes_after_the_end(aws):
    arn = _start(aws)
    assert aws.emulator.wait_for_execution(arn) == "Succeeded"  # the recording handler's default
    registry = context.active().executions
    with pytest.raises(ValueError, match="execution status 'Done'.*not one of"):
        registry.execution_status(arn, "Done")
    with pytest.raises(ValueError, match="already Succeeded; it cannot become Failed"):
        registry.execution_status(arn, "Failed", "late")
    with pytest.raises(ValueError, match="step status 'Running' for step 'Train'"):
        registry.step_status(arn, "Train", "Training", "Running")


def test_step_api_errors_for_unknown_executions_and_pages_results(aws, handler):
    def many_steps(request, sink):
        for index in range(5):
            sink.step_status(request.execution_arn, f"Step{index}", "Processing", "Succeeded")
        sink.execution_status(request.execution_arn, "Succeeded")

    handler.behaviour = many_steps
    arn = _start(aws)
    aws.emulator.wait_for_execution(arn)
    first = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn, MaxResults=3, SortOrder="Ascending")
    second = aws.sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=arn, MaxResults=3, SortOrder="Ascending", NextToken=first["NextToken"]
    )
    names = [s["StepName"] for s in first["PipelineExecutionSteps"] + second["PipelineExecutionSteps"]]
    assert names == [f"Step{i}" for i in range(5)] and "NextToken" not in second
    with pytest.raises(ClientError, match="Could not find pipeline execution"):
        aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn.replace("/execution/", "/execution/x"))


def test_a_pipeline_can_be_started_by_its_arn_and_an_unknown_one_is_a_clear_error(aws, handler):
    pipeline_arn = aws.pipeline("abc-inference")
    arn = aws.sagemaker.start_pipeline_execution(PipelineName=pipeline_arn)["PipelineExecutionArn"]
    assert arn.startswith(f"{pipeline_arn}/execution/")
    assert aws.emulator.wait_for_execution(arn) == "Succeeded"
    with pytest.raises(ClientError, match="Could not find pipeline with PipelineName nope"):
        aws.sagemaker.start_pipeline_execution(PipelineName="nope")


def test_the_same_client_request_token_starts_one_execution(aws, handler):
    aws.pipeline("abc-retraining")
    first = aws.sagemaker.start_pipeline_execution(PipelineName="abc-retraining", ClientRequestToken="t" * 40)
    again = aws.sagemaker.start_pipeline_execution(PipelineName="abc-retraining", ClientRequestToken="t" * 40)
    other = aws.sagemaker.start_pipeline_execution(PipelineName="abc-retraining", ClientRequestToken="u" * 40)
    assert first["PipelineExecutionArn"] == again["PipelineExecutionArn"] != other["PipelineExecutionArn"]
    summaries = aws.sagemaker.list_pipeline_executions(PipelineName="abc-retraining")["PipelineExecutionSummaries"]
    assert len(summaries) == 2 and len(handler.requests) == 2
