"""End to end: the real training pipeline definition, started in the local emulator with InputBucket/InputKey,
from a CSV in S3 to a registered model version (PendingManualApproval)."""

from __future__ import annotations

import json

import pytest
from runner_support import deploy_pipeline, fast_settings

from batchops.demo_data import REFERENCE, generate
from batchops.local_runtime import start_local_aws
from batchops.runner import read_step_log


@pytest.mark.slow
def test_training_pipeline_registers_a_pending_model_from_a_csv_drop(tmp_path):
    settings = fast_settings()
    data = generate(REFERENCE, 900, seed=11, id_prefix="t")
    with start_local_aws(tmp_path / "home") as local_aws:
        pipeline = deploy_pipeline(local_aws, settings, "training")
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


def test_every_step_of_the_real_definitions_has_a_local_implementation():
    from batchops.runner.dag import build_graph
    from batchops.runner.expressions import coerce_parameters
    from batchops.runner.jobs import ANALYZER_IMAGE, SCRIPT_IMAGES, XGBOOST_IMAGE, image_repository
    from batchops.runner.steps import STEP_HANDLERS
    from pipelines.definitions import build_definitions

    settings = fast_settings()
    images = {"Processing": SCRIPT_IMAGES, "QualityCheck": (ANALYZER_IMAGE,), "Training": (XGBOOST_IMAGE,)}
    for key, text in build_definitions(settings, account_id="123456789012").items():
        definition = json.loads(text)
        graph = build_graph(definition)
        coerce_parameters(definition["Parameters"], {"InputBucket": settings.bucket, "InputKey": "x/y.csv"})
        for spec in graph.values():
            assert spec.type in STEP_HANDLERS, f"{key}: {spec.name} ({spec.type})"
            arguments = spec.definition.get("Arguments", {})
            image = (arguments.get("AppSpecification") or {}).get("ImageUri") or \
                (arguments.get("AlgorithmSpecification") or {}).get("TrainingImage")
            if spec.type in images:
                assert image_repository(image) in images[spec.type], f"{key}: {spec.name} uses {image}"


@pytest.mark.slow
def test_training_with_hpo_registers_the_best_tuning_job(tmp_path):
    settings = fast_settings(max_jobs=2, max_parallel_jobs=2)
    data = generate(REFERENCE, 700, seed=12, id_prefix="h")
    with start_local_aws(tmp_path / "home") as local_aws:
        pipeline = deploy_pipeline(local_aws, settings, "training_hpo")
        key = f"{settings.prefixes.training}/hpo/batch.csv"
        local_aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=data.to_csv(index=False).encode())
        sagemaker = local_aws.client("sagemaker")
        arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, PipelineParameters=[
            {"Name": "InputBucket", "Value": settings.bucket}, {"Name": "InputKey", "Value": key}])[
            "PipelineExecutionArn"]
        status = local_aws.wait_for_execution(arn, timeout=900)
        steps = {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
            PipelineExecutionArn=arn)["PipelineExecutionSteps"]}
        assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
        assert "Tune" in steps and "Train" not in steps
        from batchops.runner import read_step_record

        tuning = read_step_record(tmp_path / "home", arn.rsplit("/", 1)[-1], "Tune")["Properties"]
        summaries = tuning["TrainingJobSummaries"]
        assert len(summaries) == 2
        values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
        assert values == sorted(values)
        package_arn = steps["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
        model_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        assert model_url.endswith(f"/Tune/model/{summaries[0]['TrainingJobName']}/output/model.tar.gz")
