"""The emulator ↔ pipeline-runner contract (docs/architecture.md, "Emulator ↔ runner").

This module imports nothing from moto, so the runner can depend on it without loading the emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

EXECUTION_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")
FINAL_EXECUTION_STATUSES = ("Stopped", "Failed", "Succeeded")
STEP_STATUSES = ("Starting", "Executing", "Stopping", "Stopped", "Failed", "Succeeded")
FINAL_STEP_STATUSES = ("Stopped", "Failed", "Succeeded")


def client_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The environment a client (boto3, Terraform, a Lambda handler) needs to talk to the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_MAX_ATTEMPTS": "2",  # moto answers unimplemented calls with HTTP 500: never retry for minutes
    }


@dataclass
class ExecutionRequest:
    """One started pipeline execution, handed to the registered execution handler."""

    pipeline_name: str
    pipeline_arn: str
    execution_arn: str
    execution_id: str
    definition: dict[str, Any]  # the stored pipeline definition JSON, parsed
    parameters: dict[str, str]  # PipelineParameters as given (strings); defaults are the runner's job
    region: str
    account_id: str
    endpoint_url: str
    display_name: str | None = None  # PipelineExecutionDisplayName, when the caller gave one
    role_arn: str | None = None  # the pipeline's RoleArn: its jobs run with this role's credentials


class ExecutionSink(Protocol):
    """How a handler reports progress; every call is recorded and emits the matching EventBridge event."""

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
        """Record the step for ListPipelineExecutionSteps and emit the step status change event.

        `metadata` uses the ListPipelineExecutionSteps shape, e.g. `{"ProcessingJob": {"Arn": ...}}`.
        """

    def execution_status(self, execution_arn: str, status: str, failure_reason: str | None = None) -> None:
        """Update DescribePipelineExecution and emit the execution status change event."""

    def stop_requested(self, execution_arn: str) -> bool:
        """True once StopPipelineExecution was called for this execution."""


ExecutionHandler = Callable[[ExecutionRequest, ExecutionSink], None]
