"""The definitions: steps and order, parameters, references, contracts, schema, network, determinism."""

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

from batchops_core import contracts
from batchops_core.settings import PIPELINE_KEYS  # every pipeline the product builds

SCHEMA = json.loads((Path(__file__).parent / "schema" / "pipeline-definition.patched.schema.json").read_text())
TRAINING_STEPS = {"Preprocess", "DataQualityBaseline", "Train", "Evaluate", "CheckMetric", "RegisterModel",
                  "MetricAboveThreshold"}
# A regression model's inference (LabelPredictions is for classification models only) on one processing instance
# (DataQualityCheckShards runs on several only).
INFERENCE_STEPS = set(contracts.PIPELINE_STEPS[contracts.INFERENCE]) - {contracts.Step.LABEL_PREDICTIONS,
                                                                       contracts.Step.DATA_QUALITY_CHECK_SHARDS}
RESULT_PROPERTY_FILE = {"OutputName": "result", "FilePath": "result.json"}


def both_variants(local_definitions, other_definitions, monitor_definitions=None):
    variants = [("local", local_definitions), ("other schema, builtin engine", other_definitions)]
    return variants + ([("local, Model Monitor engine", monitor_definitions)] if monitor_definitions else [])


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


def test_definitions_validate_against_the_patched_schema(local_definitions, other_definitions, monitor_definitions):
    validator = jsonschema.Draft7Validator(SCHEMA)
    for variant, definitions in both_variants(local_definitions, other_definitions, monitor_definitions):
        assert set(definitions) == set(PIPELINE_KEYS)
        for key in PIPELINE_KEYS:
            errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(definitions[key])]
            assert errors == [], f"{variant} {key}"


def test_the_schema_still_rejects_a_misspelled_step_type(local_definitions):
    broken = json.loads(json.dumps(local_definitions["training"]))
    broken["Steps"][0]["Type"] = "Procesing"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def test_every_reference_resolves(local_definitions, other_definitions, monitor_definitions):
    for variant, definitions in both_variants(local_definitions, other_definitions, monitor_definitions):
        for key in PIPELINE_KEYS:
            assert unresolved_references(definitions[key]) == [], f"{variant} {key}"


def test_the_reference_check_catches_a_dangling_reference(local_definitions):
    broken = json.loads(json.dumps(local_definitions["training"]).replace(
        "Outputs['train']", "Outputs['trian']"))
    assert any("no output trian" in problem for problem in unresolved_references(broken))


def test_the_reference_check_catches_a_result_field_that_does_not_exist(local_definitions):
    broken = json.loads(json.dumps(local_definitions["inference"]).replace('"Path": "outcome"', '"Path": "verdict"'))
    assert any("result.json has no field 'verdict'" in problem for problem in unresolved_references(broken))
    undeclared = json.loads(json.dumps(local_definitions["inference"]).replace(
        "Parameters.ModelQualityThreshold", "Parameters.QualityThreshold"))
    assert any("undeclared parameter" in problem for problem in unresolved_references(undeclared))


def test_parameters_are_the_input_location_and_the_gate_threshold(local_definitions, other_definitions,
                                                                 local_settings, other_settings):
    prefixes = local_settings.prefixes
    expected_keys = {"training": prefixes.training + "/", "training_hpo": prefixes.training + "/",
                     "inference": prefixes.inference + "/", "model_quality": prefixes.ground_truth + "/"}
    for settings, definitions in ((local_settings, local_definitions), (other_settings, other_definitions)):
        model = settings.model
        thresholds = {"training": ("RegistrationThreshold", model.registration_threshold),
                      "training_hpo": ("RegistrationThreshold", model.registration_threshold),
                      "inference": ("ModelQualityThreshold", model.model_quality_threshold),
                      "model_quality": ("ModelQualityThreshold", model.model_quality_threshold)}
        for key in PIPELINE_KEYS:
            parameters = {p["Name"]: p for p in definitions[key]["Parameters"]}
            name, default = thresholds[key]
            assert set(parameters) == {"InputBucket", "InputKey", name}
            assert parameters["InputBucket"] == {"Name": "InputBucket", "Type": "String",
                                                 "DefaultValue": settings.bucket}
            assert parameters["InputKey"]["DefaultValue"] == expected_keys[key]
            assert parameters[name] == {"Name": name, "Type": "Float", "DefaultValue": default}
            # The deciding script receives the parameter (never the configured number baked in).
            decider = all_steps(definitions[key])["Evaluate" if key.startswith("training") else "ModelQualityCheck"]
            arguments = decider["Arguments"]["AppSpecification"]["ContainerArguments"]
            assert arguments[arguments.index("--threshold") + 1] == {
                "Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{name}"}]}}
            assert arguments[arguments.index("--metric") + 1] == model.metric


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
    from pipelines.common.code import core_package_uri, step_script

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
            assert inputs["core"]["S3Uri"] == core_package_uri(local_settings)
            assert inputs["core"]["LocalPath"] == "/opt/ml/processing/input/core/batchops_core"


def test_the_core_package_is_content_addressed_and_uploaded(local_settings):
    from pipelines.common.code import all_step_scripts, core_modules, core_package_uri

    uri = core_package_uri(local_settings)
    prefix = f"s3://{local_settings.bucket}/{local_settings.prefixes.code}/"
    assert uri.startswith(prefix) and uri.endswith("/batchops_core/")
    shipped = {script.uri(local_settings) for script in core_modules()}
    assert shipped == {uri + name for name in ("__init__.py", "contracts.py", "datasets.py", "metrics.py",
                                               "results.py", "s3uri.py")}
    assert shipped <= {script.uri(local_settings) for script in all_step_scripts()}  # the upsert uploads them


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


def test_registration_contract(monitor_definitions, local_settings):
    register = all_steps(monitor_definitions["training"])["RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == local_settings.pipelines.model_package_group
    metrics = register["ModelMetrics"]
    assert metrics["ModelQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"][-1] == "evaluation.json"
    assert metrics["ModelDataQuality"]["Statistics"]["S3Uri"] == {
        "Get": "Steps.DataQualityBaseline.CalculatedBaselineStatistics"}
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert drift["Constraints"]["S3Uri"] == {"Get": "Steps.DataQualityBaseline.BaselineUsedForDriftCheckConstraints"}
    properties = register["CustomerMetadataProperties"]
    # No value from the triggering S3 key (issue 16 item 3): the execution ARN traces the training data.
    assert set(properties) == {"PreprocessingArtefact", "CodeVersion", "SemanticVersion"}
    assert register["MetadataProperties"] == {"GeneratedBy": {"Get": "Execution.PipelineExecutionArn"}}
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


def result_json_get(step_name: str, path: str) -> dict:
    return {"Std:JsonGet": {"PropertyFile": {"Get": f"Steps.{step_name}.PropertyFiles.{step_name}Result"},
                            "Path": path}}


def failure_message_reads(message: dict, step_name: str) -> list[str]:
    """The result.json fields a Fail step's message reads (its text parts are for people)."""
    values = message["Std:Join"]["Values"]
    assert all(isinstance(v, str) or v["Std:JsonGet"]["PropertyFile"]["Get"].startswith(f"Steps.{step_name}.")
               for v in values)
    return [v["Std:JsonGet"]["Path"] for v in values if isinstance(v, dict)]


@pytest.mark.parametrize("variant", ["local", "other"])
def test_metric_gate_reads_the_outcome_evaluate_decided(local_definitions, other_definitions, variant):
    # Direction and threshold live in the registry and the run's parameter: the condition only reads the outcome
    # (rmse, lower is better, in `local`; r2, higher is better, in `other`: the same condition).
    definitions = local_definitions if variant == "local" else other_definitions
    steps = all_steps(definitions["training"])
    assert steps["Evaluate"]["PropertyFiles"] == [{"PropertyFileName": "EvaluateResult", **RESULT_PROPERTY_FILE}]
    _, outputs = processing_io(steps["Evaluate"])
    assert outputs["result"]["LocalPath"] == "/opt/ml/processing/output/result"
    check = steps["CheckMetric"]["Arguments"]
    assert check["Conditions"] == [{"Type": "Equals", "LeftValue": result_json_get("Evaluate", "outcome"),
                                    "RightValue": "passed"}]
    message = check["ElseSteps"][0]["Arguments"]["ErrorMessage"]
    assert failure_message_reads(message, "Evaluate") == ["metric", "value", "counts.rows", "metric", "comparison",
                                                          "threshold"]


def test_model_monitor_baseline_step(monitor_definitions):
    baseline = all_steps(monitor_definitions["training"])["DataQualityBaseline"]
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
    # Only the check decides: it writes result.json into its `result` output, beside the reports' folder.
    assert "step_result_path" not in baseline["Arguments"]["Environment"]
    assert "result" not in processing_io(baseline)[1]
    _, check_outputs = processing_io(check)
    assert check_outputs["result"]["LocalPath"] == "/opt/ml/processing/result"
    assert check["Arguments"]["Environment"]["step_result_path"] == "/opt/ml/processing/result/result.json"
    assert check["Arguments"]["Environment"]["step_name"] == "DataQualityCheck"
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
    # Published only after scoring (a batch stopped by the data-quality gate is not), with the version resolved.
    assert referenced_steps(steps["PublishPredictions"]) == {"BatchTransform", "ResolveModel"}
    assert [s["Name"] for s in definition["Steps"]][-2:] == ["ModelQualityCheck", "CheckModelQuality"]
    assert referenced_steps(steps["CheckModelQuality"]) == {"ModelQualityCheck"}


def test_a_batch_that_fails_the_data_quality_gate_in_fail_mode_is_never_published(other_definitions):
    """on_drift = fail: the check fails its step on a violation, which stops the execution before BatchTransform,
    and PublishPredictions runs only after BatchTransform (it reads its output)."""
    steps = all_steps(other_definitions["inference"])
    assert steps["DataQualityCheck"]["Arguments"]["Environment"]["fail_on_violation"] == "true"
    assert steps["BatchTransform"]["DependsOn"] == ["DataQualityCheck"]
    assert "BatchTransform" in referenced_steps(steps["PublishPredictions"])


@pytest.mark.parametrize("variant", ["local", "other"])
def test_a_model_quality_violation_fails_through_the_condition(local_definitions, other_definitions, variant):
    definitions = local_definitions if variant == "local" else other_definitions
    steps = all_steps(definitions["inference"])
    assert steps["ModelQualityCheck"]["PropertyFiles"] == [{"PropertyFileName": "ModelQualityCheckResult",
                                                            **RESULT_PROPERTY_FILE}]
    check = steps["CheckModelQuality"]["Arguments"]
    assert steps["CheckModelQuality"]["Type"] == "Condition"
    assert check["Conditions"] == [{"Type": "Equals", "LeftValue": result_json_get("ModelQualityCheck", "outcome"),
                                    "RightValue": "failed"}]
    assert check["ElseSteps"] == []
    [fail] = check["IfSteps"]
    assert (fail["Name"], fail["Type"]) == ("ModelQualityViolated", "Fail")
    assert failure_message_reads(fail["Arguments"]["ErrorMessage"], "ModelQualityCheck") == [
        "metric", "value", "counts.rows", "metric", "comparison", "threshold"]


def test_resolve_model_contract(local_definitions, local_settings):
    resolve = all_steps(local_definitions["inference"])["ResolveModel"]
    assert resolve["PropertyFiles"] == [{"PropertyFileName": "ResolvedModel", "OutputName": "model",
                                         "FilePath": "model.json"}]
    arguments = resolve["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--active-model-parameter") + 1] == "/abalone/local/active-model-package-arn"
    assert arguments[arguments.index("--model-package-group") + 1] == local_settings.pipelines.model_package_group


def test_inference_uses_the_resolved_version(monitor_definitions):
    steps = all_steps(monitor_definitions["inference"])
    container = steps["CreateModel"]["Arguments"]["PrimaryContainer"]
    assert container["Image"]["Std:JsonGet"]["Path"] == "ImageUri"
    assert container["ModelDataUrl"]["Std:JsonGet"]["Path"] == "ModelDataUrl"
    inputs, outputs = processing_io(steps["Preprocess"])
    assert inputs["preprocessing"]["S3Uri"]["Std:JsonGet"]["Path"] == "PreprocessingArtefact"
    assert set(outputs) == {"transform", "dataquality", "constraints"}
    assert inputs["baseline_constraints"]["S3Uri"]["Std:JsonGet"]["Path"] == "BaselineConstraints"
    assert "--mode" in steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    check = steps["DataQualityCheck"]
    assert (check["SkipCheck"], check["RegisterNewBaseline"], check["FailOnViolation"]) == (False, False, False)
    assert check["SuppliedBaselineStatistics"]["Std:JsonGet"]["Path"] == "BaselineStatistics"
    # The version's constraints with the configured drift settings, as Preprocess wrote them.
    assert check["SuppliedBaselineConstraints"]["Std:Join"]["Values"] == [
        {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['constraints'].S3Output.S3Uri"}, "constraints.json"]


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
    assert set(outputs) == {"report", "feedback", "result"}
    assert outputs["feedback"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{local_settings.bucket}/{local_settings.prefixes.outputs}/feedback",
        {"Get": "Execution.PipelineExecutionId"}]
    assert outputs["result"]["S3Uri"]["Std:Join"]["Values"][-2:] == ["ModelQualityCheck", "result"]
    arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--ground-truth-prefix") + 1] == local_settings.prefixes.ground_truth
    assert "--feedback-uri" not in arguments  # the step succeeds on a violation: the platform uploads feedback


def test_resolve_model_writes_its_result(local_definitions):
    _, outputs = processing_io(all_steps(local_definitions["inference"])["ResolveModel"])
    assert set(outputs) == {"model", "result"}


def test_schema_travels_to_the_scripts(other_definitions, other_settings):
    from pipelines.common.code import dataset_schema_file

    shipped = dataset_schema_file(other_settings)
    schema = json.loads(shipped.read_bytes())
    assert schema["record_key"] == "order_id" and schema["target"] == "delivery_minutes"
    assert [c["name"] for c in schema["columns"]] == other_settings.dataset.column_names
    steps = {**all_steps(other_definitions["training"]), **all_steps(other_definitions["inference"])}
    for name in ("Preprocess", "ModelQualityCheck"):
        inputs, _ = processing_io(steps[name])
        assert inputs["schema"]["S3Uri"] == shipped.uri(other_settings)
        assert inputs["schema"]["LocalPath"] == "/opt/ml/processing/input/schema"
        assert "DATASET_SCHEMA" not in (steps[name]["Arguments"].get("Environment") or {})


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


# ---------------------------------------------------------------------------------- a registry metric end to end


@pytest.mark.slow  # one more build of the three definitions
def test_mape_gates_and_tunes_from_the_registry(local_settings):
    # Built from settings that name mape (the config accepts every registry metric): the scripts get the name,
    # the tuner gets the registry's objective and direction, and nothing else in the builders names a metric.
    from pipelines.definitions import build_definitions

    model = local_settings.model.model_copy(update={"metric": "mape", "registration_threshold": 0.2,
                                                    "model_quality_threshold": 0.25})
    hpo = local_settings.hpo.model_copy(update={"objective_metric": "validation:mape"})
    settings = local_settings.model_copy(update={"model": model, "hpo": hpo})
    definitions = {k: json.loads(v) for k, v in build_definitions(settings, account_id=ACCOUNT_ID).items()}
    tune = all_steps(definitions["training_hpo"])["Tune"]["Arguments"]["HyperParameterTuningJobConfig"]
    assert tune["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:mape"}
    for key, step, threshold in (("training", "Evaluate", 0.2), ("inference", "ModelQualityCheck", 0.25)):
        arguments = all_steps(definitions[key])[step]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments[arguments.index("--metric") + 1] == "mape"
        assert {p["Name"]: p["DefaultValue"] for p in definitions[key]["Parameters"]}[
            "ModelQualityThreshold" if key == "inference" else "RegistrationThreshold"] == threshold


# ------------------------------------------------------------------------------------------ classification

def _classification_definitions(settings) -> dict[str, dict]:
    from pipelines.definitions import build_definitions

    with network_guard():
        texts = build_definitions(settings, account_id=ACCOUNT_ID)
    return {key: json.loads(text) for key, text in texts.items()}


@pytest.fixture(scope="module")
def binary_definitions() -> dict[str, dict]:
    """The shipped env file `classification` (binary), built once for the tests that only read it (a build is
    deterministic: test_two_builds_are_byte_identical)."""
    from batchops_core.settings import load_settings

    return _classification_definitions(load_settings("classification"))


def _arguments(step: dict) -> list[str]:
    return step["Arguments"]["AppSpecification"]["ContainerArguments"]


def test_binary_definitions_carry_objective_classes_and_threshold(binary_definitions):
    definitions = binary_definitions
    train = all_steps(definitions["training"])["Train"]["Arguments"]
    assert train["HyperParameters"]["objective"] == "binary:logistic" and "num_class" not in train["HyperParameters"]
    evaluate = _arguments(all_steps(definitions["training"])["Evaluate"])
    assert evaluate[:8] == ["--metric", "f1", "--problem-type", "binary", "--classes", '["benign", "malignant"]',
                            "--decision-threshold", "0.5"]
    tune = all_steps(definitions["training_hpo"])["Tune"]["Arguments"]["HyperParameterTuningJobConfig"]
    assert tune["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:f1_binary"}
    transform = all_steps(definitions["inference"])["BatchTransform"]["Arguments"]
    assert transform["DataProcessing"]["OutputFilter"] == "$[0,-1]"
    quality = _arguments(all_steps(definitions["inference"])["ModelQualityCheck"])
    assert quality[quality.index("--problem-type") + 1] == "binary"
    label = all_steps(definitions["inference"])["LabelPredictions"]
    assert _arguments(label) == ["--problem-type", "binary", "--classes", '["benign", "malignant"]',
                                 "--decision-threshold", "0.5"]
    assert label["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == {
        "Get": "Steps.BatchTransform.TransformOutput.S3OutputPath"}
    # The labelled predictions are what gets published.
    publish = all_steps(definitions["inference"])["PublishPredictions"]
    assert "--labelled" in _arguments(publish)
    assert publish["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == {
        "Get": "Steps.LabelPredictions.ProcessingOutputConfig.Outputs['predictions'].S3Output.S3Uri"}


def test_a_classifier_s_data_quality_reports_its_label_s_class_balance(local_definitions, binary_definitions):
    from batchops_core.settings import load_settings

    settings = load_settings("classification")
    assert settings.data_quality.engine == "builtin"
    definitions = binary_definitions
    for key, step in (("training", "DataQualityBaseline"), ("inference", "DataQualityCheck")):
        assert all_steps(definitions[key])[step]["Arguments"]["Environment"]["label_column"] == "diagnosis"
        preprocess = _arguments(all_steps(definitions[key])["Preprocess"])
        assert preprocess[preprocess.index("--data-quality-label") + 1] == "diagnosis"
    # A regression model has no classes to balance; the Model Monitor analyzer has no label setting.
    for definitions in (local_definitions, _classification_definitions(settings.model_copy(update={
            "data_quality": settings.data_quality.model_copy(update={"engine": "model_monitor"})}))):
        for key in ("training", "inference"):
            steps = all_steps(definitions[key])
            assert "--data-quality-label" not in _arguments(steps["Preprocess"])
            assert not any("label_column" in (step["Arguments"].get("Environment") or {}) for step in steps.values())


def test_a_regression_inference_pipeline_has_no_label_step(local_definitions):
    assert "LabelPredictions" not in all_steps(local_definitions["inference"])


def test_multiclass_definitions_set_num_class_and_keep_every_class_probability():
    from batchops_core.settings import ENV_DIR, load_settings, parse_tfvars, settings_from_data

    data = parse_tfvars(ENV_DIR / "classification.tfvars")
    data["model"] = {**data["model"], "metric": "mlogloss", "classes": ["benign", "borderline", "malignant"],
                     "registration_threshold": 0.3, "model_quality_threshold": 0.4}
    data["xgboost"] = {"hyperparameters": {"objective": "multi:softprob", "eval_metric": "mlogloss", "num_round": "20"}}
    data["hpo"] = {"objective_metric": "validation:mlogloss"}
    settings = settings_from_data(data, ENV_DIR / "classification.tfvars")
    assert load_settings("classification").model.problem == "binary" and settings.model.problem == "multiclass"
    definitions = _classification_definitions(settings)
    train = all_steps(definitions["training"])["Train"]["Arguments"]
    assert train["HyperParameters"]["num_class"] == "3"
    static = all_steps(definitions["training_hpo"])["Tune"]["Arguments"]["TrainingJobDefinition"]
    assert static["StaticHyperParameters"]["num_class"] == "3"
    transform = all_steps(definitions["inference"])["BatchTransform"]["Arguments"]
    assert transform["DataProcessing"]["OutputFilter"] == "$[0,-3,-2,-1]"


def test_a_consumer_builds_only_the_pipelines_that_score() -> None:
    from batchops_core.settings import ENV_DIR, TRAINING_PIPELINE_KEYS, load_settings
    from pipelines.definitions import build_definitions

    consumer = load_settings(ENV_DIR / "multi-account" / "staging.tfvars")
    with network_guard():
        definitions = build_definitions(consumer, account_id="222222222222")
    assert set(definitions) == set(PIPELINE_KEYS) - set(TRAINING_PIPELINE_KEYS)
    assert set(definitions) == set(consumer.pipeline_keys)
