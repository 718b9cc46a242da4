"""Data-quality steps in both engine variants: the Model Monitor analyzer (QualityCheckStep) or the product's
own engine (`data_quality.py`) as a ProcessingStep with the same inputs, outputs and environment keys.

On several processing instances the analyzer's Spark cluster spreads one job itself; the built-in engine runs a
shards step (each instance profiles its share of the dataset) and the step itself merging the partial profiles.

`DataQualityStep` gives builders one shape for both: the step plus the S3 URIs registration needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batchops_core import contracts
from pipelines.common.context import PROCESSING_BASE, BuildContext
from pipelines.common.network import processing_kwargs
from pipelines.common.processing import SHARDED_BY_S3_KEY, processing_step, result_output, s3_input, s3_output

ANALYZER_INPUT = "baseline_dataset_input"
ANALYZER_OUTPUT = contracts.QUALITY_CHECK_OUTPUT
PARTIALS_OUTPUT = "partials"  # the shards step's output and the merging step's input: one profile per instance
# The header convention of every data-quality dataset: raw feature columns in schema order, with a header row.
DATASET_FORMAT = {"csv": {"header": True, "output_columns_position": "START"}}


@dataclass
class DataQualityStep:
    step: Any  # the step whose outputs are the reports (what later steps depend on)
    calculated_statistics: Any
    calculated_constraints: Any
    drift_check_statistics: Any
    drift_check_constraints: Any
    steps: list[Any]  # every step to put in the pipeline: `step`, after its shards step on several instances


def data_quality_step(ctx: BuildContext, name: str, dataset: Any, *, baseline_statistics: Any = None,
                      baseline_constraints: Any = None, fail_on_violation: bool = False,
                      depends_on: list[Any] | None = None, dataset_in_parts: bool = False) -> DataQualityStep:
    """A baseline run (no supplied baseline: computes and registers a new one) or a check against one.
    `dataset_in_parts`: the dataset is a folder of part files that ShardedByS3Key can spread over the processing
    instances (the built-in engine then scales out); a single object would leave all but one instance idle."""
    if (baseline_statistics is None) != (baseline_constraints is None):
        raise ValueError("give both baseline statistics and constraints, or neither")
    if ctx.settings.data_quality.engine == "model_monitor":
        return _analyzer_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation,
                              depends_on)
    instance_count = ctx.settings.compute.processing_instance_count if dataset_in_parts else 1
    return _builtin_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation,
                         depends_on, instance_count)


def _drift_env(ctx: BuildContext) -> dict[str, str]:
    """Drift settings for the built-in engine's baseline run, which writes them into its constraints.json.

    The Model Monitor analyzer reads them from constraints.json (monitoring_config) only, never from its environment:
    a check of either engine gets them there, from the inference Preprocess (pipelines/inference/pipeline.py)."""
    quality = ctx.settings.data_quality
    return {"categorical_drift_method": quality.categorical_drift_method,
            "comparison_threshold": str(quality.comparison_threshold),
            "comparison_method": quality.comparison_method}


def _quality_check_step_class() -> type:
    """The SDK's QualityCheckStep with its NetworkConfig as the request's JSON object: the SDK puts the
    NetworkConfig instance itself into the request, which the definition cannot serialise."""
    from sagemaker.mlops.workflow.quality_check_step import QualityCheckStep

    class NetworkedQualityCheckStep(QualityCheckStep):
        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            network = request.get("NetworkConfig")
            if network is not None and not isinstance(network, dict):
                request["NetworkConfig"] = network._to_request_dict()
            return request

    return NetworkedQualityCheckStep


def _analyzer_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation, depends_on):
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
    from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig

    compute = ctx.settings.compute
    check_job = CheckJobConfig(
        role=ctx.role_arn, instance_count=compute.processing_instance_count,
        instance_type=compute.processing_instance_type, volume_size_in_gb=compute.volume_size_gb,
        max_runtime_in_seconds=compute.max_runtime_seconds, base_job_name=ctx.job_name_base(name),
        sagemaker_session=ctx.session, tags=ctx.tags(), **processing_kwargs(ctx, name),
    )
    csv = DATASET_FORMAT["csv"]
    config = DataQualityCheckConfig(
        baseline_dataset=dataset,
        dataset_format=DatasetFormat.csv(header=csv["header"], output_columns_position=csv["output_columns_position"]),
        output_s3_uri=ctx.output_uri(name, ANALYZER_OUTPUT),
    )
    is_baseline = baseline_statistics is None
    step = _quality_check_step_class()(
        name=name, quality_check_config=config, check_job_config=check_job,
        skip_check=is_baseline, register_new_baseline=is_baseline, fail_on_violation=fail_on_violation,
        model_package_group_name=ctx.settings.pipelines.model_package_group,
        supplied_baseline_statistics=baseline_statistics, supplied_baseline_constraints=baseline_constraints,
        depends_on=depends_on,
    )
    properties = step.properties
    return DataQualityStep(step, properties.CalculatedBaselineStatistics, properties.CalculatedBaselineConstraints,
                           properties.BaselineUsedForDriftCheckStatistics,
                           properties.BaselineUsedForDriftCheckConstraints, [step])


def _builtin_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation, depends_on,
                  instance_count):
    """One processing step on one instance; on several, a shards step that
    profiles each instance's share of the dataset (ShardedByS3Key) and this step on one instance merging the
    shares' partial profiles into the same reports, at the same places (data_quality.py, PartialProfiles): a
    processing job's instances cannot wait for each other, so the merge is a step of its own."""
    from sagemaker.core.workflow.functions import Join

    output_uri = ctx.output_uri(name, ANALYZER_OUTPUT)
    analysis_env = {"dataset_format": json.dumps(DATASET_FORMAT), **_drift_env(ctx)}
    if ctx.data_quality_label_column:  # its class balance, not a feature (data_quality.py)
        analysis_env["label_column"] = ctx.data_quality_label_column
    baseline_inputs = []
    if baseline_statistics is not None:
        # Supplied baselines are single objects; each lands in its folder under its own file name.
        baseline_inputs = [s3_input("baseline_statistics", baseline_statistics, "baseline/statistics"),
                           s3_input("baseline_constraints", baseline_constraints, "baseline/constraints")]
        analysis_env["baseline_statistics"] = f"{PROCESSING_BASE}/baseline/statistics/statistics.json"
        analysis_env["baseline_constraints"] = f"{PROCESSING_BASE}/baseline/constraints/constraints.json"
    dataset_dir = f"{PROCESSING_BASE}/input/{ANALYZER_INPUT}"
    if instance_count == 1:
        inputs = [s3_input(ANALYZER_INPUT, dataset, f"input/{ANALYZER_INPUT}"), *baseline_inputs]
        source_env = {"dataset_source": dataset_dir}
    else:
        shards = _shards_step(ctx, name, dataset, analysis_env, baseline_inputs, instance_count, depends_on)
        partials_uri = shards.properties.ProcessingOutputConfig.Outputs[PARTIALS_OUTPUT].S3Output.S3Uri
        inputs = [s3_input(PARTIALS_OUTPUT, partials_uri, f"input/{PARTIALS_OUTPUT}"), *baseline_inputs]
        source_env = {"partials_source": f"{PROCESSING_BASE}/input/{PARTIALS_OUTPUT}"}
        depends_on = None  # the partials input refers to the shards step, which runs after `depends_on`
    env = {
        **source_env,
        "output_path": f"{PROCESSING_BASE}/output",
        "fail_on_violation": "true" if fail_on_violation else "false",
        "publish_cloudwatch_metrics": "Disabled",
        **analysis_env,
    }
    outputs = [s3_output(ANALYZER_OUTPUT, output_uri, f"{PROCESSING_BASE}/output")]
    if baseline_statistics is not None:  # a check decides: it writes result.json (passed / warning / failed)
        result_dir = f"{PROCESSING_BASE}/{contracts.STEP_RESULT_OUTPUT}"  # beside, not inside, the reports' folder
        env["step_name"] = name
        env["step_result_path"] = f"{result_dir}/{contracts.OutputFile.STEP_RESULT}"
        outputs.append(result_output(ctx, name, result_dir))
    step = processing_step(ctx, name, script="data_quality.py", image_uri=ctx.sklearn_image, inputs=inputs,
                           outputs=outputs, env=env, depends_on=depends_on)
    steps = [step] if instance_count == 1 else [shards, step]
    statistics = Join(on="/", values=[output_uri, contracts.OutputFile.STATISTICS])
    constraints = Join(on="/", values=[output_uri, contracts.OutputFile.CONSTRAINTS])
    if baseline_statistics is None:
        return DataQualityStep(step, statistics, constraints, statistics, constraints, steps)
    return DataQualityStep(step, statistics, constraints, baseline_statistics, baseline_constraints, steps)


def _shards_step(ctx, name, dataset, analysis_env, baseline_inputs, instance_count, depends_on):
    """The step profiling each instance's share of the dataset: every instance writes its partial profile as
    <current_host>.json under the one `partials` output (no two instances write the same file)."""
    shards_name = contracts.SHARDS_STEPS[name]
    partials_dir = f"{PROCESSING_BASE}/{PARTIALS_OUTPUT}"
    env = {"dataset_source": f"{PROCESSING_BASE}/input/{ANALYZER_INPUT}", "partial_output": partials_dir,
           "publish_cloudwatch_metrics": "Disabled", **analysis_env}
    inputs = [s3_input(ANALYZER_INPUT, dataset, f"input/{ANALYZER_INPUT}", distribution=SHARDED_BY_S3_KEY),
              *baseline_inputs]  # a check's shards count the baseline's categories and domains exactly
    outputs = [s3_output(PARTIALS_OUTPUT, ctx.output_uri(shards_name, PARTIALS_OUTPUT), partials_dir)]
    return processing_step(ctx, shards_name, script="data_quality.py", image_uri=ctx.sklearn_image, inputs=inputs,
                           outputs=outputs, env=env, depends_on=depends_on, instance_count=instance_count)
