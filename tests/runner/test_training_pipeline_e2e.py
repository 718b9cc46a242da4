"""End to end: the real training pipeline definition, started in the local emulator with InputBucket/InputKey,
from a CSV in S3 to a registered model version (PendingManualApproval)."""

from __future__ import annotations

import json

import pytest

from batchops.config import load_settings
from batchops.demo_data import REFERENCE, generate
from batchops.local_runtime import start_local_aws
from batchops.runner import read_step_log

ACCOUNT = "123456789012"


def _fast_settings():
    """The local env file with few boosting rounds, so the run stays short."""
    settings = load_settings("local")
    hyperparameters = {**settings.xgboost.hyperparameters, "num_round": "15", "eta": "0.3"}
    return settings.model_copy(update={"xgboost": settings.xgboost.model_copy(
        update={"hyperparameters": hyperparameters})})


def _deploy_training_pipeline(local_aws, settings) -> str:
    from pipelines.common.code import all_step_scripts
    from pipelines.definitions import build_definitions

    s3 = local_aws.client("s3")
    s3.create_bucket(Bucket=settings.bucket)
    for script in all_step_scripts():
        s3.put_object(Bucket=settings.bucket, Key=script.key(settings), Body=script.path.read_bytes())
    sagemaker = local_aws.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=settings.pipelines.model_package_group)
    definition = build_definitions(settings, account_id=ACCOUNT)["training"]
    name = settings.pipelines.training_name
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=definition,
                              RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{settings.resource_prefix}-sagemaker-execution")
    return name


@pytest.mark.slow
def test_training_pipeline_registers_a_pending_model_from_a_csv_drop(tmp_path):
    settings = _fast_settings()
    data = generate(REFERENCE, 900, seed=11, id_prefix="t")
    with start_local_aws(tmp_path / "home") as local_aws:
        pipeline = _deploy_training_pipeline(local_aws, settings)
        key = f"{settings.prefixes.training}/2026/batch-1.csv"
        local_aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=data.to_csv(index=False).encode())
        sagemaker = local_aws.client("sagemaker")
        arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, PipelineParameters=[
            {"Name": "InputBucket", "Value": settings.bucket}, {"Name": "InputKey", "Value": key}])[
            "PipelineExecutionArn"]
        status = local_aws.wait_for_execution(arn, timeout=900)
        steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        execution_id = arn.rsplit("/", 1)[-1]
        by_name = {s["StepName"]: s for s in steps}
        failed = {n: s.get("FailureReason") for n, s in by_name.items() if s["StepStatus"] != "Succeeded"}
        assert status == "Succeeded", failed
        assert set(by_name) == {"Preprocess", "DataQualityBaseline", "Train", "Evaluate", "CheckMetric",
                                "RegisterModel"}
        assert by_name["CheckMetric"]["Metadata"]["Condition"]["Outcome"] == "True"

        packages = sagemaker.list_model_packages(ModelPackageGroupName=settings.pipelines.model_package_group)[
            "ModelPackageSummaryList"]
        assert len(packages) == 1
        package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
        assert package["ModelApprovalStatus"] == "PendingManualApproval"
        assert by_name["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"] == package["ModelPackageArn"]
        model_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        train_job = by_name["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
        assert model_url == (f"s3://{settings.bucket}/{settings.prefixes.outputs}/{pipeline}/{execution_id}/Train/"
                             f"model/{train_job}/output/model.tar.gz")
        baseline = package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"]
        statistics = json.loads(local_aws.client("s3").get_object(
            Bucket=settings.bucket, Key=baseline.split("/", 3)[3])["Body"].read())
        assert statistics["dataset"]["item_count"] > 0
        assert package["CustomerMetadataProperties"]["TrainingData"] == f"s3://{settings.bucket}/{key}"
        train_log = read_step_log(tmp_path / "home", execution_id, "Train")
        assert "[14]\ttrain-rmse:" in train_log
