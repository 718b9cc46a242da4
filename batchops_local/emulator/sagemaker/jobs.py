"""SageMaker processing and training jobs with a lifecycle (moto marks a created job Completed at once and
keeps neither its Environment nor its resources).

- CreateProcessingJob / CreateTrainingJob: the job is `InProgress` from its start time, with the request's
  Environment, ProcessingResources / ResourceConfig and StoppingCondition kept for Describe;
- whoever runs the job (the local pipeline runner, in this process) reports its end with `finish_job`:
  `Completed` / `Failed` / `Stopped`, end time, `FailureReason` (Failed only) and, for processing jobs,
  `ExitMessage`: the first 1 KB of `/opt/ml/output/message` after any terminal status
  (https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html);
- DescribeProcessingJob / ListProcessingJobs and DescribeTrainingJob / ListTrainingJobs answer from that state.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from ..patching import Patcher

EXIT_MESSAGE_MAX_BYTES = 1024  # DescribeProcessingJob ExitMessage: max length 1024 (botocore service model)
FAILURE_REASON_MAX_CHARS = 1024  # FailureReason: max length 1024 (botocore service model)
FINAL_JOB_STATUSES = ("Completed", "Failed", "Stopped")
_lock = threading.Lock()

_original_list_processing: Any = None
_original_list_training: Any = None


def install(patcher: Patcher) -> None:
    global _original_list_processing, _original_list_training
    create_processing, create_training = SageMakerResponse.create_processing_job, SageMakerResponse.create_training_job
    patcher.replace(SageMakerResponse, "create_processing_job", _with_processing_lifecycle(create_processing))
    patcher.replace(SageMakerResponse, "create_training_job", _with_training_lifecycle(create_training))
    _original_list_processing = patcher.replace(SageMakerModelBackend, "list_processing_jobs", _list_processing_jobs)
    _original_list_training = patcher.replace(SageMakerModelBackend, "list_training_jobs", _list_training_jobs)
    patcher.replace(SageMakerModelBackend, "stop_processing_job", _stop_processing_job)


def utc_now() -> datetime:
    return datetime.now(UTC)


def exit_message(raw: bytes) -> str:
    """The first 1 KB of the message file as DescribeProcessingJob returns it (a cut UTF-8 character dropped)."""
    return raw[:EXIT_MESSAGE_MAX_BYTES].decode("utf-8", errors="ignore")


# ------------------------------------------------------------------------------------------- create


def _with_processing_lifecycle(original: Any) -> Any:
    def create_processing_job(self: SageMakerResponse) -> Any:
        result = original(self)
        job = self.sagemaker_backend.processing_jobs[self._get_param("ProcessingJobName")]
        with _lock:
            job.environment = self._get_param("Environment") or None
            job.processing_resources = self._get_param("ProcessingResources")
            job.processing_job_status = "InProgress"
            job.processing_start_time = job.creation_time
            job.processing_end_time = None
        return result

    return create_processing_job


def _with_training_lifecycle(original: Any) -> Any:
    def create_training_job(self: SageMakerResponse) -> Any:
        result = original(self)
        job = self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")]
        with _lock:
            job.environment = self._get_param("Environment") or None
            job.training_job_status = "InProgress"
            job.secondary_status = "Starting"
            job.training_start_time = job.creation_time
            job.training_end_time = None
            job.model_artifacts = None  # no model until the job completes
            job.final_metric_data_list = None
        return result

    return create_training_job


# ------------------------------------------------------------------------------------------- end of a job


def finish_job(
    job_arn: str,
    status: str,
    *,
    failure_reason: str | None = None,
    exit_message_bytes: bytes | None = None,
    model_artifacts: str | None = None,
    final_metrics: dict[str, float] | None = None,
) -> None:
    """Record the end of a processing or training job the emulator holds (by ARN)."""
    if status not in FINAL_JOB_STATUSES:
        raise ValueError(f"a job ends Completed, Failed or Stopped, not {status!r} ({job_arn})")
    fields = job_arn.split(":", 5)
    if len(fields) != 6 or "/" not in fields[5]:
        raise ValueError(f"{job_arn!r} is not a SageMaker job ARN")
    region, account, (kind, name) = fields[3], fields[4], fields[5].split("/", 1)
    backend = sagemaker_backends[account][region]
    now = utc_now()
    with _lock:
        if kind == "processing-job":
            job = _find(backend.processing_jobs, name, job_arn)
            _require_running(job.processing_job_status, job_arn)
            job.processing_job_status = status
            job.processing_end_time = now
            if exit_message_bytes is not None:
                try:
                    exit_message_bytes.decode("utf-8")
                except UnicodeDecodeError:
                    # "If the data in this file isn't UTF-8 encoded, the job fails and returns a ClientError"
                    # (byoc-metadata page above).
                    status, failure_reason = "Failed", "ClientError: /opt/ml/output/message is not UTF-8 encoded"
                    job.processing_job_status = status
                else:
                    job.exit_message = exit_message(exit_message_bytes)
        elif kind == "training-job":
            job = _find(backend.training_jobs, name, job_arn)
            name = job.training_job_name
            _require_running(job.training_job_status, job_arn)
            job.training_job_status = status
            job.secondary_status = status
            job.training_end_time = now
            if status == "Completed":  # <S3OutputPath>/<job name>/output/model.tar.gz unless told otherwise
                default = "/".join([job.output_data_config["S3OutputPath"].rstrip("/"), name, "output/model.tar.gz"])
                job.model_artifacts = {"S3ModelArtifacts": model_artifacts or default}
            if final_metrics:
                job.final_metric_data_list = [
                    {"MetricName": key, "Value": value, "Timestamp": now} for key, value in final_metrics.items()
                ]
        else:
            raise ValueError(f"{job_arn!r} is neither a processing job nor a training job")
        job.last_modified_time = now
        reason = (failure_reason or "the job failed")[:FAILURE_REASON_MAX_CHARS]
        job.failure_reason = reason if status == "Failed" else None


def _find(jobs: dict[str, Any], name: str, arn: str) -> Any:
    for key, job in jobs.items():
        if key.lower() == name.lower():  # ARNs lower-case the job name
            return job
    raise ValueError(f"no job {arn} in the emulator")


def _require_running(status: str, arn: str) -> None:
    if status in FINAL_JOB_STATUSES:
        raise ValueError(f"job {arn} already ended {status}")


# ------------------------------------------------------------------------------------------- list / stop


def _list_processing_jobs(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
    listed = _original_list_processing(self, *args, **kwargs)
    for summary in listed["ProcessingJobSummaries"]:
        job = self.processing_jobs.get(summary["ProcessingJobName"])
        _summary_fields(summary, job, ("ProcessingEndTime", "FailureReason", "ExitMessage"))
    return listed


def _list_training_jobs(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
    listed = _original_list_training(self, *args, **kwargs)
    for summary in listed["TrainingJobSummaries"]:
        job = self.training_jobs.get(summary["TrainingJobName"])
        _summary_fields(summary, job, ("TrainingEndTime",))
    return listed


def _summary_fields(summary: dict[str, Any], job: Any, keys: tuple[str, ...]) -> None:
    if job is None:
        return
    described = job.response_object
    for key in keys:
        if described.get(key) is not None:
            summary[key] = described[key]
        else:
            summary.pop(key, None)


def _stop_processing_job(self: SageMakerModelBackend, processing_job_name: str) -> None:
    job = self.processing_jobs.get(processing_job_name)
    if job is None:
        arn = f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:processing-job/{processing_job_name}"
        raise ValidationError(message=f"Could not find processing job '{arn}'.")
    with _lock:
        if job.processing_job_status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the processing job is in status "
                f"{job.processing_job_status}."
            )
        # Stopping until whoever runs it ends it (Stopped); the runner watches the pipeline's stop instead.
        job.processing_job_status = "Stopping"
        job.last_modified_time = utc_now()
