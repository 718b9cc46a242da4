"""Training-with-HPO builder: as the training pipeline, with `Tune` (a tuning job) in place of `Train`.

Its Preprocess also folds in the labelled batches the inference pipeline leaves under `<outputs>/feedback/`.
"""

from __future__ import annotations

from typing import Any

from batchops_core import metrics
from batchops_core.contracts import Step
from pipelines.common.context import BuildContext
from pipelines.common.training import FittedModel, build_training_pipeline, model_trainer, training_channels


def hyperparameter_ranges(ctx: BuildContext) -> dict[str, Any]:
    from sagemaker.core.parameter import ContinuousParameter, IntegerParameter

    ranges: dict[str, Any] = {}
    for spec in ctx.settings.hpo.ranges:
        if spec.type == "integer":
            ranges[spec.name] = IntegerParameter(int(spec.min), int(spec.max), scaling_type=spec.scaling)
        else:
            ranges[spec.name] = ContinuousParameter(spec.min, spec.max, scaling_type=spec.scaling)
    return ranges


def secured_tuner_class() -> type:
    """The SDK's tuner, carrying the trainer's volume key, network isolation and inter-container encryption into
    the training job definition: its own definition keeps only the VpcConfig of the trainer's Networking."""
    from sagemaker.train.tuner import HyperparameterTuner

    class SecuredHyperparameterTuner(HyperparameterTuner):
        def _build_training_job_definition(self, inputs: Any) -> Any:
            definition = super()._build_training_job_definition(inputs)
            trainer = self.model_trainer
            if trainer.compute.volume_kms_key_id:
                definition.resource_config.volume_kms_key_id = trainer.compute.volume_kms_key_id
            networking = trainer.networking
            definition.enable_network_isolation = bool(networking.enable_network_isolation)
            definition.enable_inter_container_traffic_encryption = bool(
                networking.enable_inter_container_traffic_encryption)
            return definition

    return SecuredHyperparameterTuner


def tune_step(ctx: BuildContext, preprocess: Any, baseline: Any) -> FittedModel:
    from sagemaker.mlops.workflow.steps import TuningStep

    hpo = ctx.settings.hpo
    try:
        objective = metrics.tuning_objective(hpo.objective_metric, ctx.settings.model.problem)
    except metrics.MetricError as error:
        raise ValueError(f"hpo.objective_metric: {error}") from None
    trainer = model_trainer(ctx, Step.TUNE)
    tuned = {spec.name for spec in hpo.ranges}
    # Tuned hyperparameters must not also be static ones.
    trainer.hyperparameters = {k: v for k, v in trainer.hyperparameters.items() if k not in tuned}
    # Script mode: the objective is read from the job's log with the script's MetricDefinitions (the built-in
    # algorithm defines its own metrics).
    script_metrics = ({"metric_definitions": [{"Name": d.name, "Regex": d.regex}
                                              for d in ctx.settings.script.metric_definitions]}
                      if ctx.settings.uses_script else {})
    tuner = secured_tuner_class()(
        model_trainer=trainer,
        objective_metric_name=hpo.objective_metric,
        objective_type="Maximize" if objective.higher_is_better else "Minimize",
        **script_metrics,
        hyperparameter_ranges=hyperparameter_ranges(ctx),
        strategy=hpo.strategy,
        max_jobs=hpo.max_jobs,
        max_parallel_jobs=hpo.max_parallel_jobs,
        random_seed=ctx.settings.model.split_seed,  # the same data and config pick the same candidates
    )
    # Channels go to tune(), not to the trainer: the tuner rejects trainer-level channels.
    step = TuningStep(name=Step.TUNE, step_args=tuner.tune(inputs=training_channels(preprocess)), depends_on=[baseline])
    # The best job's model: S3OutputPath/<job name>/output/model.tar.gz, S3OutputPath as in model_trainer.
    model_uri = step.get_top_model_s3_uri(top_k=0, s3_bucket=ctx.settings.bucket,
                                          prefix=ctx.output_key_prefix(Step.TUNE, "model"))
    return FittedModel(step, model_uri)


def build(ctx: BuildContext) -> Any:
    return build_training_pipeline(ctx, tune_step, with_feedback=True)
