"""What a pipeline step left behind: its entry in ListPipelineExecutionSteps, its processing job's outputs, and
objects under them in S3. Shared by the drift summary and the quality-gate results.

Path from a step to its files: ListPipelineExecutionSteps -> `Metadata.ProcessingJob.Arn` ->
DescribeProcessingJob -> `ProcessingOutputConfig.Outputs[].S3Output.S3Uri` -> S3. (API reference:
ListPipelineExecutionSteps / PipelineExecutionStepMetadata, DescribeProcessingJob / ProcessingOutput.)
"""

from __future__ import annotations

import json

from batchops_core.s3uri import S3UriError, split_s3_uri
from lambdas.shared.runtime import client, error_code

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any


class OutputUnavailable(Exception):
    """A step's output could not be found or read; messages still go out and say why."""


def execution_steps(execution_arn: str) -> list[dict[str, Any]]:
    """Every ListPipelineExecutionSteps entry of the execution (all pages)."""
    sagemaker = client("sagemaker")
    request: dict[str, Any] = {"PipelineExecutionArn": execution_arn}
    steps: list[dict[str, Any]] = []
    while True:
        try:
            page = sagemaker.list_pipeline_execution_steps(**request)
        except Exception as exc:
            raise OutputUnavailable(f"ListPipelineExecutionSteps failed: {error_code(exc) or exc}") from exc
        steps.extend(page.get("PipelineExecutionSteps", []))
        if not page.get("NextToken"):
            return steps
        request["NextToken"] = page["NextToken"]


def execution_step(execution_arn: str, step_name: str) -> dict[str, Any]:
    """The step's ListPipelineExecutionSteps entry."""
    for step in execution_steps(execution_arn):
        if step.get("StepName") == step_name:
            return step
    raise OutputUnavailable(f"step {step_name} is not listed for execution {execution_arn}")


def processing_job_arn(step: dict[str, Any]) -> str:
    job_arn = ((step.get("Metadata") or {}).get("ProcessingJob") or {}).get("Arn")
    if not job_arn:
        raise OutputUnavailable(f"step {step.get('StepName')} has no processing job in its metadata")
    return str(job_arn)


def processing_outputs(job_arn: str) -> dict[str, str]:
    """Output name -> S3 prefix (without a trailing slash) of a processing job."""
    job_name = job_arn.rsplit("/", 1)[-1]
    try:
        job = client("sagemaker").describe_processing_job(ProcessingJobName=job_name)
    except Exception as exc:
        raise OutputUnavailable(f"DescribeProcessingJob {job_name} failed: {error_code(exc) or exc}") from exc
    outputs = {}
    for index, output in enumerate((job.get("ProcessingOutputConfig") or {}).get("Outputs") or []):
        prefix = str((output.get("S3Output") or {}).get("S3Uri", "")).rstrip("/")
        if prefix:
            outputs[str(output.get("OutputName") or f"#{index}")] = prefix
    return outputs


def processing_job_exit_message(job_arn: str) -> str:
    """The job's ExitMessage: what the script wrote to /opt/ml/output/message (DescribeProcessingJob)."""
    job_name = job_arn.rsplit("/", 1)[-1]
    try:
        job = client("sagemaker").describe_processing_job(ProcessingJobName=job_name)
    except Exception as exc:
        raise OutputUnavailable(f"DescribeProcessingJob {job_name} failed: {error_code(exc) or exc}") from exc
    return str(job.get("ExitMessage") or "").strip()


def step_output_file(step: dict[str, Any], output_name: str, file_name: str) -> str:
    """s3:// URI of `file_name` in the processing output `output_name` of a listed step."""
    job_arn = processing_job_arn(step)
    outputs = processing_outputs(job_arn)
    if output_name not in outputs:
        known = ", ".join(sorted(outputs)) or "none"
        raise OutputUnavailable(
            f"processing job {job_arn.rsplit('/', 1)[-1]} of step {step.get('StepName')} has no output "
            f"'{output_name}' (outputs: {known})"
        )
    return f"{outputs[output_name]}/{file_name}"


def _split(uri: str) -> tuple[str, str]:
    try:
        bucket, key = split_s3_uri(uri)
    except S3UriError as exc:
        raise OutputUnavailable(str(exc)) from None
    if not key:
        raise OutputUnavailable(f"{uri!r} names no object")
    return bucket, key


def s3_object_exists(uri: str) -> bool:
    bucket, key = _split(uri)
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        # Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key (S3 API reference, HeadObject).
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"):
            return False
        raise OutputUnavailable(f"cannot read {uri}: {error_code(exc) or exc}") from exc
    return True


def read_s3_text(uri: str) -> str:
    bucket, key = _split(uri)
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise OutputUnavailable(f"cannot read {uri}: {error_code(exc) or exc}") from exc
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputUnavailable(f"{uri} is not UTF-8 text ({exc})") from None


def read_s3_json(uri: str) -> Any:
    text = read_s3_text(uri)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputUnavailable(f"{uri} is not valid JSON ({exc})") from None
