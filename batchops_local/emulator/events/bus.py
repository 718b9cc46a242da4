"""EventBridge rule dispatch as AWS does it (replaces moto's `Rule.send_to_targets`).

- disabled rules and schedule-only rules (no event pattern) never match events;
- every target is delivered on its own: one failing target never cancels the others, nor later rules;
- CloudWatch Logs, archives and other buses go through moto's own delivery; Lambda, SNS, SQS and
  SageMaker pipeline targets are delivered here, with `Input` / `InputPath` / `InputTransformer` applied
  (moto's own template drops `account` and mishandles string values);
- every delivery is appended to `<home>/event-deliveries.jsonl`.

Also the one place that builds the events AWS services emit (`emit_service_event`).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import unix_time
from moto.events.models import Rule, events_backends
from moto.utilities.arns import parse_arn

from .. import context
from ..patching import Patcher
from .input_transform import resolve_pipeline_parameters, target_input

log = logging.getLogger("batchops_local.emulator.events")

NATIVE_TARGET_SERVICES = ("logs", "events")  # delivered by moto itself
OUR_TARGET_SERVICES = ("lambda", "sns", "sqs", "sagemaker")
DELIVERY_LOG_NAME = "event-deliveries.jsonl"
# Context extra: the sources whose every event is emitted twice, with different ids. SageMaker "may send
# multiple events to EventBridge for each state change"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html); consumers must
# cope, and tests switch this on to prove they do.
DUPLICATE_SOURCES = "duplicate_event_sources"

_original_send_to_targets: Any = None
_delivery_log_lock = threading.Lock()


def install(patcher: Patcher) -> None:
    global _original_send_to_targets
    _original_send_to_targets = patcher.replace(Rule, "send_to_targets", dispatch_event)


def iso_time(value: Any) -> str:
    """ISO-8601 UTC (`2026-11-21T06:00:00Z`) for epoch seconds or a datetime (naive ones are UTC, as in moto)."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def new_event(
    *, source: str, detail_type: str, detail: dict[str, Any], resources: list[str], account_id: str, region: str
) -> dict[str, Any]:
    """An event envelope as EventBridge builds it (moto's internal form: numeric `time` + `ingestion-time`)."""
    now = unix_time()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": now,
        "region": region,
        "resources": list(resources),
        "detail": detail,
        "ingestion-time": now,
    }


def emit_service_event(
    *, source: str, detail_type: str, detail: dict[str, Any], resources: list[str], account_id: str, region: str
) -> dict[str, Any]:
    """Send an AWS-service event (S3, SageMaker, ...) to the rules of the default event bus; return it.

    A source named in the context's DUPLICATE_SOURCES sends the same state change a second time, with its own id.
    """
    ctx = context.active_or_none()
    copies = 2 if ctx is not None and source in ctx.extras.get(DUPLICATE_SOURCES, ()) else 1
    bus = events_backends[account_id][region].event_buses.get("default")
    for _ in range(copies):
        event = new_event(
            source=source, detail_type=detail_type, detail=copy.deepcopy(detail), resources=resources,
            account_id=account_id, region=region,
        )
        if bus is not None:
            for rule in list(bus.rules.values()):
                dispatch_event(rule, event)
    return event


def dispatch_event(rule: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    """Replacement of `Rule.send_to_targets`: match the rule's pattern, then deliver to each target."""
    if rule.state == "DISABLED" or not rule.event_pattern.get_pattern():
        return
    if not rule.event_pattern.matches_event(original_event):
        return
    deliver_to_targets(rule, original_event, transform_input=transform_input)


def deliver_to_targets(rule: Rule, original_event: dict[str, Any], *, transform_input: bool = True) -> None:
    for target in list(rule.targets):
        try:
            outcome = _deliver(rule, target, original_event, transform_input)
            _record_delivery(rule, target, original_event, outcome)
        except Exception as error:  # one target's failure must never cancel the others
            log.warning("rule %s: delivery to target %s failed: %s", rule.name, target.get("Id"), error)
            _record_delivery(rule, target, original_event, "failed", error=f"{type(error).__name__}: {error}")


def event_for_targets(original_event: dict[str, Any]) -> dict[str, Any]:
    """The event as a target sees it: ISO-8601 time, no internal fields."""
    event = copy.deepcopy(original_event)
    event.pop("ingestion-time", None)
    event["time"] = iso_time(event.get("time"))
    return event


def _deliver(rule: Rule, target: dict[str, Any], original_event: dict[str, Any], transform_input: bool) -> str:
    arn = parse_arn(target["Arn"])
    if arn.service in NATIVE_TARGET_SERVICES:
        single_target_rule = copy.copy(rule)
        single_target_rule.targets = [target]
        _original_send_to_targets(single_target_rule, copy.deepcopy(original_event), transform_input)
        return "delivered"
    if arn.service not in OUR_TARGET_SERVICES:
        log.warning("rule %s: targets of service %r are not delivered by the local emulator", rule.name, arn.service)
        return "skipped: unsupported target service"
    event = event_for_targets(original_event)
    if arn.service == "sagemaker":
        return _start_pipeline(rule, target, event, arn)
    payload = target_input(target, event, rule_name=rule.name, rule_arn=rule.arn)
    if arn.service == "lambda":
        ctx = context.active()
        if ctx.lambda_invoker is None:
            raise RuntimeError("no Lambda invoker is configured")
        ctx.lambda_invoker.submit(rule=rule, target=target, payload=payload, event=event)
        return "queued"
    message = payload if isinstance(payload, str) else json.dumps(payload)
    if arn.service == "sqs":
        from moto.sqs.models import sqs_backends

        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        sqs_backends[arn.account][arn.region].send_message(
            arn.resource_id, message, group_id=group_id, deduplication_id=event["id"] if group_id else None
        )
        return "delivered"
    from moto.sns.models import sns_backends

    sns_backends[arn.account][arn.region].publish(message=message, arn=target["Arn"])
    return "delivered"


def _start_pipeline(rule: Rule, target: dict[str, Any], event: dict[str, Any], arn: Any) -> str:
    from moto.sagemaker.models import sagemaker_backends

    if arn.resource_type != "pipeline":
        raise ValueError(f"SageMaker target {target['Arn']} is not a pipeline ARN")
    backend = sagemaker_backends[arn.account][arn.region]
    # AWS ARNs lower-case the pipeline name; moto keys pipelines by their given name.
    names = [name for name in backend.pipelines if name.lower() == arn.resource_id.lower()]
    if not names:
        raise ValueError(f"pipeline {arn.resource_id!r} of target {target.get('Id')!r} does not exist")
    parameter_list = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
    parameters = resolve_pipeline_parameters(parameter_list, event)
    result = backend.start_pipeline_execution(names[0], None, parameters, None, None, str(uuid.uuid4()))
    return f"started {result['PipelineExecutionArn']}"


def _record_delivery(
    rule: Rule, target: dict[str, Any], event: dict[str, Any], outcome: str, error: str | None = None
) -> None:
    ctx = context.active_or_none()
    if ctx is None:
        return
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event_id": event.get("id"),
        "source": event.get("source"),
        "detail_type": event.get("detail-type"),
        "rule": rule.name,
        "target_id": target.get("Id"),
        "target_arn": target.get("Arn"),
        "outcome": outcome,
    }
    if error:
        record["error"] = error
    with _delivery_log_lock:
        ctx.home.mkdir(parents=True, exist_ok=True)
        with open(ctx.home / DELIVERY_LOG_NAME, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
