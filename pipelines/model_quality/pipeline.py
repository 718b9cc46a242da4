"""Model-quality builder: ground truth dropped after its batch was scored -> ModelQualityCheck ->
CheckModelQuality -> (ModelQualityViolated).

The parameters InputBucket/InputKey name the dropped ground-truth object (the EventBridge rule on the ground-truth
prefix fills them). The check finds the batch's stored predictions through the index its inference run wrote
(`<outputs>/batches/...`, batchops_core.contracts.batch_index_key) and reads them with S3 calls: a processing
input's location is fixed when the pipeline is defined. The step names are the inference pipeline's, so the
retraining rule and the notification rules match a violation of either pipeline by name.
"""

from __future__ import annotations

from typing import Any

from batchops_core.contracts import Step
from pipelines.common.context import BuildContext
from pipelines.common.processing import (
    processing_step,
    result_output,
    result_property_file,
    s3_input,
    s3_output,
    step_output,
)
from pipelines.inference.pipeline import model_quality_arguments, model_quality_gate


def late_model_quality_step(ctx: BuildContext) -> tuple[Any, Any]:
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join

    feedback_uri = Join(on="/", values=[ctx.feedback_prefix_uri.rstrip("/"), ExecutionVariables.PIPELINE_EXECUTION_ID])
    result = result_property_file(Step.MODEL_QUALITY_CHECK)
    step = processing_step(
        ctx, Step.MODEL_QUALITY_CHECK, script="model_quality.py", image_uri=ctx.sklearn_image,
        # The dropped object: the script reads its location from processingjobconfig.json (a key can outgrow an
        # argument) and all of the batch's labels with S3 calls.
        inputs=[s3_input("ground_truth", ctx.input_data_uri, "input/ground_truth")],
        outputs=[step_output(ctx, Step.MODEL_QUALITY_CHECK, "report"), s3_output("feedback", feedback_uri),
                 result_output(ctx, Step.MODEL_QUALITY_CHECK)],
        arguments=[*model_quality_arguments(ctx), "--mode", "late"],
        with_schema=True, property_files=[result], calls_aws=True,  # the batch's stored predictions and labels
    )
    return step, result


def build(ctx: BuildContext) -> Any:
    from sagemaker.mlops.workflow.pipeline import Pipeline

    quality, result = late_model_quality_step(ctx)
    return Pipeline(name=ctx.pipeline_name, parameters=ctx.parameters, sagemaker_session=ctx.session,
                    steps=[quality, model_quality_gate(quality, result)], pipeline_experiment_config=None)
