"""Transform steps: a batch transform job with the built-in XGBoost serving container's semantics."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from batchops_local.runner.aws import join_uri, parse_s3_uri, relative_key
from batchops_local.runner.batch_transform import ColumnFilter, TransformError, TransformSettings, transform_csv_file
from batchops_local.runner.errors import StepFailed, StepStopped
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.jobs import XGBOOST_IMAGE, JobDir, job_name, require_image
from batchops_local.runner.steps.registry import call
from batchops_local.runner.xgboost_algorithm import AlgorithmError, extract_model, is_csv_content_type, load_booster


def transform_settings(arguments: dict[str, Any], *, what: str) -> TransformSettings:
    """Validate the request against what the local serving container supports; clear errors otherwise."""
    transform_input = arguments.get("TransformInput") or {}
    transform_output = arguments.get("TransformOutput") or {}
    processing = arguments.get("DataProcessing") or {}
    content_type = transform_input.get("ContentType") or "text/csv"
    if not is_csv_content_type(content_type):
        raise StepFailed(f"{what}: ContentType '{content_type}' is not supported locally (text/csv)")
    accept = transform_output.get("Accept") or "text/csv"
    if not is_csv_content_type(accept):
        raise StepFailed(f"{what}: Accept '{accept}' is not supported locally (text/csv)")
    split = transform_input.get("SplitType") or "None"
    if split not in ("Line", "None"):
        raise StepFailed(f"{what}: SplitType '{split}' is not supported for CSV locally (Line or None)")
    if (transform_input.get("CompressionType") or "None") != "None":
        raise StepFailed(f"{what}: CompressionType '{transform_input['CompressionType']}' is not supported locally")
    join = processing.get("JoinSource") or "None"
    if join not in ("None", "Input"):
        raise StepFailed(f"{what}: JoinSource must be None or Input, found '{join}'")
    try:
        return TransformSettings(input_filter=ColumnFilter.parse(processing.get("InputFilter")),
                                 output_filter=ColumnFilter.parse(processing.get("OutputFilter")),
                                 join_input=join == "Input")
    except ValueError as exc:
        raise StepFailed(f"{what}: {exc}") from None


def load_model_of(context: StepContext, model_name: Any, job: JobDir, *, what: str):
    if not model_name:
        raise StepFailed(f"{what}: ModelName is required")
    description = call(context, "DescribeModel", ModelName=str(model_name))
    container = description.get("PrimaryContainer") or (description.get("Containers") or [{}])[0]
    require_image(container.get("Image"), (XGBOOST_IMAGE,), what=f"{what} model '{model_name}'")
    model_url = container.get("ModelDataUrl")
    if not model_url:
        raise StepFailed(f"{what}: model '{model_name}' has no ModelDataUrl")
    archive = context.aws.download_file(model_url, job.root / "model.tar.gz", what=f"model data of '{model_name}'")
    try:
        return load_booster(extract_model(archive, job.opt_ml / "model"))
    except AlgorithmError as exc:
        raise StepFailed(f"{what}: model '{model_name}' ({model_url}): {exc}") from None


def run_transform(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments()
    what = f"Transform step '{context.name}'"
    arn = context.aws.arn("transform-job", name)
    context.metadata["TransformJob"] = {"Arn": arn}
    settings = transform_settings(arguments, what=what)
    source = ((arguments.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    if (source.get("S3DataType") or "S3Prefix") != "S3Prefix":
        raise StepFailed(f"{what}: S3DataType '{source.get('S3DataType')}' is not supported locally (S3Prefix)")
    output_path = (arguments.get("TransformOutput") or {}).get("S3OutputPath")
    parse_s3_uri(output_path, what=f"{what} TransformOutput.S3OutputPath")
    job = JobDir(context.directory, name)
    booster = load_model_of(context, arguments.get("ModelName"), job, what=what)
    input_uri = source.get("S3Uri")
    _, prefix = parse_s3_uri(input_uri, what=f"{what} input S3Uri")
    objects = list(context.aws.list_objects(input_uri, what=f"{what} input"))
    if not objects:
        raise StepFailed(f"{what}: no S3 objects found under {input_uri}")

    def transform_object(item: tuple[str, str, int]) -> str | None:
        bucket, key, _size = item
        if context.stop_requested():
            raise StepStopped()
        relative = relative_key(prefix, key)
        local_in = job.opt_ml / "input" / relative
        local_out = job.opt_ml / "output" / f"{relative}.out"
        for path in (local_in, local_out):
            path.parent.mkdir(parents=True, exist_ok=True)
        context.aws.s3.download_file(bucket, key, str(local_in))
        try:
            report = transform_csv_file(booster, local_in, local_out, settings)
        except (TransformError, UnicodeDecodeError) as exc:
            local_out.unlink(missing_ok=True)  # all-or-nothing per object
            return f"s3://{bucket}/{key}: {exc}"
        target = join_uri(output_path, f"{relative}.out")
        context.aws.upload_file(local_out, target, what="transform output")
        context.log.note(f"{relative}: {report.records} record(s) in {report.seconds:.2f} s -> {target}")
        _discard(local_in, local_out)
        return None

    workers = int(arguments.get("MaxConcurrentTransforms") or 1)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(objects), 4))) as pool:
        failures = [problem for problem in pool.map(transform_object, objects) if problem]
    if not context.keep_job_dirs:
        job.remove()
    if failures:
        raise StepFailed(f"{len(failures)} of {len(objects)} input object(s) failed: {'; '.join(failures[:3])}")
    return StepResult(properties={**arguments, "TransformJobName": name, "TransformJobArn": arn,
                                  "TransformJobStatus": "Completed"})


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
