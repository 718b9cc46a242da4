"""Small helpers around the SDK's processing shapes (v3 takes raw API shapes with every mode spelled out)."""

from __future__ import annotations

import json
from typing import Any

from batchops_core import contracts
from pipelines.common.code import (
    CORE_INPUT,
    CORE_PACKAGE,
    SELF_CONTAINED_SCRIPTS,
    STEP_LIBRARY,
    core_package_uri,
    dataset_schema_file,
)
from pipelines.common.context import PROCESSING_BASE, BuildContext
from pipelines.common.network import processing_kwargs

FULLY_REPLICATED = "FullyReplicated"  # every instance gets every object
SHARDED_BY_S3_KEY = "ShardedByS3Key"  # each instance gets about 1/n of the objects (an object is never split)


def s3_input(name: str, source: Any, local_dir: str, *, distribution: str = FULLY_REPLICATED) -> Any:
    """Download everything under `source` (a key-prefix match) to `/opt/ml/processing/<local_dir>`."""
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source, local_path=f"{PROCESSING_BASE}/{local_dir}", s3_data_type="S3Prefix",
            s3_input_mode="File", s3_data_distribution_type=distribution, s3_compression_type="None",
        ),
    )


def s3_output(name: str, destination: Any, local_path: str | None = None) -> Any:
    """Upload `/opt/ml/processing/output/<name>` (or `local_path`) to `destination` at the end of the job."""
    from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(s3_uri=destination, local_path=local_path or f"{PROCESSING_BASE}/output/{name}",
                                     s3_upload_mode="EndOfJob"),
    )


def step_output(ctx: BuildContext, step_name: str, name: str) -> Any:
    """An execution-scoped processing output of `step_name`."""
    return s3_output(name, ctx.output_uri(step_name, name))


def result_output(ctx: BuildContext, step_name: str, local_path: str | None = None) -> Any:
    """The `result` output of a deciding step: its `result.json` (batchops_core.results.StepResult)."""
    return s3_output(contracts.STEP_RESULT_OUTPUT, ctx.output_uri(step_name, contracts.STEP_RESULT_OUTPUT),
                     local_path)


def result_property_file(step_name: str) -> Any:
    """A PropertyFile over a deciding step's result.json, for Condition and Fail steps (JsonGet)."""
    from sagemaker.core.workflow.properties import PropertyFile

    return PropertyFile(name=f"{step_name}Result", output_name=contracts.STEP_RESULT_OUTPUT,
                        path=contracts.OutputFile.STEP_RESULT)


def script_processor(ctx: BuildContext, image_uri: str, job_name: str, env: dict[str, str] | None = None, *,
                     calls_aws: bool = False, instance_count: int = 1) -> Any:
    from sagemaker.core.processing import ScriptProcessor

    compute = ctx.settings.compute
    return ScriptProcessor(
        role=ctx.role_arn,
        image_uri=image_uri,
        command=["python3"],
        instance_count=instance_count,
        instance_type=compute.processing_instance_type,
        volume_size_in_gb=compute.volume_size_gb,
        max_runtime_in_seconds=compute.max_runtime_seconds,
        base_job_name=ctx.job_name_base(job_name),
        sagemaker_session=ctx.session,
        env=dict(sorted((env or {}).items())),
        tags=ctx.tags(),
        **processing_kwargs(ctx, job_name, calls_aws=calls_aws),
    )


def schema_input(ctx: BuildContext) -> Any:
    """The dataset schema file (content-addressed) at /opt/ml/processing/input/schema/dataset_schema.json."""
    return s3_input(contracts.DATASET_SCHEMA_INPUT, dataset_schema_file(ctx.settings).uri(ctx.settings),
                    f"input/{contracts.DATASET_SCHEMA_INPUT}")


def processing_step(ctx: BuildContext, name: str, *, script: str, image_uri: str, inputs: list[Any],
                    outputs: list[Any], arguments: list[Any] | None = None, env: dict[str, str] | None = None,
                    property_files: list[Any] | None = None, depends_on: list[Any] | None = None,
                    with_schema: bool = False, calls_aws: bool = False, instance_count: int = 1) -> Any:
    """A ProcessingStep running one shipped step script (code given as its content-addressed s3:// URI);
    `calls_aws`: the script calls AWS APIs, so its job is never network-isolated. `instance_count`: more than one
    only for a step that splits its work across instances (compute.processing_instance_count, whose description
    names those steps); any other step would redo its whole input on each instance."""
    from sagemaker.mlops.workflow.steps import ProcessingStep

    if with_schema:
        inputs = [*inputs, schema_input(ctx)]
    if script not in SELF_CONTAINED_SCRIPTS:
        inputs = [*inputs, s3_input("steplib", ctx.code_uri(STEP_LIBRARY), "input/steplib")]
    # Every step gets the core modules (data_quality.py imports them only to write its result).
    inputs = [*inputs, s3_input(CORE_INPUT, core_package_uri(ctx.settings), f"input/{CORE_INPUT}/{CORE_PACKAGE}")]
    processor = script_processor(ctx, image_uri, name, env, calls_aws=calls_aws, instance_count=instance_count)
    step_args = processor.run(code=ctx.code_uri(script), inputs=inputs, outputs=outputs, arguments=arguments)
    return ProcessingStep(name=name, step_args=step_args, property_files=property_files, depends_on=depends_on)


def gate_arguments(model: Any) -> list[str]:
    """The gate's metric (settings `model`) as Evaluate and ModelQualityCheck are told it; a classification model
    adds its class arguments."""
    return ["--metric", model.metric, *(class_arguments(model) if model.is_classification else [])]


def class_arguments(model: Any) -> list[str]:
    """A classification model's problem type, class labels (JSON, in class-index order) and decision threshold."""
    return ["--problem-type", model.problem, "--classes", json.dumps(model.classes),
            "--decision-threshold", str(model.decision_threshold)]
