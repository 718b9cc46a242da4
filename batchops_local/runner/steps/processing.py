"""Processing steps: a script container (scikit-learn or XGBoost image) run as a local process with the
SageMaker processing contract (aws-contracts §8.1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batchops_local.runner.aws import parse_s3_uri, relative_key
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
from batchops_local.runner.steps import instances

FAILURE_MESSAGE = "/opt/ml/output/message"
# A processing job whose container exits non-zero fails with this FailureReason, and the pipeline step with it;
# the script's own words (/opt/ml/output/message) are the job's ExitMessage (DescribeProcessingJob). Source:
# aws/sagemaker-spark-container test/integration/sagemaker/test_sagemaker_spark_errors.py (run on SageMaker);
# https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html
ALGORITHM_ERROR = "AlgorithmError: See job logs for more information"
_PYTHON_COMMANDS = {"python", "python3", "/usr/bin/python3", "/usr/bin/python", "/usr/local/bin/python3",
                    "/usr/local/bin/python"}


def stage_processing_inputs(context: StepContext, jobs: list[JobDir], inputs: list[dict[str, Any]]) -> None:
    """Download each S3 input into its LocalPath under the /opt/ml of each instance's job directory (one per
    instance, `jobs[i]` is `algo-<i+1>`), by the input's S3DataDistributionType (aws-contracts §8.1;
    batchops_local.runner.steps.instances)."""
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
        distribution = instances.distribution_type(source, what=what)
        uri = source.get("S3Uri")
        _, prefix = parse_s3_uri(uri, what=what)
        objects = list(context.aws.list_objects(uri, what=what))
        if not objects:  # as on SageMaker: an input with nothing under it fails the job
            raise StepFailed(f"{what}: no S3 objects found under {uri}")
        fetched: dict[str, Path] = {}  # a replicated object is fetched once, then copied to each other instance
        for number, job in enumerate(jobs):
            local = job.host_path(source.get("LocalPath"), what=f"{what} LocalPath")
            local.mkdir(parents=True, exist_ok=True)  # an instance a shard leaves empty still has the directory
            mine = instances.objects_of_host(objects, distribution, number, len(jobs))
            for bucket, key, _size in mine:
                target = local / relative_key(prefix, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                if key in fetched:
                    shutil.copyfile(fetched[key], target)  # its own copy, as each instance has its own volume
                else:
                    context.aws.get_file(bucket, key, target)
                    fetched[key] = target
            host = f" on algo-{number + 1}" if len(jobs) > 1 else ""
            context.log.note(f"input {name}{host}: {len(mine)} object(s) from {uri} ({distribution}) "
                             f"-> {source.get('LocalPath')}")


def upload_processing_outputs(context: StepContext, jobs: list[JobDir], outputs: list[dict[str, Any]]) -> None:
    """Each instance's files of each output to the output's S3Uri (all instances share the prefix). Two instances
    writing the same relative path would overwrite each other there (S3 keeps the last upload): refused before
    anything is uploaded, naming the file, since one instance's data would be lost."""
    plans = []
    for index, item in enumerate(outputs or []):
        name = item.get("OutputName") or f"#{index}"
        target = item.get("S3Output") or {}
        uri = target.get("S3Uri")
        parse_s3_uri(uri, what=f"ProcessingOutput '{name}' S3Uri")
        written: dict[str, str] = {}
        for number, job in enumerate(jobs):
            local = job.host_path(target.get("LocalPath"), what=f"ProcessingOutput '{name}' LocalPath")
            for relative in output_files(local):
                host = f"algo-{number + 1}"
                if relative in written:
                    raise StepFailed(f"ProcessingOutput '{name}': instances {written[relative]} and {host} both wrote "
                                     f"'{relative}', which would overwrite one another under {uri}; an instance "
                                     "must write names of its own (e.g. with current_host from "
                                     "/opt/ml/config/resourceconfig.json)")
                written[relative] = host
        plans.append((name, uri, target.get("LocalPath")))
    for name, uri, local_path in plans:
        count = sum(context.aws.upload_directory(job.host_path(local_path, what=f"ProcessingOutput '{name}'"), uri,
                                                 what=f"ProcessingOutput '{name}'") for job in jobs)
        context.log.note(f"output {name}: {count} file(s) -> {uri}")


def output_files(local: Path) -> list[str]:
    """The relative paths AwsClients.upload_directory uploads from `local` (regular files, no symlinks)."""
    if not local.is_dir():
        return []
    return [path.relative_to(local).as_posix() for path in sorted(local.rglob("*"))
            if path.is_file() and not path.is_symlink()]


def prepare_output_dirs(job: JobDir, outputs: list[dict[str, Any]]) -> None:
    for index, item in enumerate(outputs or []):
        name = item.get("OutputName") or f"#{index}"
        local = (item.get("S3Output") or {}).get("LocalPath")
        job.host_path(local, what=f"ProcessingOutput '{name}' LocalPath").mkdir(parents=True, exist_ok=True)


def processing_properties(arguments: dict[str, Any], name: str, arn: str) -> dict[str, Any]:
    return {**arguments, "ProcessingJobName": name, "ProcessingJobArn": arn, "ProcessingJobStatus": "Completed"}


def exit_message_bytes(*jobs: JobDir) -> bytes | None:
    """The job's ExitMessage: the first instance's (in host order) that wrote one."""
    for job in jobs:
        path = job.host_path(FAILURE_MESSAGE, what="exit message")
        if path.is_file():
            return path.read_bytes()
    return None


@contextmanager
def job_lifecycle(context: StepContext, arn: str, *jobs: JobDir) -> Iterator[None]:
    """Whatever ends the body ends the job too (Stopped / Failed) with its ExitMessage; the caller reports
    Completed. Any failure that is not the container's own reads as SageMaker's InternalServerError."""
    try:
        yield
    except StepStopped:
        context.aws.finish_job(arn, "Stopped", exit_message_bytes=exit_message_bytes(*jobs))
        raise
    except StepFailed as failure:
        context.aws.finish_job(arn, "Failed", failure_reason=failure.reason,
                               exit_message_bytes=exit_message_bytes(*jobs))
        raise
    except Exception as error:
        context.aws.finish_job(arn, "Failed", failure_reason=f"InternalServerError: {type(error).__name__}: {error}")
        raise


def run_processing(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments(ProcessingJobName=name)
    app = arguments.get("AppSpecification") or {}
    require_image(app.get("ImageUri"), SCRIPT_IMAGES, what=f"Processing step '{context.name}'")
    cluster = (arguments.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    hosts = instances.host_names(cluster.get("InstanceCount"), what=f"Processing step '{context.name}'")
    arn = context.aws.register_processing_job(name, arguments)
    context.metadata["ProcessingJob"] = {"Arn": arn}
    # One /opt/ml per instance: `<job>` alone, `<job>-algo-<n>` for a cluster.
    jobs = [JobDir(context.directory, name if len(hosts) == 1 else f"{name}-{host}") for host in hosts]
    with job_lifecycle(context, arn, *jobs):
        result = _run_processing_job(context, jobs, hosts, name, arn, arguments, app)
    context.aws.finish_job(arn, "Completed", exit_message_bytes=exit_message_bytes(*jobs))
    if not context.keep_job_dirs:
        for job in jobs:
            job.remove()
    return result


def _run_processing_job(context: StepContext, jobs: list[JobDir], hosts: list[str], name: str, arn: str,
                        arguments: dict[str, Any], app: dict[str, Any]) -> StepResult:
    inputs = arguments.get("ProcessingInputs") or []
    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    stage_processing_inputs(context, jobs, inputs)
    isolated = bool((arguments.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))
    max_runtime = (arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")

    def run_instance(host: str, job: JobDir) -> int:
        prepare_output_dirs(job, outputs)
        job.write_json("/opt/ml/config/processingjobconfig.json", {**arguments, "ProcessingJobName": name})
        job.write_json("/opt/ml/config/resourceconfig.json", instances.resource_config(host, hosts))
        command = container_command(job, app, what=f"Processing step '{context.name}'")
        environment = {key: job.rewrite(to_text(value)) for key, value in (arguments.get("Environment") or {}).items()}
        environment.update(context.aws.job_environment(network_isolation=isolated))
        environment["SAGEMAKER_BASE_DIR"] = str(job.opt_ml)
        code = run_job_process(command, job=job, env=job_process_environment(environment), log=context.log,
                               max_runtime_seconds=float(max_runtime) if max_runtime else None,
                               stop_requested=context.stop_requested)
        if code != 0:
            message = job.failure_message(FAILURE_MESSAGE)
            context.log.note(f"processing job {name} ({host}) exited with code {code}"
                             + (f"; its exit message: {message}" if message else ""))
        return code

    # The instances run side by side, as a cluster's do; any one failing fails the job.
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        codes = list(pool.map(run_instance, hosts, jobs))
    if any(codes):
        raise StepFailed(ALGORITHM_ERROR)  # on AWS a failed job uploads no outputs
    upload_processing_outputs(context, jobs, outputs)
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
