"""Step factories of the two training pipelines and their assembly.

Both pipelines are Preprocess -> DataQualityBaseline -> <model fitting> -> Evaluate -> CheckMetric ->
RegisterModel | MetricAboveThreshold. Only the model-fitting step differs (`Train` or `Tune`): each builder
passes a `ModelFitting` factory to `build_training_pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from batchops_core import contracts, results
from batchops_core.contracts import OutputFile, Step
from pipelines.common.code import code_version
from pipelines.common.context import BuildContext
from pipelines.common.network import job_kms_key, trainer_networking
from pipelines.common.processing import (
    gate_arguments,
    processing_step,
    result_output,
    result_property_file,
    s3_input,
    step_output,
)
from pipelines.common.quality_steps import DataQualityStep, data_quality_step

SPLITS = ("train", "validation", "test")
CSV = "text/csv"


@dataclass
class FittedModel:
    """What the model-fitting step gives the rest of the pipeline."""

    step: Any
    model_data_uri: Any  # s3://.../model.tar.gz of the model to evaluate and register


# A factory that builds the model-fitting step from the preprocess step, after the baseline step.
ModelFitting = Callable[[BuildContext, Any, Any], FittedModel]


def processing_output_uri(preprocess: Any, output_name: str) -> Any:
    return preprocess.properties.ProcessingOutputConfig.Outputs[output_name].S3Output.S3Uri


def training_preprocess_step(ctx: BuildContext, *, with_feedback: bool) -> Any:
    """Validate, fit the feature preprocessing, split, write XGBoost CSVs and the data-quality baseline dataset."""
    gates = ctx.settings.model
    arguments = ["--mode", "train", "--validation-fraction", str(gates.validation_fraction),
                 "--test-fraction", str(gates.test_fraction), "--seed", str(gates.split_seed), *ctx.dataset_arguments,
                 *ctx.label_arguments]
    if with_feedback:
        arguments += ["--feedback-uri", ctx.feedback_prefix_uri]
    outputs = [step_output(ctx, Step.PREPROCESS, name) for name in (*SPLITS, "baseline", "preprocessing")]
    return processing_step(
        ctx, Step.PREPROCESS, script="preprocess.py", image_uri=ctx.sklearn_image,
        inputs=[s3_input("data", ctx.input_data_uri, "input/data")], outputs=outputs, arguments=arguments,
        with_schema=True, calls_aws=with_feedback,  # feedback batches are listed and read with S3 calls
    )


def training_channels(preprocess: Any) -> list[Any]:
    """The `train` and `validation` channels as CSV (the algorithm's default would be libsvm)."""
    from sagemaker.core.training.configs import InputData

    return [InputData(channel_name=name, data_source=processing_output_uri(preprocess, name), content_type=CSV)
            for name in ("train", "validation")]


def script_environment(ctx: BuildContext) -> dict[str, str]:
    """What a framework container needs to serve the model with the script's handler functions."""
    return {contracts.SCRIPT_PROGRAM_ENVIRONMENT: ctx.settings.script.program,
            contracts.SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT: ctx.source_uri}


def trainer_hyperparameters(ctx: BuildContext) -> dict[str, str]:
    """Built-in: the algorithm's hyperparameters. Script mode: the script's arguments plus where its code is."""
    settings = ctx.settings
    if not settings.uses_script:
        return settings.training_hyperparameters
    return {**settings.script_hyperparameters,
            contracts.SCRIPT_PROGRAM_HYPERPARAMETER: settings.script.program,
            contracts.SCRIPT_SUBMIT_DIRECTORY_HYPERPARAMETER: ctx.source_uri}


def model_trainer(ctx: BuildContext, step_name: str) -> Any:
    """The built-in XGBoost algorithm, or the script in its framework container (with its MetricDefinitions),
    with the configured hyperparameters, compute and stopping condition."""
    from sagemaker.core.shapes import MetricDefinition
    from sagemaker.core.training.configs import Compute, OutputDataConfig, StoppingCondition
    from sagemaker.train.model_trainer import ModelTrainer

    compute = ctx.settings.compute
    trainer = ModelTrainer(
        training_image=ctx.model_image,
        role=ctx.role_arn,
        sagemaker_session=ctx.session,
        base_job_name=ctx.job_name_base(step_name),
        compute=Compute(instance_type=compute.training_instance_type, instance_count=compute.training_instance_count,
                        volume_size_in_gb=compute.volume_size_gb, volume_kms_key_id=job_kms_key(ctx, step_name)),
        # The trainer's own default stops jobs after one hour: always take the configured limit.
        stopping_condition=StoppingCondition(max_runtime_in_seconds=compute.max_runtime_seconds),
        output_data_config=OutputDataConfig(s3_output_path=ctx.output_uri(step_name, "model"),
                                            kms_key_id=job_kms_key(ctx, step_name)),
        networking=trainer_networking(ctx, step_name),
        hyperparameters=trainer_hyperparameters(ctx),
        tags=ctx.tag_shapes(),
    )
    if ctx.settings.uses_script:
        trainer.with_metric_definitions([MetricDefinition(name=d.name, regex=d.regex)
                                         for d in ctx.settings.script.metric_definitions])
    return trainer


def evaluate_step(ctx: BuildContext, preprocess: Any, fitted: FittedModel) -> tuple[Any, Any]:
    """Score the test split, write evaluation.json (all metrics) and result.json (the registration decision).

    Script mode: in the framework image, with the script's own serving functions (model_fn, predict_fn) from its
    source archive, so the registry's metrics are computed the same way for every model, and a model that its
    code cannot load is never registered."""
    result = result_property_file(Step.EVALUATE)
    script_inputs, script_arguments = [], []
    if ctx.settings.uses_script:
        code_input = contracts.SCRIPT_CODE_INPUT
        script_inputs = [s3_input(code_input, ctx.source_uri, f"input/{code_input}")]
        script_arguments = ["--entry-point", ctx.settings.script.program, "--framework", ctx.settings.script.framework]
    step = processing_step(
        ctx, Step.EVALUATE, script="evaluate.py", image_uri=ctx.model_image,
        inputs=[s3_input("model", fitted.model_data_uri, "input/model"),
                s3_input("test", processing_output_uri(preprocess, "test"), "input/test"), *script_inputs],
        outputs=[step_output(ctx, Step.EVALUATE, "evaluation"), result_output(ctx, Step.EVALUATE)],
        arguments=[*gate_arguments(ctx.settings.model), "--threshold", ctx.threshold.to_string(), *script_arguments],
        property_files=[result],
    )
    return step, result


def evaluation_uri(evaluate: Any) -> Any:
    from sagemaker.core.workflow.functions import Join

    return Join(on="/", values=[processing_output_uri(evaluate, "evaluation"), OutputFile.EVALUATION])


def register_step(ctx: BuildContext, preprocess: Any, baseline: DataQualityStep, fitted: FittedModel,
                  evaluate: Any) -> Any:
    """Register as PendingManualApproval with metrics, drift-check baselines and the preprocessing artefact."""
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.metadata_properties import MetadataProperties
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.serve.model_builder import ModelBuilder

    def json_source(uri: Any) -> Any:
        return MetricsSource(content_type="application/json", s3_uri=uri)

    metrics = ModelMetrics(
        model_statistics=json_source(evaluation_uri(evaluate)),
        model_data_statistics=json_source(baseline.calculated_statistics),
        model_data_constraints=json_source(baseline.calculated_constraints),
    )
    drift_baselines = DriftCheckBaselines(
        model_data_statistics=json_source(baseline.drift_check_statistics),
        model_data_constraints=json_source(baseline.drift_check_constraints),
    )
    # CustomerMetadataProperties values: 1-256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@] (CreateModelPackage,
    # botocore sagemaker service-2.json CustomerMetadataValue). Only values built from the configuration, never
    # from the triggering S3 key (any character, up to 1024 bytes): the training data is traced through the
    # execution (MetadataProperties.GeneratedBy; its InputBucket/InputKey parameters hold the full location).
    metadata_properties = {
        "PreprocessingArtefact": Join(on="/", values=[processing_output_uri(preprocess, "preprocessing"),
                                                      OutputFile.PREPROCESSING]),
        "CodeVersion": code_version(),
        "SemanticVersion": metadata.version("batchops"),
    }
    compute = ctx.settings.compute
    # dependencies={}: the SDK's default ({"auto": True}) adds script-mode keys with empty values
    # (SAGEMAKER_PROGRAM=""), and the XGBoost container then imports the module "" and fails. Script mode states
    # its code itself: the package's container carries the framework image and SAGEMAKER_PROGRAM /
    # SAGEMAKER_SUBMIT_DIRECTORY, so the version can be served anywhere.
    builder = ModelBuilder(image_uri=ctx.model_image, s3_model_data_url=fitted.model_data_uri,
                           role_arn=ctx.role_arn, sagemaker_session=ctx.session, dependencies={},
                           **({"env_vars": script_environment(ctx)} if ctx.settings.uses_script else {}))
    step_args = builder.register(
        model_package_group_name=ctx.settings.pipelines.model_package_group,
        content_types=[CSV], response_types=[CSV],
        inference_instances=[compute.transform_instance_type], transform_instances=[compute.transform_instance_type],
        model_metrics=metrics, drift_check_baselines=drift_baselines,
        approval_status="PendingManualApproval", customer_metadata_properties=metadata_properties,
        metadata_properties=MetadataProperties(generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN),
    )
    return ModelStep(name=Step.REGISTER_MODEL, step_args=step_args)


def result_field(step: Any, result: Any, field: str) -> Any:
    """One field of a deciding step's result.json (see batchops_core.results.StepResult)."""
    from sagemaker.core.workflow.functions import JsonGet

    return JsonGet(step_name=step.name, property_file=result, json_path=field)


def gate_failure_message(step: Any, result: Any, opening: str) -> Any:
    """'<opening> rmse = 3.4 on 270 rows; the gate is rmse <= 3.0', every value read from result.json."""
    from sagemaker.core.workflow.functions import Join

    def get(field: str) -> Any:
        return result_field(step, result, field)

    return Join(on="", values=[opening, " ", get("metric"), " = ", get("value"), " on ", get("counts.rows"),
                               " rows; the gate is ", get("metric"), " ", get("comparison"), " ", get("threshold")])


def metric_gate(ctx: BuildContext, result: Any, evaluate: Any, register: Any) -> Any:
    """Register when Evaluate's outcome is passed (the registry's rule, applied once, in the script), else fail
    naming metric, value and the threshold the run used."""
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep

    condition = ConditionEquals(left=result_field(evaluate, result, "outcome"), right=results.PASSED)
    fail = FailStep(name=Step.METRIC_ABOVE_THRESHOLD,
                    error_message=gate_failure_message(evaluate, result, "Model not registered: test"))
    return ConditionStep(name=Step.CHECK_METRIC, conditions=[condition], if_steps=[register], else_steps=[fail])


def build_training_pipeline(ctx: BuildContext, fit_model: ModelFitting, *, with_feedback: bool) -> Any:
    from sagemaker.mlops.workflow.pipeline import Pipeline

    preprocess = training_preprocess_step(ctx, with_feedback=with_feedback)
    # One instance for the built-in engine: the dataset is the one file (the training split) Preprocess writes.
    baseline = data_quality_step(ctx, Step.DATA_QUALITY_BASELINE, processing_output_uri(preprocess, "baseline"))
    fitted = fit_model(ctx, preprocess, baseline.step)
    evaluate, result = evaluate_step(ctx, preprocess, fitted)
    register = register_step(ctx, preprocess, baseline, fitted, evaluate)
    gate = metric_gate(ctx, result, evaluate, register)
    # No SageMaker Experiments integration: it needs permissions the least-privilege role does not grant.
    return Pipeline(name=ctx.pipeline_name, parameters=ctx.parameters, sagemaker_session=ctx.session,
                    steps=[preprocess, baseline.step, fitted.step, evaluate, gate], pipeline_experiment_config=None)
