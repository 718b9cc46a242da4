"""Data-quality steps in both engine variants: the Model Monitor analyzer (QualityCheckStep) or the product's
own engine (`data_quality.py`) as a ProcessingStep with the same inputs, outputs and environment keys.

`DataQualityStep` gives builders one shape for both: the step plus the S3 URIs registration needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batchops_core import contracts
from pipelines.common.context import PROCESSING_BASE, BuildContext
from pipelines.common.network import processing_kwargs
from pipelines.common.processing import processing_step, result_output, s3_input, s3_output

ANALYZER_INPUT = "baseline_dataset_input"
ANALYZER_OUTPUT = contracts.QUALITY_CHECK_OUTPUT
# The header convention of every data-quality dataset: raw feature columns in schema order, with a header row.
DATASET_FORMAT = {"csv": {"header": True, "output_columns_position": "START"}}


@dataclass
class DataQualityStep:
    step: Any
    calculated_statistics: Any
    calculated_constraints: Any
    drift_check_statistics: Any
    drift_check_constraints: Any


def data_quality_step(ctx: BuildContext, name: str, dataset: Any, *, baseline_statistics: Any = None,
                      baseline_constraints: Any = None, fail_on_violation: bool = False,
                      depends_on: list[Any] | None = None) -> DataQualityStep:
    """A baseline run (no supplied baseline: computes and registers a new one) or a check against one."""
    if (baseline_statistics is None) != (baseline_constraints is None):
        raise ValueError("give both baseline statistics and constraints, or neither")
    if ctx.settings.data_quality.engine == "model_monitor":
        return _analyzer_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation,
                              depends_on)
    return _builtin_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation,
                         depends_on)


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
                           properties.BaselineUsedForDriftCheckConstraints)


def _builtin_step(ctx, name, dataset, baseline_statistics, baseline_constraints, fail_on_violation, depends_on):
    from sagemaker.core.workflow.functions import Join

    output_uri = ctx.output_uri(name, ANALYZER_OUTPUT)
    env = {
        "dataset_source": f"{PROCESSING_BASE}/input/{ANALYZER_INPUT}",
        "output_path": f"{PROCESSING_BASE}/output",
        "dataset_format": json.dumps(DATASET_FORMAT),
        "fail_on_violation": "true" if fail_on_violation else "false",
        "publish_cloudwatch_metrics": "Disabled",
        **_drift_env(ctx),
    }
    if ctx.data_quality_label_column:  # its class balance, not a feature (data_quality.py)
        env["label_column"] = ctx.data_quality_label_column
    inputs = [s3_input(ANALYZER_INPUT, dataset, f"input/{ANALYZER_INPUT}")]
    if baseline_statistics is not None:
        # Supplied baselines are single objects; each lands in its folder under its own file name.
        inputs += [s3_input("baseline_statistics", baseline_statistics, "baseline/statistics"),
                   s3_input("baseline_constraints", baseline_constraints, "baseline/constraints")]
        env["baseline_statistics"] = f"{PROCESSING_BASE}/baseline/statistics/statistics.json"
        env["baseline_constraints"] = f"{PROCESSING_BASE}/baseline/constraints/constraints.json"
    outputs = [s3_output(ANALYZER_OUTPUT, output_uri, f"{PROCESSING_BASE}/output")]
    if baseline_statistics is not None:  # a check decides: it writes result.json (passed / warning / failed)
        result_dir = f"{PROCESSING_BASE}/{contracts.STEP_RESULT_OUTPUT}"  # beside, not inside, the reports' folder
        env["step_name"] = name
        env["step_result_path"] = f"{result_dir}/{contracts.OutputFile.STEP_RESULT}"
        outputs.append(result_output(ctx, name, result_dir))
    step = processing_step(ctx, name, script="data_quality.py", image_uri=ctx.sklearn_image, inputs=inputs,
                           outputs=outputs, env=env, depends_on=depends_on)
    statistics = Join(on="/", values=[output_uri, contracts.OutputFile.STATISTICS])
    constraints = Join(on="/", values=[output_uri, contracts.OutputFile.CONSTRAINTS])
    if baseline_statistics is None:
        return DataQualityStep(step, statistics, constraints, statistics, constraints)
    return DataQualityStep(step, statistics, constraints, baseline_statistics, baseline_constraints)
