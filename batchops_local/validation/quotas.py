"""Checks of the documented quotas in batchops_core/quotas.py that a request alone decides.

Each check takes the parsed request and returns the (code, message) AWS answers, or None. PutEvents is not here:
AWS refuses an oversized entry inside a successful response (gate.py).
"""

from __future__ import annotations

import json
from typing import Any

from batchops_core.quotas import limit


def lambda_environment(params: dict[str, Any]) -> tuple[str, str] | None:
    variables = ((params.get("Environment") or {}).get("Variables")) or {}
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) <= limit("lambda.environment_bytes"):
        return None
    # the message AWS Lambda gives (it quotes the measured JSON)
    return ("InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}")


def ssm_standard_parameter(params: dict[str, Any]) -> tuple[str, str] | None:
    value = params.get("Value")
    if not isinstance(value, str) or params.get("Tier") in ("Advanced", "Intelligent-Tiering"):
        return None  # Intelligent-Tiering upgrades a parameter that needs it
    if len(value) <= limit("ssm.standard_parameter_value"):
        return None
    return ("ValidationException",
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
            "parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see "
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")


def sns_message(params: dict[str, Any], topic_limit: int | None) -> tuple[str, str] | None:
    message = params.get("Message")
    if not isinstance(message, str):
        return None
    size = len(message.encode())
    for name, attribute in (params.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        value = attribute.get("StringValue") if attribute.get("StringValue") is not None else attribute.get(
            "BinaryValue") or b""
        size += len(value.encode() if isinstance(value, str) else value)
    allowed = topic_limit or limit("sns.message_bytes")
    if size <= allowed:
        return None
    return "InvalidParameter", "Invalid parameter: Message too long"


def put_events_entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's entry size (eb-putevent-size.html)."""
    size = 14 if entry.get("Time") is not None else 0
    for member in ("Source", "DetailType", "Detail"):
        if isinstance(entry.get(member), str):
            size += len(entry[member].encode())
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def put_events_refusal(entry: dict[str, Any]) -> dict[str, str] | None:
    allowed = limit("events.put_events_entry_bytes")
    size = put_events_entry_size(entry)
    if size <= allowed:
        return None
    return {"ErrorCode": "InvalidArgument",
            "ErrorMessage": f"Event entry size {size} bytes exceeds the limit of {allowed} bytes."}


REQUEST_CHECKS = {
    ("lambda", "CreateFunction"): lambda_environment,
    ("lambda", "UpdateFunctionConfiguration"): lambda_environment,
    ("ssm", "PutParameter"): ssm_standard_parameter,
}
