"""SageMaker pipeline status-change events (execution and step), parsed and checked.

Shapes: the EventBridge envelope with `detail` as SageMaker sends it for
`SageMaker Model Building Pipeline Execution Status Change` and
`SageMaker Model Building Pipeline Execution Step Status Change`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import namedtuple
from datetime import UTC, datetime

from batchops_core import contracts
from lambdas.shared.runtime import EventError, event_envelope

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

EXECUTION_DETAIL_TYPE = contracts.EXECUTION_STATUS_DETAIL_TYPE
STEP_DETAIL_TYPE = contracts.STEP_STATUS_DETAIL_TYPE
EXECUTION_STATUSES = contracts.EXECUTION_STATUSES
STEP_STATUSES = contracts.STEP_STATUSES
# The two values the notification logic branches on (members of both tuples above).
SUCCEEDED, FAILED = "Succeeded", "Failed"

# The step names of the product's pipelines; another name still gets notified, with a warning in the log.
KNOWN_STEPS = frozenset(contracts.ALL_STEPS)

_PIPELINE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>\d{12}):pipeline/(?P<name>.+)$"
)


_EVENT_FIELDS = (
    "event_id kind pipeline pipeline_arn execution_arn execution_id region status "
    "previous_status step step_type start_time end_time failure_reason display_name metadata"
)


class PipelineEvent(namedtuple("PipelineEvent", _EVENT_FIELDS, defaults=("", "", "", None, None, "", "", None))):
    """One status change; `kind` is "execution" or "step"; times are aware datetimes or None."""

    __slots__ = ()

    @property
    def duration_seconds(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return max(0.0, (self.end_time - self.start_time).total_seconds())


def state_change_key(event: PipelineEvent) -> str:
    """The dedup claim key of the state change this event reports, the same for every copy of it.

    SageMaker "may send multiple events to EventBridge for each state change", each with its own event id
    (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html), so the claim is
    on the state change, not the id: the execution ARN, the step (none for an execution event), the previous and
    current status and the start and end times from the detail. The times keep apart the same change repeated after
    RetryPipelineExecution (the retried steps start again, the execution ends again). Hashed: an execution ARN may
    take 2048 characters (botocore's SageMaker model, PipelineExecutionArn), as many bytes as a DynamoDB partition
    key holds (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)."""
    times = [moment.isoformat() if moment else "" for moment in (event.start_time, event.end_time)]
    change = [event.kind, event.execution_arn, event.step, event.previous_status, event.status, *times]
    return "state-change:" + hashlib.sha256(json.dumps(change).encode()).hexdigest()


def parse_event(event: Any) -> PipelineEvent:
    """Check the envelope and detail; every problem is an EventError naming the field and the event."""
    event_id, where, detail_type, detail = event_envelope(event, (EXECUTION_DETAIL_TYPE, STEP_DETAIL_TYPE))

    def text(key: str, required: bool) -> str:
        value = detail.get(key)
        if value is None or value == "":
            if required:
                raise EventError(f"{where}: detail.{key} is missing (required in a '{detail_type}' event)")
            return ""
        if not isinstance(value, str):
            raise EventError(f"{where}: detail.{key} must be a string, found {type(value).__name__}")
        return value

    pipeline_arn = text("pipelineArn", required=True)
    match = _PIPELINE_ARN.match(pipeline_arn)
    if not match:
        raise EventError(f"{where}: detail.pipelineArn {pipeline_arn!r} is not a SageMaker pipeline ARN")
    execution_arn = text("pipelineExecutionArn", required=True)
    execution_prefix = pipeline_arn + "/execution/"
    if not execution_arn.startswith(execution_prefix) or len(execution_arn) == len(execution_prefix):
        raise EventError(
            f"{where}: detail.pipelineExecutionArn {execution_arn!r} is not an execution of {pipeline_arn}"
        )
    common: dict[str, Any] = {
        "event_id": event_id,
        "pipeline": match.group("name"),
        "pipeline_arn": pipeline_arn,
        "execution_arn": execution_arn,
        "execution_id": execution_arn[len(execution_prefix) :],
        "region": str(event.get("region") or match.group("region")),
    }
    if detail_type == EXECUTION_DETAIL_TYPE:
        status = _status(
            where, "currentPipelineExecutionStatus", text("currentPipelineExecutionStatus", True), EXECUTION_STATUSES
        )
        previous = text("previousPipelineExecutionStatus", False)
        return PipelineEvent(
            kind="execution",
            status=status,
            previous_status=previous,
            start_time=_timestamp(where, "executionStartTime", text("executionStartTime", False)),
            end_time=_timestamp(where, "executionEndTime", text("executionEndTime", False)),
            display_name=text("pipelineExecutionDisplayName", False),
            **common,
        )
    metadata = detail.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise EventError(f"{where}: detail.metadata must be an object, found {type(metadata).__name__}")
    return PipelineEvent(
        kind="step",
        status=_status(where, "currentStepStatus", text("currentStepStatus", True), STEP_STATUSES),
        previous_status=text("previousStepStatus", False),
        step=text("stepName", True),
        step_type=text("stepType", False),
        start_time=_timestamp(where, "stepStartTime", text("stepStartTime", False)),
        end_time=_timestamp(where, "stepEndTime", text("stepEndTime", False)),
        failure_reason=text("failureReason", False),
        metadata=metadata,
        **common,
    )


def _status(where: str, key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise EventError(f"{where}: detail.{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _timestamp(where: str, key: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"{where}: detail.{key} {value!r} is not an ISO-8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
