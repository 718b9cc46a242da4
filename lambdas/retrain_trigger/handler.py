"""retrain_trigger Lambda: a model-quality violation of batch inference starts training with HPO, once.

The retraining rule matches the Failed status of the inference pipeline's ModelQualityViolated step (the Fail
step a genuine violation leads to). SageMaker may send one state change more than once, with different event
ids (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html), so:

1. the violating execution is claimed in the dedup table (key `retrain:<execution ARN>`): a redelivery does
   nothing;
2. StartPipelineExecution carries a ClientRequestToken derived from the execution ARN: should two invocations
   get past the claim (an expired lease), SageMaker starts the pipeline only once for that token.

The pipeline parameters are RETRAIN_PARAMETERS (a JSON object, set by Terraform: the training data location).
"""

from __future__ import annotations

import hashlib
import json
from collections import namedtuple

from batchops_core import contracts
from lambdas.shared import claims
from lambdas.shared.runtime import (
    ConfigurationError,
    EventError,
    begin_invocation,
    bind_log_fields,
    client,
    event_envelope,
    lambda_handler,
    log,
    require_env,
)

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

FUNCTION = "retrain_trigger"
FAILED = "Failed"

Settings = namedtuple("Settings", "dedup_table pipeline parameters")
Violation = namedtuple("Violation", "event_id execution_arn step status")


def settings_from_env() -> Settings:
    raw = require_env("RETRAIN_PARAMETERS", "the parameters the training-with-HPO pipeline is started with")
    try:
        parameters = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"RETRAIN_PARAMETERS is not valid JSON: {exc.msg}") from None
    if not isinstance(parameters, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in parameters.items()
    ):
        raise ConfigurationError("RETRAIN_PARAMETERS must be a JSON object of parameter name to string value")
    return Settings(
        dedup_table=require_env("DEDUP_TABLE", "the DynamoDB table that makes redelivered events a no-op"),
        pipeline=require_env("RETRAIN_PIPELINE_NAME", "the training-with-HPO pipeline this function starts"),
        parameters=parameters,
    )


def parse_event(event: Any) -> Violation:
    event_id, where, _, detail = event_envelope(event, (contracts.STEP_STATUS_DETAIL_TYPE,))
    values = []
    for key in ("pipelineExecutionArn", "stepName", "currentStepStatus"):
        if not isinstance(detail.get(key), str) or not detail[key]:
            raise EventError(f"{where}: detail.{key} is missing or not a string")
        values.append(detail[key])
    return Violation(event_id, *values)


def request_token(execution_arn: str) -> str:
    """The same violating execution always gives the same token: 64 hex characters (ClientRequestToken takes 32
    to 128: botocore's SageMaker model, shape IdempotencyToken)."""
    return hashlib.sha256(f"retrain:{execution_arn}".encode()).hexdigest()


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    violation, settings = begin_invocation(FUNCTION, event, parse_event, settings_from_env)
    bind_log_fields(function=FUNCTION, event_id=violation.event_id, execution_arn=violation.execution_arn)
    if violation.step != contracts.Step.MODEL_QUALITY_VIOLATED or violation.status != FAILED:
        log("info", f"ignored: step {violation.step} {violation.status}", outcome="ignored")
        return {"status": "ignored", "reason": f"step {violation.step} {violation.status}"}

    def start(claim: claims.EventClaim) -> dict[str, Any]:
        started = claim.remember("execution", lambda: _start(settings, violation.execution_arn))
        log("info", "retraining started", outcome="started", retraining_execution_arn=started)
        return {"status": "started", "execution_arn": started, "violating_execution_arn": violation.execution_arn}

    return claims.handle_once(settings.dedup_table, f"retrain:{violation.execution_arn}", start,
                              claims.lease_seconds_for(context))


def _start(settings: Settings, violating_execution_arn: str) -> str:
    response = client("sagemaker").start_pipeline_execution(
        PipelineName=settings.pipeline,
        PipelineParameters=[{"Name": name, "Value": value} for name, value in sorted(settings.parameters.items())],
        PipelineExecutionDescription=f"Retraining after a model-quality violation in {violating_execution_arn}",
        ClientRequestToken=request_token(violating_execution_arn),
    )
    return str(response["PipelineExecutionArn"])
