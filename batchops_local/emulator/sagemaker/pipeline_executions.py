"""SageMaker pipeline executions that really run (moto marks them Succeeded at once and runs nothing).

- `StartPipelineExecution` returns at once; the execution is `Executing` and is handed to the registered
  execution handler (the local pipeline runner) on a worker thread with an ExecutionRequest and a sink;
- the sink (`ExecutionRegistry`) records steps for `ListPipelineExecutionSteps`, keeps
  `DescribePipelineExecution` / `ListPipelineExecutions` current and emits the execution and step status
  change events with previous statuses, in order;
- `StopPipelineExecution`: Executing → Stopping (the handler sees `stop_requested`) → Stopped;
- with no handler registered the execution fails with a FailureReason saying so (never a fake success).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import get_pipeline_execution_from_arn, get_pipeline_from_name

from .. import context
from ..contracts import (
    EXECUTION_STATUSES,
    FINAL_EXECUTION_STATUSES,
    FINAL_STEP_STATUSES,
    STEP_STATUSES,
    ExecutionHandler,
    ExecutionRequest,
)
from ..events.bus import emit_service_event, iso_time
from ..patching import Patcher

log = logging.getLogger("batchops_local.emulator.pipelines")

EXECUTION_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Step Status Change"
# What DescribePipelineExecution / ListPipelineExecutions say of an execution that failed because a step failed
# (a Fail step too): the step's own reason is in ListPipelineExecutionSteps. Source: aws/sagemaker-python-sdk
# tests/integ/sagemaker/workflow/test_fail_steps.py, run against SageMaker.
STEP_FAILURE_REASON = "Step failure: One or multiple steps failed."
NO_HANDLER_REASON = (
    "No pipeline execution handler is registered with the local emulator, so nothing can run this execution. "
    "Start the emulator through batchops_local.runtime (start_local_aws or `python -m batchops_local.runtime "
    "serve`), which registers the local pipeline runner."
)

_original_start: Any = None
_original_describe: Any = None


def install(patcher: Patcher) -> None:
    global _original_start, _original_describe
    _original_start = patcher.replace(SageMakerModelBackend, "start_pipeline_execution", _start_pipeline_execution)
    _original_describe = patcher.replace(
        SageMakerModelBackend, "describe_pipeline_execution", _describe_pipeline_execution
    )
    patcher.replace(SageMakerResponse, "list_pipeline_executions", _list_pipeline_executions_response)
    patcher.replace(SageMakerResponse, "list_pipeline_execution_steps", _list_pipeline_execution_steps_response)
    patcher.replace(SageMakerResponse, "stop_pipeline_execution", _stop_pipeline_execution_response)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_time(moment)


# ------------------------------------------------------------------------------------------- records


@dataclass
class StepRecord:
    name: str
    step_type: str
    status: str
    sequence: int
    display_name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    failure_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attempt_count: int = 1

    def as_api(self) -> dict[str, Any]:
        step: dict[str, Any] = {"StepName": self.name, "StepStatus": self.status, "AttemptCount": self.attempt_count}
        if self.display_name:
            step["StepDisplayName"] = self.display_name
        if self.start_time:
            step["StartTime"] = self.start_time
        if self.end_time:
            step["EndTime"] = self.end_time
        if self.failure_reason:
            step["FailureReason"] = self.failure_reason
        if self.metadata:
            step["Metadata"] = self.metadata
        return step


@dataclass
class ExecutionRecord:
    arn: str
    pipeline_arn: str
    pipeline_name: str
    account_id: str
    region: str
    moto_execution: Any
    display_name: str | None
    description: str | None
    status: str = "Executing"
    failure_reason: str | None = None
    start_time: datetime = field(default_factory=utc_now)
    end_time: datetime | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class ExecutionRegistry:
    """The ExecutionSink the emulator hands to execution handlers, and the store behind the step APIs."""

    def __init__(self, handler: ExecutionHandler | None, endpoint_url: str):
        self.handler = handler
        self.endpoint_url = endpoint_url
        self._records: dict[str, ExecutionRecord] = {}
        self._lock = threading.RLock()
        self.tokens: dict[tuple[str, str], str] = {}  # (pipeline ARN, ClientRequestToken) -> execution ARN
        self.token_lock = threading.Lock()
        self._sequence = itertools.count()
        self.on_change: Callable[[], None] | None = None  # the launcher's snapshotter, when state is kept

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ start / wait / stop

    def start(self, backend: SageMakerModelBackend, pipeline: Any, execution_arn: str) -> None:
        moto_execution = pipeline.pipeline_executions[execution_arn]
        record = ExecutionRecord(
            arn=execution_arn,
            pipeline_arn=pipeline.arn,
            pipeline_name=pipeline.pipeline_name,
            account_id=backend.account_id,
            region=backend.region_name,
            moto_execution=moto_execution,
            display_name=moto_execution.pipeline_execution_display_name,
            description=moto_execution.pipeline_execution_description,
        )
        with self._lock:
            self._records[execution_arn] = record
        self._apply_execution(record, None)
        request = None
        try:
            request = self._request(record, pipeline)
        except ValueError as error:
            self.execution_status(execution_arn, "Failed", str(error))
            return
        record.thread = threading.Thread(
            target=self._run, args=(record, request), name=f"pipeline-execution-{request.execution_id}", daemon=True
        )
        record.thread.start()

    def _request(self, record: ExecutionRecord, pipeline: Any) -> ExecutionRequest:
        definition = pipeline.pipeline_definition
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"the stored definition of pipeline {pipeline.pipeline_name} is not JSON: {error}"
                ) from None
        if not isinstance(definition, dict):
            raise ValueError(f"the stored definition of pipeline {pipeline.pipeline_name} is not a JSON object")
        parameters = {
            str(p.get("Name")): str(p.get("Value")) for p in (record.moto_execution.pipeline_parameters or [])
        }
        return ExecutionRequest(
            pipeline_name=pipeline.pipeline_name,
            pipeline_arn=pipeline.arn,
            execution_arn=record.arn,
            execution_id=record.arn.rsplit("/", 1)[-1],
            definition=definition,
            parameters=parameters,
            region=record.region,
            account_id=record.account_id,
            endpoint_url=self.endpoint_url,
            display_name=record.display_name,
            role_arn=pipeline.role_arn or None,
        )

    def _run(self, record: ExecutionRecord, request: ExecutionRequest) -> None:
        if self.handler is None:
            self.execution_status(record.arn, "Failed", NO_HANDLER_REASON)
            return
        try:
            self.handler(request, self)
        except Exception as error:
            log.exception("execution handler failed for %s", record.arn)
            if record.status not in FINAL_EXECUTION_STATUSES:
                self.execution_status(record.arn, "Failed", f"{type(error).__name__}: {error}")
            return
        if record.status == "Stopping":
            self.execution_status(record.arn, "Stopped")
        elif record.status not in FINAL_EXECUTION_STATUSES:
            self.execution_status(
                record.arn, "Failed", "the execution handler returned without reporting a final execution status"
            )

    def wait(self, execution_arn: str, timeout: float = 60.0) -> str:
        """Block until the execution's worker has finished; return the execution status."""
        record = self.record(execution_arn)
        if record.thread is not None:
            record.thread.join(timeout)
        return record.status

    def request_stop(self, execution_arn: str) -> None:
        record = self.record(execution_arn)
        with self._lock:
            if record.status != "Executing":
                raise ValidationError(
                    f"Pipeline execution {execution_arn} is {record.status}; only Executing executions can be stopped"
                )
            record.stop.set()
        self.execution_status(execution_arn, "Stopping")

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask every running execution to stop and wait for the workers (used on emulator stop and reset)."""
        with self._lock:
            records = list(self._records.values())
        for record in records:
            record.stop.set()
        for record in records:
            if record.thread is not None and record.thread is not threading.current_thread():
                record.thread.join(timeout)

    def reset(self) -> None:
        self.shutdown()
        with self._lock:
            self._records.clear()
        with self.token_lock:
            self.tokens.clear()

    # ------------------------------------------------------------------ snapshots (see ..persistence)

    def snapshot_state(self) -> dict[str, Any]:
        """The records without their threads and stop events (the moto execution objects are pickled with
        moto's backends in the same snapshot, so they stay the same objects)."""
        skip = {"stop", "thread"}
        with self._lock:
            records = [
                {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name not in skip}
                for record in self._records.values()
            ]
        with self.token_lock:
            tokens = dict(self.tokens)
        return {"records": records, "tokens": tokens}

    def restore_state(self, state: dict[str, Any], interrupted_reason: str) -> list[str]:
        """Take the records of a snapshot; those that had not ended are Failed with `interrupted_reason`
        (nothing runs them any more). No events: the state changed while nobody was listening. Returns the
        ARNs of the interrupted executions."""
        interrupted = []
        now = utc_now()
        with self._lock:
            for fields in state.get("records", []):
                record = ExecutionRecord(**fields)
                if record.status not in FINAL_EXECUTION_STATUSES:
                    interrupted.append(record.arn)
                    for step in record.steps.values():
                        if step.status not in FINAL_STEP_STATUSES:
                            step.status, step.end_time, step.failure_reason = "Failed", now, interrupted_reason
                    record.status, record.failure_reason, record.end_time = "Failed", interrupted_reason, now
                    execution = record.moto_execution
                    execution.pipeline_execution_status = record.status
                    execution.pipeline_execution_failure_reason = record.failure_reason
                    execution.last_modified_time = now
                self._records[record.arn] = record
            sequences = [step.sequence for r in self._records.values() for step in r.steps.values()]
            self._sequence = itertools.count(max(sequences, default=-1) + 1)
        with self.token_lock:
            self.tokens.update(state.get("tokens", {}))
        return interrupted

    def running(self) -> list[ExecutionRecord]:
        with self._lock:
            return [record for record in self._records.values() if record.status not in FINAL_EXECUTION_STATUSES]

    def record(self, execution_arn: str) -> ExecutionRecord:
        with self._lock:
            record = self._records.get(execution_arn)
        if record is None:
            raise ValidationError(f"Could not find pipeline execution with PipelineExecutionArn {execution_arn}.")
        return record

    def find(self, execution_arn: str) -> ExecutionRecord | None:
        with self._lock:
            return self._records.get(execution_arn)

    # ------------------------------------------------------------------ ExecutionSink

    def stop_requested(self, execution_arn: str) -> bool:
        return self.record(execution_arn).stop.is_set()

    def execution_status(self, execution_arn: str, status: str, failure_reason: str | None = None) -> None:
        if status not in EXECUTION_STATUSES:
            raise ValueError(
                f"execution status {status!r} for {execution_arn} is not one of {list(EXECUTION_STATUSES)}"
            )
        record = self.record(execution_arn)
        with self._lock:
            previous = record.status
            if previous in FINAL_EXECUTION_STATUSES:
                raise ValueError(f"execution {execution_arn} is already {previous}; it cannot become {status}")
            if previous == status:
                return
            record.status = status
            if status == "Failed":
                if any(step.status == "Failed" for step in record.steps.values()):
                    failure_reason = STEP_FAILURE_REASON  # the handler's detail stays in the step's FailureReason
                record.failure_reason = failure_reason or "the execution failed (no reason given)"
            if status in FINAL_EXECUTION_STATUSES:
                record.end_time = utc_now()
        self._apply_execution(record, previous)

    def job_finished(self, job_arn: str, status: str, **details: Any) -> None:
        """The end of a processing or training job the handler ran (see `jobs.finish_job`): what
        DescribeProcessingJob / DescribeTrainingJob answer from then on."""
        from .jobs import finish_job

        finish_job(job_arn, status, **details)
        self._changed()

    def step_status(
        self,
        execution_arn: str,
        step_name: str,
        step_type: str,
        status: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        failure_reason: str | None = None,
        metadata: dict[str, Any] | None = None,
        display_name: str | None = None,
    ) -> None:
        if status not in STEP_STATUSES:
            raise ValueError(f"step status {status!r} for step {step_name!r} is not one of {list(STEP_STATUSES)}")
        if not step_name or not step_type:
            raise ValueError(f"step_status for {execution_arn} needs a step name and a step type")
        record = self.record(execution_arn)
        now = utc_now()
        with self._lock:
            step = record.steps.get(step_name)
            previous = step.status if step else None
            if step is None:
                step = StepRecord(name=step_name, step_type=step_type, status=status, sequence=next(self._sequence))
                record.steps[step_name] = step
            elif previous in FINAL_STEP_STATUSES and status not in FINAL_STEP_STATUSES:
                step.attempt_count += 1  # a retried step starts again
                step.end_time = None
                step.failure_reason = None
            step.status = status
            step.step_type = step_type
            step.display_name = display_name or step.display_name
            step.start_time = start_time or step.start_time or now
            if status in FINAL_STEP_STATUSES:
                step.end_time = end_time or step.end_time or now
            if failure_reason:
                step.failure_reason = failure_reason
            if metadata:
                step.metadata = {**step.metadata, **metadata}
            if previous == status and not metadata and not failure_reason:
                return
            detail = self._step_detail(record, step, previous)
        self._changed()
        emit_service_event(
            source="aws.sagemaker",
            detail_type=STEP_DETAIL_TYPE,
            detail=detail,
            resources=[record.pipeline_arn, record.arn],
            account_id=record.account_id,
            region=record.region,
        )

    # ------------------------------------------------------------------ API views and events

    def list_steps(self, execution_arn: str, *, sort_order: str = "Descending") -> list[dict[str, Any]]:
        record = self.record(execution_arn)
        with self._lock:
            steps = sorted(record.steps.values(), key=lambda s: (s.start_time or record.start_time, s.sequence))
            if sort_order != "Ascending":
                steps.reverse()
            return [step.as_api() for step in steps]

    def _apply_execution(self, record: ExecutionRecord, previous: str | None) -> None:
        execution = record.moto_execution
        execution.pipeline_execution_status = record.status
        execution.pipeline_execution_failure_reason = record.failure_reason
        execution.last_modified_time = utc_now()
        self._changed()
        detail: dict[str, Any] = {
            "pipelineArn": record.pipeline_arn,
            "pipelineExecutionArn": record.arn,
            "executionStartTime": iso(record.start_time),
            "currentPipelineExecutionStatus": record.status,
        }
        if previous:
            detail["previousPipelineExecutionStatus"] = previous
        if record.end_time:
            detail["executionEndTime"] = iso(record.end_time)
        if record.display_name:
            detail["pipelineExecutionDisplayName"] = record.display_name
        if record.description:
            detail["pipelineExecutionDescription"] = record.description
        emit_service_event(
            source="aws.sagemaker",
            detail_type=EXECUTION_DETAIL_TYPE,
            detail=detail,
            resources=[record.pipeline_arn, record.arn],
            account_id=record.account_id,
            region=record.region,
        )

    @staticmethod
    def _step_detail(record: ExecutionRecord, step: StepRecord, previous: str | None) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "pipelineArn": record.pipeline_arn,
            "pipelineExecutionArn": record.arn,
            "stepName": step.name,
            "stepType": step.step_type,
            "currentStepStatus": step.status,
            "stepStartTime": iso(step.start_time),
            "metadata": _event_keys(step.metadata),
        }
        if previous:
            detail["previousStepStatus"] = previous
        if step.end_time:
            detail["stepEndTime"] = iso(step.end_time)
        if step.status == "Failed" and step.failure_reason:
            detail["failureReason"] = step.failure_reason
        return detail


def _event_keys(value: Any) -> Any:
    """API-shaped metadata (`{"ProcessingJob": {"Arn": ...}}`) in the events' camelCase (`processingJob.arn`)."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): _event_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_event_keys(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value


def _registry() -> ExecutionRegistry:
    registry = context.active().executions
    if registry is None:
        raise RuntimeError("the emulator has no pipeline execution registry")
    return registry


# ------------------------------------------------------------------------------------------- patches


def _start_pipeline_execution(self: SageMakerModelBackend, pipeline_name: str, *args: Any, **kwargs: Any) -> dict:
    if pipeline_name.startswith("arn:") and ":pipeline/" in pipeline_name:
        pipeline_name = pipeline_name.split(":pipeline/", 1)[1]  # AWS accepts the pipeline ARN as its name
    pipeline = get_pipeline_from_name(self.pipelines, pipeline_name)
    token = kwargs.get("client_request_token", args[4] if len(args) > 4 else None)
    registry = _registry()
    # ClientRequestToken makes the call idempotent: the same token starts no second execution
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartPipelineExecution.html).
    with registry.token_lock:
        known = registry.tokens.get((pipeline.arn, token)) if token else None
        if known is not None:
            return {"PipelineExecutionArn": known}
        result = _original_start(self, pipeline_name, *args, **kwargs)
        if token:
            registry.tokens[(pipeline.arn, token)] = result["PipelineExecutionArn"]
    registry.start(self, pipeline, result["PipelineExecutionArn"])
    return result


def _describe_pipeline_execution(self: SageMakerModelBackend, pipeline_execution_arn: str) -> dict[str, Any]:
    described = _original_describe(self, pipeline_execution_arn)
    record = _registry().find(pipeline_execution_arn)
    if record is not None:
        described["PipelineExecutionStatus"] = record.status
        described["LastModifiedTime"] = record.moto_execution.last_modified_time
        if record.failure_reason:
            described["FailureReason"] = record.failure_reason
        else:
            described.pop("FailureReason", None)
    return described


def _list_pipeline_executions_response(self: SageMakerResponse) -> ActionResult:
    backend = self.sagemaker_backend
    pipeline = get_pipeline_from_name(backend.pipelines, self._get_param("PipelineName"))
    created_after, created_before = self._get_param("CreatedAfter"), self._get_param("CreatedBefore")
    summaries = []
    for arn, execution in pipeline.pipeline_executions.items():
        start = execution.start_time
        if created_after is not None and _naive(start) <= _naive(_as_datetime(created_after)):
            continue
        if created_before is not None and _naive(start) >= _naive(_as_datetime(created_before)):
            continue
        summary = {
            "PipelineExecutionArn": arn,
            "StartTime": start,
            "PipelineExecutionStatus": execution.pipeline_execution_status,
        }
        for key, value in (
            ("PipelineExecutionDescription", execution.pipeline_execution_description),
            ("PipelineExecutionDisplayName", execution.pipeline_execution_display_name),
            ("PipelineExecutionFailureReason", execution.pipeline_execution_failure_reason),
        ):
            if value:
                summary[key] = value
        summaries.append(summary)
    # AWS default: newest first. Executions started in the same instant keep their start order.
    order = list(pipeline.pipeline_executions)
    summaries.sort(key=lambda s: (_naive(s["StartTime"]), order.index(s["PipelineExecutionArn"])))
    if self._get_param("SortOrder", "Descending") != "Ascending":
        summaries.reverse()
    page, next_token = _paginate(summaries, self._get_param("NextToken"), self._get_param("MaxResults"))
    response: dict[str, Any] = {"PipelineExecutionSummaries": page}
    if next_token:
        response["NextToken"] = next_token
    return ActionResult(response)


def _list_pipeline_execution_steps_response(self: SageMakerResponse) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)  # moto's error for unknown ARNs
    registry = _registry()
    steps = (
        registry.list_steps(arn, sort_order=self._get_param("SortOrder", "Descending")) if registry.find(arn) else []
    )
    page, next_token = _paginate(steps, self._get_param("NextToken"), self._get_param("MaxResults"))
    response: dict[str, Any] = {"PipelineExecutionSteps": page}
    if next_token:
        response["NextToken"] = next_token
    return ActionResult(response)


def _stop_pipeline_execution_response(self: SageMakerResponse) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
    _registry().request_stop(arn)
    return ActionResult({"PipelineExecutionArn": arn})


def _paginate(items: list[Any], token: str | None, max_results: Any) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        try:
            start = int(token)
        except ValueError:
            raise ValidationError(f"NextToken {token!r} is not valid") from None
    size = int(max_results) if max_results else 50
    page = items[start : start + size]
    return page, str(start + size) if start + size < len(items) else None


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
