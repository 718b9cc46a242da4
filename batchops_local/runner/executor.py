"""Runs one pipeline execution: resolves parameters, walks the step graph, runs ready steps concurrently
(up to the machine's cores), reports every status change through the emulator's sink, keeps logs.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchops_local.emulator.contracts import ExecutionSink
from batchops_local.runner.aws import AwsClients
from batchops_local.runner.dag import StepSpec, branch_steps, build_graph
from batchops_local.runner.errors import DefinitionError, StepFailed, StepStopped
from batchops_local.runner.expressions import PropertyFile, Resolver, coerce_parameters
from batchops_local.runner.logs import StepLog, batchops_home, step_dir
from batchops_local.validation import RequestInvalid, validate


@dataclass
class StepResult:
    properties: dict[str, Any] = field(default_factory=dict)
    condition_outcome: bool | None = None  # Condition steps only: which branch runs


@dataclass
class StepContext:
    """What a step handler gets: its definition, the execution's state and clients, its log and directory."""

    spec: StepSpec
    request: Any
    aws: AwsClients
    resolver: Resolver
    log: StepLog
    directory: Path
    stop_requested: Callable[[], bool]
    metadata: dict[str, Any] = field(default_factory=dict)
    keep_job_dirs: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def execution_id(self) -> str:
        return self.request.execution_id

    def arguments(self, **job_variables: str) -> dict[str, Any]:
        """The step's resolved Arguments; job variables such as ProcessingJobName resolve as given.

        The resolved request is checked against the SageMaker operation the step calls on AWS (as SageMaker does
        when it starts the step's job): an out-of-contract request fails the step with AWS's message.
        """
        resolver = self.resolver.for_job(**job_variables) if job_variables else self.resolver
        arguments = resolver.resolve(self.spec.definition.get("Arguments") or {})
        if not isinstance(arguments, dict):
            raise StepFailed(f"step '{self.name}': Arguments must be a map")
        validate_step_request(self.spec.type, arguments, job_variables)
        return arguments

    def step_field(self, key: str, default: Any = None) -> Any:
        """A resolved step-level key (QualityCheck's SkipCheck, RegisterModel's extras, ...)."""
        return self.resolver.resolve(self.spec.definition.get(key, default))


StepHandler = Callable[[StepContext], StepResult]

# Step type → the SageMaker operation its Arguments are the request of, and the name member SageMaker fills in
# (a pipeline definition leaves job names to the service).
STEP_OPERATIONS: dict[str, tuple[str, str | None]] = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "QualityCheck": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
    "Model": ("CreateModel", "ModelName"),
    "RegisterModel": ("CreateModelPackage", None),
}
_FILLED_NAME = "filled-by-sagemaker"  # satisfies every job-name pattern and length; stands for the real name


def validate_step_request(step_type: str, arguments: dict[str, Any], job_variables: dict[str, str]) -> None:
    """Fail the step as SageMaker does when the job request it would send is outside the API's contract."""
    found = STEP_OPERATIONS.get(step_type)
    if found is None:
        return
    operation, name_member = found
    request = dict(arguments)
    if name_member is not None and request.get(name_member) is None:
        request[name_member] = job_variables.get(name_member, _FILLED_NAME)
    try:
        validate("sagemaker", operation, request)
    except RequestInvalid as invalid:
        # the FailureReason SageMaker Pipelines records when the step's Create* call is refused
        raise StepFailed(f"ClientError: Failed to invoke sagemaker:{operation}. Error Details: {invalid}") from None


def _now() -> datetime:
    return datetime.now(UTC)


class ExecutionRun:
    def __init__(self, request: Any, sink: ExecutionSink, handlers: dict[str, StepHandler], *,
                 home: Path | None = None, max_workers: int | None = None):
        self.request = request
        self.sink = sink
        self.handlers = handlers
        self.home = Path(home) if home else batchops_home()
        self.max_workers = max_workers or os.cpu_count() or 1
        self.aws = AwsClients(request.endpoint_url, request.region, request.account_id,
                              role_arn=getattr(request, "role_arn", None))
        self.keep_job_dirs = os.environ.get("BATCHOPS_KEEP_JOB_DIRS", "") == "1"
        self._status_lock = threading.Lock()

    @property
    def arn(self) -> str:
        return self.request.execution_arn

    def stop_requested(self) -> bool:
        return bool(self.sink.stop_requested(self.arn))

    def run(self) -> str:
        """Execute to the end; returns the final execution status."""
        self.sink.execution_status(self.arn, "Executing")
        try:
            graph, resolver = self._prepare()
        except DefinitionError as exc:
            return self._finish("Failed", str(exc))
        return self._walk(graph, resolver)

    def _prepare(self) -> tuple[dict[str, StepSpec], Resolver]:
        definition = self.request.definition
        graph = build_graph(definition)
        parameters = coerce_parameters(definition.get("Parameters") or [], dict(self.request.parameters or {}))
        started = _now()
        variables: dict[str, Any] = {
            "PipelineExecutionId": self.request.execution_id, "PipelineExecutionArn": self.arn,
            "PipelineName": self.request.pipeline_name, "PipelineArn": self.request.pipeline_arn,
            "StartDateTime": started.isoformat(), "CurrentDateTime": lambda: _now().isoformat(),
        }
        property_files = {spec.name: _property_files(spec) for spec in graph.values()}
        resolver = Resolver(parameters, variables, {}, property_files, self.aws.read_json)
        return graph, resolver

    def _walk(self, graph: dict[str, StepSpec], resolver: Resolver) -> str:
        active = {name for name, spec in graph.items() if spec.condition is None}
        succeeded: set[str] = set()
        started: set[str] = set()
        running: dict[Future, StepSpec] = {}
        failure: str | None = None
        stopped = False
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="step") as pool:
            while True:
                if failure is None and not stopped and self.stop_requested():
                    stopped = True
                if failure is None and not stopped:
                    for name in sorted(active - started):
                        if graph[name].dependencies <= succeeded:
                            started.add(name)
                            running[pool.submit(self._run_step, graph[name], resolver)] = graph[name]
                if not running:
                    break
                done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    spec = running.pop(future)
                    status, outcome, reason = future.result()
                    if status == "Succeeded":
                        succeeded.add(spec.name)
                        resolver.step_properties[spec.name] = outcome.properties
                        if outcome.condition_outcome is not None:
                            active.update(branch_steps(spec.definition, outcome.condition_outcome))
                    elif status == "Stopped":
                        stopped = True
                    elif failure is None:
                        failure = reason if spec.type == "Fail" else f"Step '{spec.name}' failed: {reason}"
        if failure is not None:
            return self._finish("Failed", failure)
        if stopped:
            return self._finish("Stopped", None)
        return self._finish("Succeeded", None)

    def _finish(self, status: str, reason: str | None) -> str:
        self.sink.execution_status(self.arn, status, reason)
        return status

    def _run_step(self, spec: StepSpec, resolver: Resolver) -> tuple[str, StepResult | None, str | None]:
        directory = step_dir(self.home, self.request.execution_id, spec.name)
        log = StepLog(directory)
        context = StepContext(spec=spec, request=self.request, aws=self.aws, resolver=resolver, log=log,
                              directory=directory, stop_requested=self.stop_requested,
                              keep_job_dirs=self.keep_job_dirs)
        start = _now()
        record: dict[str, Any] = {"StepName": spec.name, "StepType": spec.type, "StartTime": start.isoformat()}
        self._step_status(spec, "Starting", start_time=start)
        self._step_status(spec, "Executing", start_time=start)
        log.note(f"step '{spec.name}' ({spec.type}) started")
        status, result, reason = "Failed", None, None
        try:
            handler = self.handlers.get(spec.type)
            if handler is None:
                raise StepFailed(f"step type '{spec.type}' has no local implementation in the runner "
                                 f"(supported: {', '.join(sorted(self.handlers))})")
            result = handler(context)
            status = "Succeeded"
        except StepFailed as exc:
            reason = exc.reason
            if exc.metadata:
                context.metadata.update(exc.metadata)
        except StepStopped:
            status, reason = "Stopped", "the execution was stopped"
            self._step_status(spec, "Stopping", start_time=start)
        except Exception as exc:  # a bug or an unexpected service error must still fail the step visibly
            reason = f"{type(exc).__name__}: {exc}"
            log.write(traceback.format_exc())
        end = _now()
        log.note(f"step '{spec.name}' {status.lower()}" + (f": {reason}" if reason else ""))
        record.update({"StepStatus": status, "EndTime": end.isoformat(), "FailureReason": reason,
                       "Metadata": context.metadata, "Properties": result.properties if result else None})
        log.write_record(record)
        self._step_status(spec, status, start_time=start, end_time=end,
                          failure_reason=reason if status == "Failed" else None, metadata=context.metadata)
        return status, result, reason

    def _step_status(self, spec: StepSpec, status: str, **details: Any) -> None:
        with self._status_lock:  # the sink sees each step's transitions in order, one call at a time
            self.sink.step_status(self.arn, spec.name, spec.type, status, display_name=spec.display_name,
                                  **details)


def _property_files(spec: StepSpec) -> dict[str, PropertyFile]:
    files = {}
    for entry in spec.definition.get("PropertyFiles") or []:
        name = entry.get("PropertyFileName")
        if not name or not entry.get("OutputName") or not entry.get("FilePath"):
            raise DefinitionError(f"step '{spec.name}': each PropertyFiles entry needs PropertyFileName, "
                                  "OutputName and FilePath")
        files[name] = PropertyFile(spec.name, name, entry["OutputName"], entry["FilePath"])
    return files
