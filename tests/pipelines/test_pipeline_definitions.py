"""The three definitions: steps and order, parameters, references, contracts, schema, network, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from pipeline_definition_tools import all_steps, processing_io, referenced_steps, unresolved_references
from pipeline_test_support import ACCOUNT_ID, network_guard

SCHEMA = json.loads((Path(__file__).parent / "schema" / "pipeline-definition.patched.schema.json").read_text())
PIPELINE_KEYS = ("training", "training_hpo", "inference")
TRAINING_STEPS = {"Preprocess", "DataQualityBaseline", "Train", "Evaluate", "CheckMetric", "RegisterModel",
                  "MetricAboveThreshold"}
INFERENCE_STEPS = {"ResolveModel", "Preprocess", "CreateModel", "DataQualityCheck", "BatchTransform",
                   "ModelQualityCheck"}


def both_variants(local_definitions, other_definitions):
    return [("local", local_definitions), ("other schema, builtin engine", other_definitions)]


# ------------------------------------------------------------------------------------------ build properties


def test_building_makes_no_network_call(built_local, built_other):
    assert built_local["attempts"] == []
    assert built_other["attempts"] == []


def test_network_guard_blocks_a_real_call():
    import boto3

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with network_guard() as attempts, pytest.raises(Exception, match="network call while building"):
        client.list_buckets()
    assert attempts and attempts[0].startswith("HTTP GET https://s3")


def test_two_builds_are_byte_identical(built_local, local_settings):
    from pipelines.definitions import build_definitions

    assert build_definitions(local_settings, account_id=ACCOUNT_ID) == built_local["texts"]


@pytest.mark.slow
def test_a_fresh_process_builds_the_same_bytes(built_local):
    code = ("import json, sys; from batchops_core.settings import load_settings; "
            "from pipelines.definitions import build_definitions; "
            f"json.dump(build_definitions(load_settings('local'), account_id='{ACCOUNT_ID}'), sys.stdout)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == built_local["texts"]


def test_a_bad_account_id_is_refused(local_settings):
    from pipelines.definitions import build_definitions

    with pytest.raises(ValueError, match="12-digit"):
        build_definitions(local_settings, account_id="12345")


# ------------------------------------------------------------------------------------------ every definition


def test_definitions_validate_against_the_patched_schema(local_definitions, other_definitions):
    validator = jsonschema.Draft7Validator(SCHEMA)
    for variant, definitions in both_variants(local_definitions, other_definitions):
        for key in PIPELINE_KEYS:
            errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(definitions[key])]
            assert errors == [], f"{variant} {key}"


def test_the_schema_still_rejects_a_misspelled_step_type(local_definitions):
    broken = json.loads(json.dumps(local_definitions["training"]))
    broken["Steps"][0]["Type"] = "Procesing"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def test_every_reference_resolves(local_definitions, other_definitions):
    for variant, definitions in both_variants(local_definitions, other_definitions):
        for key in PIPELINE_KEYS:
            assert unresolved_references(definitions[key]) == [], f"{variant} {key}"


def test_the_reference_check_catches_a_dangling_reference(local_definitions):
    broken = json.loads(json.dumps(local_definitions["training"]).replace(
        "Outputs['train']", "Outputs['trian']"))
    assert any("no output trian" in problem for problem in unresolved_references(broken))


def test_parameters_are_the_shared_input_location(local_definitions, local_settings):
    prefixes = local_settings.prefixes
    expected_keys = {"training": prefixes.training + "/", "training_hpo": prefixes.training + "/",
                     "inference": prefixes.inference + "/"}
    for key in PIPELINE_KEYS:
        parameters = {p["Name"]: p for p in local_definitions[key]["Parameters"]}
        assert set(parameters) == {"InputBucket", "InputKey"}
        assert parameters["InputBucket"] == {"Name": "InputBucket", "Type": "String",
                                             "DefaultValue": local_settings.bucket}
        assert parameters["InputKey"]["DefaultValue"] == expected_keys[key]


def test_every_output_is_execution_scoped(local_definitions, local_settings):
    outputs_root = f"s3://{local_settings.bucket}/{local_settings.prefixes.outputs}/"
    for key in PIPELINE_KEYS:
        text = json.dumps(local_definitions[key])
        for step in all_steps(local_definitions[key]).values():
            _, outputs = processing_io(step) if "ProcessingOutputConfig" in step.get("Arguments", {}) else ({}, {})
            for name, output in outputs.items():
                join = output["S3Uri"]["Std:Join"]
                assert join["Values"][0].startswith(outputs_root), (key, step["Name"], name)
                assert {"Get": "Execution.PipelineExecutionId"} in join["Values"], (key, step["Name"], name)
        assert "s3://" + local_settings.bucket + "/" + local_settings.prefixes.training + "/" not in text


def test_step_code_is_content_addressed(local_definitions, local_settings):
    from pipelines.common.code import step_script

    for key in PIPELINE_KEYS:
        for step in all_steps(local_definitions[key]).values():
            if step["Type"] != "Processing":
                continue
            inputs, _ = processing_io(step)
            script_name = Path(step["Arguments"]["AppSpecification"]["ContainerEntrypoint"][-1]).name
            assert inputs["code"]["S3Uri"] == step_script(script_name).uri(local_settings)
            if script_name != "data_quality.py":
                assert inputs["steplib"]["S3Uri"] == step_script("steplib.py").uri(local_settings)
                assert inputs["steplib"]["LocalPath"] == "/opt/ml/processing/input/steplib"


# ------------------------------------------------------------------------------------------ training


@pytest.mark.parametrize("key,fit_step", [("training", "Train"), ("training_hpo", "Tune")])
def test_training_steps_and_order(local_definitions, key, fit_step):
    definition = local_definitions[key]
    steps = all_steps(definition)
    assert set(steps) == TRAINING_STEPS - {"Train"} | {fit_step}
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "DataQualityBaseline", fit_step, "Evaluate",
                                                        "CheckMetric"]
    assert referenced_steps(steps["DataQualityBaseline"]) == {"Preprocess"}
    assert referenced_steps(steps[fit_step]) == {"Preprocess", "DataQualityBaseline"}
    assert steps[fit_step]["DependsOn"] == ["DataQualityBaseline"]
    assert referenced_steps(steps["Evaluate"]) == {"Preprocess", fit_step}
    assert [s["Name"] for s in steps["CheckMetric"]["Arguments"]["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in steps["CheckMetric"]["Arguments"]["ElseSteps"]] == ["MetricAboveThreshold"]


def test_training_job_contract(local_definitions, local_settings):
    train = all_steps(local_definitions["training"])["Train"]["Arguments"]
    assert train["HyperParameters"] == local_settings.xgboost.hyperparameters
    assert all(isinstance(v, str) for v in train["HyperParameters"].values())
    assert train["AlgorithmSpecification"]["TrainingImage"].endswith(
        f"/sagemaker-xgboost:{local_settings.xgboost.framework_version}")
    assert train["StoppingCondition"]["MaxRuntimeInSeconds"] == local_settings.compute.max_runtime_seconds
    channels = {c["ChannelName"]: c for c in train["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    assert {c["ContentType"] for c in channels.values()} == {"text/csv"}
    assert train["OutputDataConfig"]["S3OutputPath"]["Std:Join"]["Values"][-2:] == ["Train", "model"]


def test_every_training_input_has_a_channel(local_definitions, other_definitions):
    for _, definitions in both_variants(local_definitions, other_definitions):
        train = all_steps(definitions["training"])["Train"]["Arguments"]
        tune = all_steps(definitions["training_hpo"])["Tune"]["Arguments"]["TrainingJobDefinition"]
        assert len(train["InputDataConfig"]) >= 1
        assert len(tune["InputDataConfig"]) >= 1


def test_tuning_contract(local_definitions, local_settings):
    tune = all_steps(local_definitions["training_hpo"])["Tune"]["Arguments"]
    config = tune["HyperParameterTuningJobConfig"]
    hpo = local_settings.hpo
    assert config["Strategy"] == hpo.strategy
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": hpo.max_parallel_jobs,
                                        "MaxNumberOfTrainingJobs": hpo.max_jobs}
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:rmse"}
    ranges = {r["Name"]: r for kind in config["ParameterRanges"].values() for r in kind}
    assert set(ranges) == {r.name for r in hpo.ranges}
    static = tune["TrainingJobDefinition"]["StaticHyperParameters"]
    assert not set(static) & set(ranges)
    assert static["num_round"] == local_settings.xgboost.hyperparameters["num_round"]
    definition = tune["TrainingJobDefinition"]
    assert definition["StoppingCondition"]["MaxRuntimeInSeconds"] == local_settings.compute.max_runtime_seconds


def test_hpo_registers_the_best_job_under_its_output_path(local_definitions):
    steps = all_steps(local_definitions["training_hpo"])
    output_path = steps["Tune"]["Arguments"]["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    model_url = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    values = model_url["Std:Join"]["Values"]
    assert values[-2:] == [{"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz"]
    # s3:/ + bucket + prefix joined with "/" must equal the tuning job's S3OutputPath.
    bucket_uri = "/".join(values[:2])
    prefix_join = values[2]["Std:Join"]
    assert output_path["Std:Join"]["Values"][0] == bucket_uri + "/" + prefix_join["Values"][0]
    assert output_path["Std:Join"]["Values"][1:] == prefix_join["Values"][1:]


def test_hpo_preprocess_reads_labelled_feedback(local_definitions, local_settings):
    arguments = all_steps(local_definitions["training_hpo"])["Preprocess"]["Arguments"]
    container_arguments = arguments["AppSpecification"]["ContainerArguments"]
    feedback = container_arguments[container_arguments.index("--feedback-uri") + 1]
    assert feedback == f"s3://{local_settings.bucket}/{local_settings.prefixes.outputs}/feedback/"
    plain = all_steps(local_definitions["training"])["Preprocess"]["Arguments"]["AppSpecification"]
    assert "--feedback-uri" not in plain["ContainerArguments"]


def test_registration_contract(local_definitions, local_settings):
    register = all_steps(local_definitions["training"])["RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == local_settings.pipelines.model_package_group
    metrics = register["ModelMetrics"]
    assert metrics["ModelQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"][-1] == "evaluation.json"
    assert metrics["ModelDataQuality"]["Statistics"]["S3Uri"] == {
        "Get": "Steps.DataQualityBaseline.CalculatedBaselineStatistics"}
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert drift["Constraints"]["S3Uri"] == {"Get": "Steps.DataQualityBaseline.BaselineUsedForDriftCheckConstraints"}
    properties = register["CustomerMetadataProperties"]
    assert set(properties) == {"PreprocessingArtefact", "TrainingData", "CodeVersion", "SemanticVersion"}
    assert properties["PreprocessingArtefact"]["Std:Join"]["Values"] == [
        {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['preprocessing'].S3Output.S3Uri"},
        "preprocessing.json"]
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == {
        "Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_code_version_follows_the_scripts(local_definitions):
    from pipelines.common.code import code_version

    properties = all_steps(local_definitions["training"])["RegisterModel"]["Arguments"]["CustomerMetadataProperties"]
    assert properties["CodeVersion"] == code_version()
    assert len(code_version()) == 16


def test_metric_gate_error_metric(local_definitions, local_settings):
    check = all_steps(local_definitions["training"])["CheckMetric"]["Arguments"]
    [condition] = check["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.rmse.value"
    assert condition["RightValue"] == local_settings.model.registration_threshold
    message = check["ElseSteps"][0]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert "rmse" in message[0] and str(local_settings.model.registration_threshold) in message
    assert any("Std:JsonGet" in part for part in message if isinstance(part, dict))


def test_metric_gate_r2_is_higher_is_better(other_definitions):
    check = all_steps(other_definitions["training"])["CheckMetric"]["Arguments"]
    [condition] = check["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.r2.value"
    assert condition["RightValue"] == 0.5


def test_model_monitor_baseline_step(local_definitions):
    baseline = all_steps(local_definitions["training"])["DataQualityBaseline"]
    assert baseline["Type"] == "QualityCheck"
    assert (baseline["SkipCheck"], baseline["RegisterNewBaseline"]) == (True, True)
    assert "sagemaker-model-monitor-analyzer" in baseline["Arguments"]["AppSpecification"]["ImageUri"]
    environment = baseline["Arguments"]["Environment"]
    assert json.loads(environment["dataset_format"]) == {"csv": {"header": True, "output_columns_position": "START"}}
    _, outputs = processing_io(baseline)
    assert outputs["quality_check_output"]["S3Uri"]["Std:Join"]["Values"][-2:] == ["DataQualityBaseline",
                                                                                  "quality_check_output"]


def test_builtin_engine_steps_keep_the_analyzer_contract(other_definitions, other_settings):
    from pipelines.common.code import step_script

    baseline = all_steps(other_definitions["training"])["DataQualityBaseline"]
    check = all_steps(other_definitions["inference"])["DataQualityCheck"]
    for step in (baseline, check):
        assert step["Type"] == "Processing"
        arguments = step["Arguments"]
        assert "sagemaker-scikit-learn" in arguments["AppSpecification"]["ImageUri"]
        inputs, outputs = processing_io(step)
        assert inputs["code"]["S3Uri"] == step_script("data_quality.py").uri(other_settings)
        assert inputs["baseline_dataset_input"]["LocalPath"] == "/opt/ml/processing/input/baseline_dataset_input"
        assert outputs["quality_check_output"]["LocalPath"] == "/opt/ml/processing/output"
        environment = arguments["Environment"]
        assert environment["dataset_source"] == "/opt/ml/processing/input/baseline_dataset_input"
        assert environment["output_path"] == "/opt/ml/processing/output"
    assert "baseline_statistics" not in baseline["Arguments"]["Environment"]
    environment = check["Arguments"]["Environment"]
    assert environment["fail_on_violation"] == "true"  # on_drift = fail in this variant
    inputs, _ = processing_io(check)
    assert inputs["baseline_statistics"]["S3Uri"]["Std:JsonGet"]["Path"] == "BaselineStatistics"
    assert environment["baseline_statistics"] == "/opt/ml/processing/baseline/statistics/statistics.json"
    # Registration points at the files the processing step writes.
    register = all_steps(other_definitions["training"])["RegisterModel"]["Arguments"]
    statistics = register["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"]
    assert statistics[-1] == "statistics.json"


# ------------------------------------------------------------------------------------------ inference


def test_inference_steps_and_order(local_definitions):
    definition = local_definitions["inference"]
    steps = all_steps(definition)
    assert set(steps) == INFERENCE_STEPS
    assert referenced_steps(steps["Preprocess"]) == {"ResolveModel"}
    assert referenced_steps(steps["CreateModel"]) == {"ResolveModel"}
    assert referenced_steps(steps["DataQualityCheck"]) == {"ResolveModel", "Preprocess"}
    assert referenced_steps(steps["BatchTransform"]) == {"CreateModel", "Preprocess", "DataQualityCheck"}
    assert steps["BatchTransform"]["DependsOn"] == ["DataQualityCheck"]
    assert referenced_steps(steps["ModelQualityCheck"]) == {"BatchTransform"}


def test_resolve_model_contract(local_definitions, local_settings):
    resolve = all_steps(local_definitions["inference"])["ResolveModel"]
    assert resolve["PropertyFiles"] == [{"PropertyFileName": "ResolvedModel", "OutputName": "model",
                                         "FilePath": "model.json"}]
    arguments = resolve["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--active-model-parameter") + 1] == "/abalone/local/active-model-package-arn"
    assert arguments[arguments.index("--model-package-group") + 1] == local_settings.pipelines.model_package_group


def test_inference_uses_the_resolved_version(local_definitions):
    steps = all_steps(local_definitions["inference"])
    container = steps["CreateModel"]["Arguments"]["PrimaryContainer"]
    assert container["Image"]["Std:JsonGet"]["Path"] == "ImageUri"
    assert container["ModelDataUrl"]["Std:JsonGet"]["Path"] == "ModelDataUrl"
    inputs, outputs = processing_io(steps["Preprocess"])
    assert inputs["preprocessing"]["S3Uri"]["Std:JsonGet"]["Path"] == "PreprocessingArtefact"
    assert set(outputs) == {"transform", "dataquality"}
    assert "--mode" in steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    check = steps["DataQualityCheck"]
    assert (check["SkipCheck"], check["RegisterNewBaseline"], check["FailOnViolation"]) == (False, False, False)
    assert check["SuppliedBaselineStatistics"]["Std:JsonGet"]["Path"] == "BaselineStatistics"
    assert check["SuppliedBaselineConstraints"]["Std:JsonGet"]["Path"] == "BaselineConstraints"


def test_batch_transform_contract(local_definitions):
    transform = all_steps(local_definitions["inference"])["BatchTransform"]["Arguments"]
    assert transform["ModelName"] == {"Get": "Steps.CreateModel.ModelName"}
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformInput"]["ContentType"] == "text/csv"
    assert transform["TransformOutput"]["Accept"] == "text/csv"
    assert transform["TransformOutput"]["AssembleWith"] == "Line"
    assert transform["DataProcessing"] == {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]", "JoinSource": "Input"}


def test_model_quality_contract(local_definitions, local_settings):
    step = all_steps(local_definitions["inference"])["ModelQualityCheck"]
    inputs, outputs = processing_io(step)
    assert inputs["predictions"]["S3Uri"] == {"Get": "Steps.BatchTransform.TransformOutput.S3OutputPath"}
    assert set(outputs) == {"report", "feedback"}
    assert outputs["feedback"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{local_settings.bucket}/{local_settings.prefixes.outputs}/feedback",
        {"Get": "Execution.PipelineExecutionId"}]
    arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--threshold") + 1] == str(local_settings.model.model_quality_threshold)
    assert arguments[arguments.index("--ground-truth-prefix") + 1] == local_settings.prefixes.ground_truth


def test_schema_travels_to_the_scripts(other_definitions, other_settings):
    preprocess = all_steps(other_definitions["training"])["Preprocess"]
    schema = json.loads(preprocess["Arguments"]["Environment"]["DATASET_SCHEMA"])
    assert schema["record_key"] == "order_id" and schema["target"] == "delivery_minutes"
    assert [c["name"] for c in schema["columns"]] == other_settings.dataset.column_names


def test_building_leaves_the_environment_as_it_was(local_settings, monkeypatch):
    from pipelines.definitions import build_definitions

    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    before = dict(os.environ)
    build_definitions(local_settings, account_id=ACCOUNT_ID)
    assert dict(os.environ) == before  # an instance-role credential lookup after the build still works


def test_xgboost_version_selects_every_xgboost_image(other_definitions):
    steps = {**all_steps(other_definitions["training"]), **all_steps(other_definitions["training_hpo"])}
    images = [steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"],
              steps["Tune"]["Arguments"]["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"],
              steps["Evaluate"]["Arguments"]["AppSpecification"]["ImageUri"],
              steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]["Image"]]
    assert all(image.endswith("/sagemaker-xgboost:3.0-5") for image in images), images
