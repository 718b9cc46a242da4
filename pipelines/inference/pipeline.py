"""Batch-inference builder: ResolveModel -> Preprocess -> CreateModel -> DataQualityCheck -> BatchTransform ->
PublishPredictions, and BatchTransform -> ModelQualityCheck -> CheckModelQuality -> (ModelQualityViolated).

The model version is resolved when the pipeline runs (never baked in at upsert time): `ResolveModel` writes
`model.json`, and later steps read image, model data, preprocessing artefact and baselines from it with JsonGet.
`ModelQualityCheck` succeeds whenever it could evaluate and writes its result.json (passed / failed / skipped);
`CheckModelQuality` routes outcome `failed` to the Fail step `ModelQualityViolated` (the retraining rule's match).
On AWS a failed processing job uploads no outputs: deciding in a Condition step keeps the result readable.
"""

from __future__ import annotations

from typing import Any

from batchops_core import contracts, metrics, results
from batchops_core.contracts import OutputFile, Step
from pipelines.common.context import BuildContext
from pipelines.common.network import job_kms_key, model_networking
from pipelines.common.processing import (
    class_arguments,
    gate_arguments,
    processing_step,
    result_output,
    result_property_file,
    s3_input,
    s3_output,
    step_output,
)
from pipelines.common.quality_steps import data_quality_step
from pipelines.common.training import CSV, gate_failure_message, processing_output_uri, result_field


def active_model_parameter(ctx: BuildContext) -> str:
    return contracts.active_model_parameter(ctx.settings.project, ctx.settings.environment)


def resolve_model_step(ctx: BuildContext) -> tuple[Any, Any]:
    from sagemaker.core.workflow.properties import PropertyFile

    model_file = PropertyFile(name="ResolvedModel", output_name="model", path=OutputFile.RESOLVED_MODEL)
    step = processing_step(
        ctx, Step.RESOLVE_MODEL, script="resolve_model.py", image_uri=ctx.sklearn_image, inputs=[],
        outputs=[step_output(ctx, Step.RESOLVE_MODEL, "model"), result_output(ctx, Step.RESOLVE_MODEL)],
        property_files=[model_file], calls_aws=True,  # the model registry and the active-model parameter
        arguments=["--model-package-group", ctx.settings.model_package_group_ref,
                   "--active-model-parameter", active_model_parameter(ctx), "--region", ctx.region,
                   *(["--script-mode"] if ctx.settings.uses_script else [])],
    )
    return step, model_file


def inference_preprocess_step(ctx: BuildContext, resolved: Any) -> Any:
    """Apply the model version's saved preprocessing (never refit): transform input and data-quality input; and
    the version's baseline constraints with the configured drift settings (what the check compares with)."""
    quality = ctx.settings.data_quality
    return processing_step(
        ctx, Step.PREPROCESS, script="preprocess.py", image_uri=ctx.sklearn_image,
        inputs=[s3_input("data", ctx.input_data_uri, "input/data"),
                s3_input("preprocessing", resolved("PreprocessingArtefact"), "input/preprocessing"),
                s3_input("baseline_constraints", resolved("BaselineConstraints"), "input/baseline_constraints")],
        outputs=[step_output(ctx, Step.PREPROCESS, name) for name in ("transform", "dataquality", "constraints")],
        arguments=["--mode", "transform", "--comparison-threshold", str(quality.comparison_threshold),
                   "--comparison-method", quality.comparison_method,
                   "--categorical-drift-method", quality.categorical_drift_method, *ctx.dataset_arguments,
                   *ctx.label_arguments],
        with_schema=True, instance_count=ctx.settings.compute.processing_instance_count,  # splits by file
    )


def create_model_step(ctx: BuildContext, resolved: Any) -> Any:
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.serve.model_builder import ModelBuilder

    # Script mode: the resolved version's own code (image and code travel together in the model package).
    code = ({"env_vars": {contracts.SCRIPT_PROGRAM_ENVIRONMENT: resolved("Program"),
                          contracts.SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT: resolved("SubmitDirectory")}}
            if ctx.settings.uses_script else {})
    builder = ModelBuilder(image_uri=resolved("ImageUri"), s3_model_data_url=resolved("ModelDataUrl"),
                           role_arn=ctx.role_arn, sagemaker_session=ctx.session,
                           network=model_networking(ctx, Step.CREATE_MODEL), **code)
    return ModelStep(name=Step.CREATE_MODEL, step_args=builder.build())


def batch_transform_step(ctx: BuildContext, create_model: Any, preprocess: Any, check: Any) -> Any:
    """Score `key, features...` rows: send only the features, keep `key,prediction` per line."""
    from sagemaker.core.transformer import Transformer
    from sagemaker.mlops.workflow.steps import TransformStep

    compute = ctx.settings.compute
    transformer = Transformer(
        model_name=create_model.properties.ModelName,
        instance_count=compute.transform_instance_count,
        instance_type=compute.transform_instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept=CSV,
        output_path=ctx.output_uri(Step.BATCH_TRANSFORM, "predictions"),
        base_transform_job_name=ctx.job_name_base(Step.BATCH_TRANSFORM),
        sagemaker_session=ctx.session,
        tags=ctx.tags(),
        volume_kms_key=job_kms_key(ctx, Step.BATCH_TRANSFORM),
        output_kms_key=job_kms_key(ctx, Step.BATCH_TRANSFORM),
    )
    step_args = transformer.transform(
        data=processing_output_uri(preprocess, "transform"), content_type=CSV, split_type="Line",
        input_filter="$[1:]", join_source="Input", output_filter=prediction_filter(ctx.settings.model),
    )
    return TransformStep(name=Step.BATCH_TRANSFORM, step_args=step_args, depends_on=[check])


def prediction_filter(model: Any) -> str:
    """The transform's OutputFilter: the record key and the prediction's CSV fields, the last one (a probability
    or a number) or, for multiclass, the last num_class ones (the container writes `[p0, p1, ...]`, whose commas
    make one field per class)."""
    fields = len(model.classes) if model.problem == metrics.MULTICLASS else 1
    return "$[0," + ",".join(str(-index) for index in range(fields, 0, -1)) + "]"


def label_predictions_step(ctx: BuildContext, transform: Any) -> Any:
    """Classification: the predictions with the class labels and probabilities, as people read them."""
    return processing_step(
        ctx, Step.LABEL_PREDICTIONS, script="label_predictions.py", image_uri=ctx.sklearn_image,
        inputs=[s3_input("predictions", transform.properties.TransformOutput.S3OutputPath, "input/predictions")],
        outputs=[step_output(ctx, Step.LABEL_PREDICTIONS, "predictions")],
        arguments=class_arguments(ctx.settings.model), with_schema=True,
    )


def publish_predictions_step(ctx: BuildContext, transform: Any, resolved: Any, labelled: Any | None) -> Any:
    """The batch's predictions as one CSV with a header under the results prefix, mirroring the batch's key; then
    the results-ready event. After BatchTransform only: a batch stopped by the data-quality gate is not published.
    A classification model's predictions are published as LabelPredictions wrote them (labels, probabilities)."""
    from sagemaker.core.workflow.execution_variables import ExecutionVariables

    settings = ctx.settings
    predictions_uri = (transform.properties.TransformOutput.S3OutputPath if labelled is None else
                       labelled.properties.ProcessingOutputConfig.Outputs["predictions"].S3Output.S3Uri)
    return processing_step(
        ctx, Step.PUBLISH_PREDICTIONS, script="publish_predictions.py", image_uri=ctx.sklearn_image,
        # The batch location comes from the `data` input (processingjobconfig.json), never an argument.
        inputs=[s3_input("predictions", predictions_uri, "input/predictions"),
                s3_input("data", ctx.input_data_uri, "input/data")],
        outputs=[result_output(ctx, Step.PUBLISH_PREDICTIONS)],
        arguments=["--inference-prefix", settings.prefixes.inference, "--results-prefix", settings.prefixes.results,
                   *ctx.dataset_arguments, "--model-package-arn", resolved("ModelPackageArn"),
                   "--execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN,
                   *(["--labelled"] if labelled is not None else [])],
        with_schema=True, calls_aws=True,  # S3 for the results, EventBridge for the results-ready event
    )


def model_quality_step(ctx: BuildContext, transform: Any) -> tuple[Any, Any]:
    """Join predictions with the batch's ground truth by record key; write the outcome, report and feedback.

    Succeeds whenever it could evaluate (a violation included); bad input still fails it."""
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join

    feedback_uri = Join(on="/", values=[ctx.feedback_prefix_uri.rstrip("/"), ExecutionVariables.PIPELINE_EXECUTION_ID])
    result = result_property_file(Step.MODEL_QUALITY_CHECK)
    step = processing_step(
        ctx, Step.MODEL_QUALITY_CHECK, script="model_quality.py", image_uri=ctx.sklearn_image,
        inputs=[s3_input("predictions", transform.properties.TransformOutput.S3OutputPath, "input/predictions"),
                s3_input("data", ctx.input_data_uri, "input/data")],
        outputs=[step_output(ctx, Step.MODEL_QUALITY_CHECK, "report"), s3_output("feedback", feedback_uri),
                 result_output(ctx, Step.MODEL_QUALITY_CHECK)],
        # The batch location comes from the `data` input (the script reads processingjobconfig.json), never an
        # argument: an S3 key may be 1,024 bytes, a ContainerArguments item at most 256 characters.
        arguments=[*model_quality_arguments(ctx),
                   "--execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN],
        with_schema=True, property_files=[result], calls_aws=True,  # reads the batch's labels with S3 calls
    )
    return step, result


def model_quality_arguments(ctx: BuildContext) -> list[Any]:
    """What both model-quality checks (this run's predictions, or a batch's stored ones) are told."""
    settings = ctx.settings
    return ["--inference-prefix", settings.prefixes.inference, "--ground-truth-prefix", settings.prefixes.ground_truth,
            *gate_arguments(settings.model), "--threshold", ctx.threshold.to_string(), *ctx.dataset_arguments,
            "--outputs", settings.s3_uri("outputs")]


def model_quality_gate(quality: Any, result: Any) -> Any:
    """Outcome `failed` -> the Fail step naming metric, value and the threshold the run used; else nothing."""
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep

    fail = FailStep(name=Step.MODEL_QUALITY_VIOLATED,
                    error_message=gate_failure_message(quality, result, "Model quality violated:"))
    condition = ConditionEquals(left=result_field(quality, result, "outcome"), right=results.FAILED)
    return ConditionStep(name=Step.CHECK_MODEL_QUALITY, conditions=[condition], if_steps=[fail], else_steps=[])


def build(ctx: BuildContext) -> Any:
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.mlops.workflow.pipeline import Pipeline

    resolve, model_file = resolve_model_step(ctx)

    def resolved(field: str) -> Any:
        return JsonGet(step_name=resolve.name, property_file=model_file, json_path=field)

    preprocess = inference_preprocess_step(ctx, resolved)
    create_model = create_model_step(ctx, resolved)
    from sagemaker.core.workflow.functions import Join

    # The version's constraints with the configured drift settings, written by Preprocess (both engines).
    constraints = Join(on="/", values=[processing_output_uri(preprocess, "constraints"), OutputFile.CONSTRAINTS])
    check = data_quality_step(
        ctx, Step.DATA_QUALITY_CHECK, processing_output_uri(preprocess, "dataquality"),
        baseline_statistics=resolved("BaselineStatistics"), baseline_constraints=constraints,
        fail_on_violation=ctx.settings.data_quality.on_drift == "fail",
        dataset_in_parts=True,  # Preprocess writes the data-quality input file by file
    )
    transform = batch_transform_step(ctx, create_model, preprocess, check.step)
    labelled = label_predictions_step(ctx, transform) if ctx.settings.model.is_classification else None
    publish = publish_predictions_step(ctx, transform, resolved, labelled)
    quality, result = model_quality_step(ctx, transform)
    gate = model_quality_gate(quality, result)
    # No SageMaker Experiments integration: it needs permissions the least-privilege role does not grant.
    return Pipeline(name=ctx.pipeline_name, parameters=ctx.parameters, sagemaker_session=ctx.session,
                    steps=[resolve, preprocess, create_model, *check.steps, transform,
                           *([labelled] if labelled is not None else []), publish, quality, gate],
                    pipeline_experiment_config=None)
