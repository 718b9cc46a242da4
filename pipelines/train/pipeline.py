"""Training pipeline builder: Preprocess -> DataQualityBaseline -> Train -> Evaluate -> CheckMetric -> register."""

from __future__ import annotations

from typing import Any

from batchops_core.contracts import Step
from pipelines.common.context import BuildContext
from pipelines.common.training import FittedModel, build_training_pipeline, model_trainer, training_channels


def train_step(ctx: BuildContext, preprocess: Any, baseline: Any) -> FittedModel:
    from sagemaker.mlops.workflow.steps import TrainingStep

    step_args = model_trainer(ctx, Step.TRAIN).train(input_data_config=training_channels(preprocess))
    step = TrainingStep(name=Step.TRAIN, step_args=step_args, depends_on=[baseline])
    return FittedModel(step, step.properties.ModelArtifacts.S3ModelArtifacts)


def build(ctx: BuildContext) -> Any:
    return build_training_pipeline(ctx, train_step, with_feedback=False)
