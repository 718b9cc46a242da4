"""End to end with the real definitions, started in the local emulator with InputBucket/InputKey: training
(and training with HPO) from a CSV in S3 to a registered model version (PendingManualApproval), then batch
inference of a dropped batch with that model once approved.

One emulator and one definition build serve the module (building definitions imports the SDK: slow)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runner_support import build_real_definitions, deploy_pipelines, fast_settings

from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, REFERENCE, generate
from batchops_core.settings import PIPELINE_KEYS
from batchops_local.runner import read_step_log, read_step_record
from batchops_local.runtime import start_local_aws


@dataclass
class RealPipelines:
    settings: Any
    definitions: dict[str, str]
    local_aws: Any = None
    names: dict[str, str] | None = None
    home: Path | None = None


@pytest.fixture(scope="module")
def real_definitions() -> RealPipelines:
    settings = fast_settings(max_jobs=2, max_parallel_jobs=2)
    return RealPipelines(settings, build_real_definitions(settings))


@pytest.fixture(scope="module")
def deployed(real_definitions, tmp_path_factory):
    home = tmp_path_factory.mktemp("runner-e2e") / "home"
    with start_local_aws(home) as local_aws:
        names = deploy_pipelines(local_aws, real_definitions.settings, real_definitions.definitions)
        yield RealPipelines(real_definitions.settings, real_definitions.definitions, local_aws, names, home)


def _start(deployed: RealPipelines, key: str, body: bytes, pipeline_key: str) -> str:
    settings = deployed.settings
    deployed.local_aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=body)
    return deployed.local_aws.client("sagemaker").start_pipeline_execution(
        PipelineName=deployed.names[pipeline_key], PipelineParameters=[
            {"Name": "InputBucket", "Value": settings.bucket}, {"Name": "InputKey", "Value": key}])[
        "PipelineExecutionArn"]


@dataclass
class TrainingRun:
    arn: str
    key: str
    status: str
    steps: dict[str, dict]


@pytest.fixture(scope="module")
def training_run(deployed) -> TrainingRun:
    """One run of the training pipeline from a CSV drop; later tests use the model it registers."""
    data = generate(REFERENCE, 900, seed=11, id_prefix="t")
    key = f"{deployed.settings.prefixes.training}/2026/batch-1.csv"
    arn = _start(deployed, key, data.to_csv(index=False).encode(), "training")
    status = deployed.local_aws.wait_for_execution(arn, timeout=900)
    steps = deployed.local_aws.client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"]
    return TrainingRun(arn, key, status, {s["StepName"]: s for s in steps})


@pytest.mark.slow
def test_training_pipeline_registers_a_pending_model_from_a_csv_drop(deployed, training_run):
    settings, local_aws, home = deployed.settings, deployed.local_aws, deployed.home
    pipeline, arn, key, by_name = deployed.names["training"], training_run.arn, training_run.key, training_run.steps
    sagemaker = local_aws.client("sagemaker")
    execution_id = arn.rsplit("/", 1)[-1]
    failed = {n: s.get("FailureReason") for n, s in by_name.items() if s["StepStatus"] != "Succeeded"}
    assert training_run.status == "Succeeded", failed
    assert set(by_name) == {"Preprocess", "DataQualityBaseline", "Train", "Evaluate", "CheckMetric",
                            "RegisterModel"}
    assert by_name["CheckMetric"]["Metadata"]["Condition"]["Outcome"] == "True"

    package = sagemaker.describe_model_package(
        ModelPackageName=by_name["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelPackageGroupName"] == settings.pipelines.model_package_group
    assert package["MetadataProperties"]["GeneratedBy"] == arn
    model_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    train_job = by_name["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
    assert model_url == (f"s3://{settings.bucket}/{settings.prefixes.outputs}/{pipeline}/{execution_id}/Train/"
                         f"model/{train_job}/output/model.tar.gz")
    baseline = package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"]
    statistics = json.loads(local_aws.client("s3").get_object(
        Bucket=settings.bucket, Key=baseline.split("/", 3)[3])["Body"].read())
    assert statistics["dataset"]["item_count"] > 0
    # Lineage is the execution (its InputKey parameter holds the key); no S3 key in the metadata (issue 16 item 3).
    assert set(package["CustomerMetadataProperties"]) == {"PreprocessingArtefact", "CodeVersion", "SemanticVersion"}
    assert key not in json.dumps(package["CustomerMetadataProperties"])
    # The registered container serves as it is: no empty script-mode keys (issue 16 item 10).
    environment = package["InferenceSpecification"]["Containers"][0].get("Environment") or {}
    assert "" not in environment.values(), environment
    train_log = read_step_log(home, execution_id, "Train")
    assert "[14]\ttrain-rmse:" in train_log


@pytest.mark.slow
def test_inference_pipeline_scores_a_batch_with_the_approved_model(deployed, training_run):
    settings, local_aws = deployed.settings, deployed.local_aws
    sagemaker, s3 = local_aws.client("sagemaker"), local_aws.client("s3")
    assert training_run.status == "Succeeded"
    package_arn = training_run.steps["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
    batch = generate(REFERENCE, 200, seed=21, id_prefix="b")
    truth_key = f"{settings.prefixes.ground_truth}/day-1/batch.csv"
    s3.put_object(Bucket=settings.bucket, Key=truth_key,
                  Body=batch[[DEMO_RECORD_KEY, DEMO_TARGET]].to_csv(index=False).encode())
    arn = _start(deployed, f"{settings.prefixes.inference}/day-1/batch.csv",
                 batch.drop(columns=[DEMO_TARGET]).to_csv(index=False).encode(), "inference")
    status = local_aws.wait_for_execution(arn, timeout=900)
    steps = {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=arn)["PipelineExecutionSteps"]}
    assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
    assert set(steps) == {"ResolveModel", "Preprocess", "CreateModel", "DataQualityCheck", "BatchTransform",
                          "PublishPredictions", "ModelQualityCheck", "CheckModelQuality"}  # the quality held:
    # ModelQualityViolated not run
    # The built-in engine (the default) checks as a processing step against the version's baseline, with the
    # constraints Preprocess wrote: the configured drift settings in monitoring_config (issue 16 item 9).
    assert "ProcessingJob" in steps["DataQualityCheck"]["Metadata"]
    run_prefix = f"{settings.prefixes.outputs}/{deployed.names['inference']}/{arn.rsplit('/', 1)[-1]}"
    constraints = json.loads(s3.get_object(Bucket=settings.bucket, Key=f"{run_prefix}/Preprocess/constraints/"
                                           "constraints.json")["Body"].read())
    drift = constraints["monitoring_config"]["distribution_constraints"]
    quality_settings = settings.data_quality
    assert (drift["comparison_threshold"], drift["comparison_method"], drift["categorical_drift_method"]) == (
        quality_settings.comparison_threshold, quality_settings.comparison_method,
        quality_settings.categorical_drift_method)
    result = json.loads(s3.get_object(Bucket=settings.bucket, Key=f"{run_prefix}/DataQualityCheck/result/"
                                      "result.json")["Body"].read())
    assert result["step"] == "DataQualityCheck" and result["outcome"] in ("passed", "warning")
    prefix = f"{run_prefix}/BatchTransform/"
    outputs = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix).get("Contents", [])]
    assert len(outputs) == 1 and outputs[0].endswith(".out")
    lines = s3.get_object(Bucket=settings.bucket, Key=outputs[0])["Body"].read().decode().splitlines()
    scored = dict(line.split(",") for line in lines)  # OutputFilter $[0,-1]: record key, prediction
    assert set(scored) == set(batch[DEMO_RECORD_KEY]) and all(float(v) > 0 for v in scored.values())


@pytest.mark.slow  # building the definitions imports the SageMaker SDK
def test_every_step_of_the_real_definitions_has_a_local_implementation(real_definitions):
    from batchops_local.runner.dag import build_graph
    from batchops_local.runner.expressions import coerce_parameters
    from batchops_local.runner.jobs import ANALYZER_IMAGE, SCRIPT_IMAGES, XGBOOST_IMAGE, image_repository
    from batchops_local.runner.steps import STEP_HANDLERS

    settings = real_definitions.settings
    images = {"Processing": SCRIPT_IMAGES, "QualityCheck": (ANALYZER_IMAGE,), "Training": (XGBOOST_IMAGE,)}
    assert set(real_definitions.definitions) == set(PIPELINE_KEYS)
    for key, text in real_definitions.definitions.items():
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
def test_training_with_hpo_registers_the_best_tuning_job(deployed):
    settings, local_aws, home = deployed.settings, deployed.local_aws, deployed.home
    data = generate(REFERENCE, 700, seed=12, id_prefix="h")
    arn = _start(deployed, f"{settings.prefixes.training}/hpo/batch.csv", data.to_csv(index=False).encode(),
                 "training_hpo")
    sagemaker = local_aws.client("sagemaker")
    status = local_aws.wait_for_execution(arn, timeout=900)
    steps = {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=arn)["PipelineExecutionSteps"]}
    assert status == "Succeeded", {n: s.get("FailureReason") for n, s in steps.items()}
    assert "Tune" in steps and "Train" not in steps
    tuning = read_step_record(home, arn.rsplit("/", 1)[-1], "Tune")["Properties"]
    summaries = tuning["TrainingJobSummaries"]
    assert len(summaries) == 2
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values)
    package_arn = steps["RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    model_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert model_url.endswith(f"/Tune/model/{summaries[0]['TrainingJobName']}/output/model.tar.gz")
