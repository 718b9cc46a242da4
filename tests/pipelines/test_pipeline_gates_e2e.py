"""The gates of the real definitions run through the local runner: thresholds as pipeline parameters, each
deciding step's result.json, and a model-quality violation failing the execution at ModelQualityViolated (with
ModelQualityCheck itself Succeeded, so its outputs are uploaded as they would be on AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, REFERENCE, generate
from batchops_core import contracts, results
from batchops_core.contracts import Step

ACCOUNT = "123456789012"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    from batchops_core.settings import load_settings
    from batchops_local.runtime import start_local_aws
    from pipelines.common.code import shipped_files
    from pipelines.definitions import build_definitions

    settings = load_settings("local")
    fast = {**settings.xgboost.hyperparameters, "num_round": "15", "eta": "0.3"}
    settings = settings.model_copy(update={"xgboost": settings.xgboost.model_copy(update={"hyperparameters": fast})})
    definitions = build_definitions(settings, account_id=ACCOUNT)
    with start_local_aws(tmp_path_factory.mktemp("gates") / "home") as local_aws:
        s3, sagemaker = local_aws.client("s3"), local_aws.client("sagemaker")
        s3.create_bucket(Bucket=settings.bucket)
        for script in shipped_files(settings):  # what the upsert uploads: scripts, core package, dataset schema
            s3.put_object(Bucket=settings.bucket, Key=script.key(settings), Body=script.read_bytes())
        sagemaker.create_model_package_group(ModelPackageGroupName=settings.pipelines.model_package_group)
        for key, definition in definitions.items():
            sagemaker.create_pipeline(PipelineName=settings.pipelines.name_of(key), PipelineDefinition=definition,
                                      RoleArn=f"arn:aws:iam::{ACCOUNT}:role/gates")
        yield settings, local_aws


def run(deployed, kind: str, key: str, body: bytes, **parameters: Any) -> tuple[str, str, dict[str, dict]]:
    settings, local_aws = deployed
    local_aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=body)
    given = {contracts.PARAM_INPUT_BUCKET: settings.bucket, contracts.PARAM_INPUT_KEY: key, **parameters}
    sagemaker = local_aws.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(
        PipelineName=settings.pipelines.name_of(kind),
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in given.items()])["PipelineExecutionArn"]
    status = local_aws.wait_for_execution(arn, timeout=900)
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return arn, status, {s["StepName"]: s for s in steps}


def step_result(deployed, kind: str, arn: str, step: str) -> results.StepResult:
    settings, local_aws = deployed
    key = "/".join([settings.prefixes.outputs, settings.pipelines.name_of(kind), arn.rsplit("/", 1)[-1], step,
                    contracts.STEP_RESULT_OUTPUT, contracts.OutputFile.STEP_RESULT])
    body = local_aws.client("s3").get_object(Bucket=settings.bucket, Key=key)["Body"].read().decode()
    return results.parse(body, where=key)


@pytest.fixture(scope="module")
def approved(deployed) -> str:
    """A model trained with the default RegistrationThreshold, registered and approved."""
    settings, local_aws = deployed
    data = generate(REFERENCE, 900, seed=11, id_prefix="t").to_csv(index=False).encode()
    arn, status, steps = run(deployed, contracts.TRAINING, f"{settings.prefixes.training}/g/a.csv", data)
    assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
    evaluate = step_result(deployed, contracts.TRAINING, arn, Step.EVALUATE)
    assert (evaluate.outcome, evaluate.metric, evaluate.threshold) == (
        "passed", settings.model.metric, settings.model.registration_threshold)
    package = steps[Step.REGISTER_MODEL]["Metadata"]["RegisterModel"]["Arn"]
    local_aws.client("sagemaker").update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    return package


def test_a_stricter_registration_threshold_for_one_run_fails_it_naming_the_threshold(deployed, approved):
    settings, _ = deployed
    data = generate(REFERENCE, 900, seed=11, id_prefix="t").to_csv(index=False).encode()
    arn, status, steps = run(deployed, contracts.TRAINING, f"{settings.prefixes.training}/g/b.csv", data,
                             **{contracts.PARAM_REGISTRATION_THRESHOLD: 0.01})
    assert status == "Failed"
    assert Step.REGISTER_MODEL not in steps
    evaluate = step_result(deployed, contracts.TRAINING, arn, Step.EVALUATE)
    assert (evaluate.outcome, evaluate.threshold, evaluate.comparison) == ("failed", 0.01, "<=")
    reason = steps[Step.METRIC_ABOVE_THRESHOLD]["FailureReason"]
    assert reason.startswith(f"Model not registered: test {evaluate.metric} = {evaluate.value} on ")
    assert reason.endswith(f"rows; the gate is {evaluate.metric} <= 0.01")


def inference_batch(deployed, day: str) -> tuple[str, bytes]:
    settings, local_aws = deployed
    batch = generate(REFERENCE, 200, seed=21, id_prefix=f"b{day}")
    local_aws.client("s3").put_object(
        Bucket=settings.bucket, Key=f"{settings.prefixes.ground_truth}/{day}/batch.csv",
        Body=batch[[DEMO_RECORD_KEY, DEMO_TARGET]].to_csv(index=False).encode())
    return f"{settings.prefixes.inference}/{day}/batch.csv", batch.drop(columns=[DEMO_TARGET]).to_csv(
        index=False).encode()


def test_model_quality_within_the_default_threshold_succeeds(deployed, approved):
    settings, _ = deployed
    arn, status, steps = run(deployed, contracts.INFERENCE, *inference_batch(deployed, "ok"))
    assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
    assert steps[Step.CHECK_MODEL_QUALITY]["Metadata"]["Condition"]["Outcome"] == "False"
    assert Step.MODEL_QUALITY_VIOLATED not in steps
    quality = step_result(deployed, contracts.INFERENCE, arn, Step.MODEL_QUALITY_CHECK)
    assert (quality.outcome, quality.threshold, quality.counts) == (
        "passed", settings.model.model_quality_threshold, {"rows": 200, "matched": 200})
    resolve = step_result(deployed, contracts.INFERENCE, arn, Step.RESOLVE_MODEL)
    assert resolve.details["model_package_arn"] == approved


def test_a_violation_fails_the_execution_at_the_fail_step_with_the_run_threshold(deployed, approved):
    settings, local_aws = deployed
    arn, status, steps = run(deployed, contracts.INFERENCE, *inference_batch(deployed, "strict"),
                             **{contracts.PARAM_MODEL_QUALITY_THRESHOLD: 0.05})
    assert status == "Failed"
    assert steps[Step.MODEL_QUALITY_CHECK]["StepStatus"] == "Succeeded"
    assert steps[Step.CHECK_MODEL_QUALITY]["Metadata"]["Condition"]["Outcome"] == "True"
    assert steps[Step.MODEL_QUALITY_VIOLATED]["StepStatus"] == "Failed"
    quality = step_result(deployed, contracts.INFERENCE, arn, Step.MODEL_QUALITY_CHECK)
    assert (quality.outcome, quality.metric, quality.threshold) == ("failed", settings.model.metric, 0.05)
    assert steps[Step.MODEL_QUALITY_VIOLATED]["FailureReason"] == (
        f"Model quality violated: {quality.metric} = {quality.value} on 200 rows; the gate is "
        f"{quality.metric} <= 0.05")
    # The job succeeded, so its feedback output (the labelled batch) was uploaded for retraining.
    feedback = f"{settings.prefixes.outputs}/feedback/{arn.rsplit('/', 1)[-1]}/{contracts.OutputFile.FEEDBACK}"
    body = local_aws.client("s3").get_object(Bucket=settings.bucket, Key=feedback)["Body"].read().decode()
    assert len(body.splitlines()) == 201


def test_missing_ground_truth_is_skipped_and_the_execution_succeeds(deployed, approved):
    settings, _ = deployed
    body = generate(REFERENCE, 50, seed=5, id_prefix="n").drop(columns=[DEMO_TARGET]).to_csv(index=False).encode()
    arn, status, steps = run(deployed, contracts.INFERENCE, f"{settings.prefixes.inference}/none/batch.csv", body,
                             **{contracts.PARAM_MODEL_QUALITY_THRESHOLD: 0.05})
    assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
    quality = step_result(deployed, contracts.INFERENCE, arn, Step.MODEL_QUALITY_CHECK)
    assert (quality.outcome, quality.value, quality.counts) == ("skipped", None, {"rows": 50, "matched": 0})


@pytest.mark.parametrize(("threshold", "expected"), [(None, "passed"), (0.05, "failed")])
def test_a_batch_under_a_long_key_is_scored_and_checked(deployed, approved, threshold, expected):
    """An S3 key of ~600 characters (S3 allows 1,024 bytes) outgrows a ContainerArguments item (256 characters,
    botocore sagemaker service-2.json ContainerArgument): no step may pass the batch location that way."""
    settings, _ = deployed
    day = "/".join([f"long{threshold}-" + "k" * 90] * 6)
    key, body = inference_batch(deployed, day)
    assert len(key) >= 600
    parameters = {} if threshold is None else {contracts.PARAM_MODEL_QUALITY_THRESHOLD: threshold}
    arn, status, steps = run(deployed, contracts.INFERENCE, key, body, **parameters)
    assert steps[Step.BATCH_TRANSFORM]["StepStatus"] == "Succeeded", {
        n: s.get("FailureReason") for n, s in steps.items()}
    check = steps[Step.MODEL_QUALITY_CHECK]
    assert check["StepStatus"] == "Succeeded", check.get("FailureReason")
    quality = step_result(deployed, contracts.INFERENCE, arn, Step.MODEL_QUALITY_CHECK)
    assert (quality.outcome, quality.counts) == (expected, {"rows": 200, "matched": 200})
    assert quality.message.endswith(f"on 200 matched rows of s3://{settings.bucket}/{key}")
    assert status == ("Succeeded" if expected == "passed" else "Failed")
