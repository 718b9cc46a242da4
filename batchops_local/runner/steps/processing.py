"""Processing steps: a script container (scikit-learn or XGBoost image) run as a local process with the
SageMaker processing contract (aws-contracts §8.1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from batchops_local.runner.aws import parse_s3_uri
from batchops_local.runner.errors import StepFailed, StepStopped
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text
from batchops_local.runner.jobs import (
    SCRIPT_IMAGES,
    JobDir,
    job_name,
    job_process_environment,
    require_image,
    run_job_process,
)
from batchops_local.runner.runtimes import interpreter_for

FAILURE_MESSAGE = "/opt/ml/output/message"
# A processing job whose container exits non-zero fails with this FailureReason, and the pipeline step with it;
# the script's own words (/opt/ml/output/message) are the job's ExitMessage (DescribeProcessingJob). Source:
# aws/sagemaker-spark-container test/integration/sagemaker/test_sagemaker_spark_errors.py (run on SageMaker);
# https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html
ALGORITHM_ERROR = "AlgorithmError: See job logs for more information"
_PYTHON_COMMANDS = {"python", "python3", "/usr/bin/python3", "/usr/bin/python", "/usr/local/bin/python3",
                    "/usr/local/bin/python"}


def stage_processing_inputs(context: StepContext, job: JobDir, inputs: list[dict[str, Any]]) -> None:
    """Download each S3 input into its LocalPath under the job's /opt/ml (aws-contracts §8.1)."""
    for index, item in enumerate(inputs or []):
        name = item.get("InputName") or f"#{index}"
        what = f"ProcessingInputs '{name}'"
        source = item.get("S3Input")
        if not isinstance(source, dict):
            raise StepFailed(f"{what}: only S3Input is supported locally, found keys {', '.join(item)}")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise StepFailed(f"{what}: S3DataType '{source['S3DataType']}' is not supported locally (S3Prefix only)")
        if source.get("S3InputMode", "File") != "File":
            raise StepFailed(f"{what}: S3InputMode '{source['S3InputMode']}' is not supported locally (File only)")
        if source.get("S3CompressionType", "None") not in ("None", None):
            raise StepFailed(f"{what}: S3CompressionType '{source['S3CompressionType']}' is not supported locally")
        local = job.host_path(source.get("LocalPath"), what=f"{what} LocalPath")
        files = context.aws.download_prefix(source.get("S3Uri"), local, what=what)
        context.log.note(f"input {name}: {len(files)} object(s) from {source.get('S3Uri')} "
                         f"-> {source.get('LocalPath')}")


def upload_processing_outputs(context: StepContext, job: JobDir, outputs: list[dict[str, Any]]) -> None:
    for index, item in enumerate(outputs or []):
        name = item.get("OutputName") or f"#{index}"
        target = item.get("S3Output") or {}
        uri = target.get("S3Uri")
        parse_s3_uri(uri, what=f"ProcessingOutput '{name}' S3Uri")
        local = job.host_path(target.get("LocalPath"), what=f"ProcessingOutput '{name}' LocalPath")
        count = context.aws.upload_directory(local, uri, what=f"ProcessingOutput '{name}'")
        context.log.note(f"output {name}: {count} file(s) -> {uri}")


def prepare_output_dirs(job: JobDir, outputs: list[dict[str, Any]]) -> None:
    for index, item in enumerate(outputs or []):
        name = item.get("OutputName") or f"#{index}"
        local = (item.get("S3Output") or {}).get("LocalPath")
        job.host_path(local, what=f"ProcessingOutput '{name}' LocalPath").mkdir(parents=True, exist_ok=True)


def processing_properties(arguments: dict[str, Any], name: str, arn: str) -> dict[str, Any]:
    return {**arguments, "ProcessingJobName": name, "ProcessingJobArn": arn, "ProcessingJobStatus": "Completed"}


def exit_message_bytes(job: JobDir) -> bytes | None:
    path = job.host_path(FAILURE_MESSAGE, what="exit message")
    return path.read_bytes() if path.is_file() else None


@contextmanager
def job_lifecycle(context: StepContext, arn: str, job: JobDir) -> Iterator[None]:
    """Whatever ends the body ends the job too (Stopped / Failed) with its ExitMessage; the caller reports
    Completed. Any failure that is not the container's own reads as SageMaker's InternalServerError."""
    try:
        yield
    except StepStopped:
        context.aws.finish_job(arn, "Stopped", exit_message_bytes=exit_message_bytes(job))
        raise
    except StepFailed as failure:
        context.aws.finish_job(arn, "Failed", failure_reason=failure.reason,
                               exit_message_bytes=exit_message_bytes(job))
        raise
    except Exception as error:
        context.aws.finish_job(arn, "Failed", failure_reason=f"InternalServerError: {type(error).__name__}: {error}")
        raise


def run_processing(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments(ProcessingJobName=name)
    app = arguments.get("AppSpecification") or {}
    require_image(app.get("ImageUri"), SCRIPT_IMAGES, what=f"Processing step '{context.name}'")
    arn = context.aws.register_processing_job(name, arguments)
    context.metadata["ProcessingJob"] = {"Arn": arn}
    job = JobDir(context.directory, name)
    with job_lifecycle(context, arn, job):
        result = _run_processing_job(context, job, name, arn, arguments, app)
    context.aws.finish_job(arn, "Completed", exit_message_bytes=exit_message_bytes(job))
    if not context.keep_job_dirs:
        job.remove()
    return result


def _run_processing_job(context: StepContext, job: JobDir, name: str, arn: str, arguments: dict[str, Any],
                        app: dict[str, Any]) -> StepResult:
    inputs = arguments.get("ProcessingInputs") or []
    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    stage_processing_inputs(context, job, inputs)
    prepare_output_dirs(job, outputs)
    job.write_json("/opt/ml/config/processingjobconfig.json", {**arguments, "ProcessingJobName": name})
    job.write_json("/opt/ml/config/resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
    command = container_command(job, app, what=f"Processing step '{context.name}'")
    environment = {key: job.rewrite(to_text(value)) for key, value in (arguments.get("Environment") or {}).items()}
    isolated = bool((arguments.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))
    environment.update(context.aws.job_environment(network_isolation=isolated))
    environment["SAGEMAKER_BASE_DIR"] = str(job.opt_ml)
    max_runtime = (arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    code = run_job_process(command, job=job, env=job_process_environment(environment), log=context.log,
                           max_runtime_seconds=float(max_runtime) if max_runtime else None,
                           stop_requested=context.stop_requested)
    if code != 0:
        message = job.failure_message(FAILURE_MESSAGE)
        context.log.note(f"processing job {name} exited with code {code}"
                         + (f"; its exit message: {message}" if message else ""))
        raise StepFailed(ALGORITHM_ERROR)  # on AWS a failed job uploads no outputs
    upload_processing_outputs(context, job, outputs)
    return StepResult(properties=processing_properties(arguments, name, arn))


def container_command(job: JobDir, app: dict[str, Any], *, what: str, note: Any = None) -> list[str]:
    """Entrypoint + arguments with /opt/ml paths pointing into the job directory and python as the image's
    Python (its runtime: batchops_local.runner.runtimes)."""
    entrypoint = [to_text(part) for part in app.get("ContainerEntrypoint") or []]
    if not entrypoint:
        raise StepFailed(f"{what}: AppSpecification.ContainerEntrypoint is empty; the local runner runs scripts "
                         "given as an entrypoint such as ['python3', '/opt/ml/processing/input/code/<script>']")
    if entrypoint[0] not in _PYTHON_COMMANDS:
        raise StepFailed(f"{what}: entrypoint '{entrypoint[0]}' is not a Python interpreter; the local runner "
                         "runs Python scripts only")
    script = entrypoint[1] if len(entrypoint) > 1 else ""
    if script.startswith("/opt/ml") and not job.host_path(script, what=f"{what} script").is_file():
        raise StepFailed(f"{what}: script '{script}' is not among the staged inputs (is the code input missing?)")
    arguments = [to_text(part) for part in app.get("ContainerArguments") or []]
    python = interpreter_for(app.get("ImageUri"), what=what, note=note)
    return [python, *(job.rewrite(part) for part in entrypoint[1:]), *(job.rewrite(a) for a in arguments)]
