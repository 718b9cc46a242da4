"""The emulator's request gate: every request moto serves is checked against botocore's model of its operation
(and the documented quotas) before moto handles it; an out-of-contract request gets AWS's error instead of
being stored.

Hook: moto's `BaseResponse.call_action` (every service but S3, after moto has worked out the operation and, for
services with automated parsing, parsed the parameters) and S3's `_bucket_response`/`_key_response` (inside
the try that turns S3 errors into responses). Parameters are parsed with moto's protocol parsers (json,
rest-json, query, rest-xml; moto/core/parse.py) into botocore member names, so the same validator serves the
emulator and the runner. Errors are serialised by moto's protocol serialisers, so each protocol reports them
its own way (JSON `__type`, query `<ErrorResponse>`, S3 `<Error>`).
"""

from __future__ import annotations

import functools
import json
import logging
import warnings
from typing import Any

from . import quotas
from .shapes import RequestInvalid, service_model, violations

log = logging.getLogger("batchops_local.validation")
# moto warns when an error code is not among the service model's error shapes (ValidationException rarely is)
warnings.filterwarnings("ignore", message=r"Exception\(RequestRejected\)")

# The services the stack calls (boto3 names). S3's model carries almost no constraints; the others do.
VALIDATED = frozenset({"s3", "events", "lambda", "sns", "sqs", "kms", "iam", "ssm", "secretsmanager", "dynamodb",
                       "logs", "sts", "sagemaker"})

# The code each service answers a model-constraint violation with. JSON services built on AWS's common framework
# answer ValidationException; the query services IAM, STS and SNS answer ValidationError; CloudWatch Logs answers
# InvalidParameterException; SQS InvalidParameterValue; S3 InvalidArgument.
VALIDATION_CODES = {"logs": "InvalidParameterException", "iam": "ValidationError", "sts": "ValidationError",
                    "sns": "ValidationError", "sqs": "InvalidParameterValue", "s3": "InvalidArgument"}
JSON_PROTOCOLS = frozenset({"json", "rest-json"})


class _Rejection(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def install(patcher: Any) -> None:
    from moto.core.responses import BaseResponse
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    original_call_action = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        try:
            rewritten = _check(self)
        except _Rejection as rejection:
            return _error_response(self, rejection)
        if rewritten is None:
            return original_call_action(self)
        return rewritten(original_call_action)

    patcher.replace(BaseResponse, "call_action", call_action)

    for name in ("_bucket_response", "_key_response"):
        original = getattr(S3Response, name)

        def checked(self: Any, request: Any, full_url: str, _original: Any = original) -> Any:
            try:
                _check(self)
            except _Rejection as rejection:
                raise S3ClientError(rejection.code, rejection.message) from None
            return _original(self, request, full_url)

        patcher.replace(S3Response, name, checked)


def _error_response(response: Any, rejection: _Rejection) -> Any:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult

    class RequestRejected(ServiceException):  # defined outside moto's packages: moto looks it up in no model
        pass

    error = RequestRejected(rejection.code, rejection.message)
    status, headers, body = response.serialized(ActionResult(error))
    return rejection.status or status, headers, body


def _operation(response: Any) -> tuple[str, Any] | None:
    service = response.boto3_service_name
    if service not in VALIDATED:
        return None
    try:
        action = response._get_action()
    except Exception:  # noqa: BLE001 - moto cannot tell the operation: it answers that itself
        return None
    if not action:
        return None
    model = service_model(service)
    if action not in model.operation_names:
        return None
    return service, model.operation_model(action)


def parse_parameters(response: Any, operation: Any) -> dict[str, Any]:
    """The request as botocore member names and Python values, by moto's parser for the request's protocol."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol

    request = response.normalized_request
    moto_operation = _moto_operation(response.boto3_service_name, operation.name)
    protocol = determine_request_protocol(moto_operation.service_model, request.content_type)
    body = response.raw_body if isinstance(response.raw_body, (bytes, str)) else request.data
    if response.boto3_service_name == "s3" and operation.name in ("PutObject", "UploadPart"):
        body = b""  # the object's bytes are the payload: nothing to validate, no reason to parse them
    return PROTOCOL_PARSERS[protocol](moto_operation, map_type=dict).parse({
        "method": request.method, "values": request.values, "headers": request.headers, "body": body,
        "url_path": request.path, "url_params": response.uri_match or _uri_params(response, operation),
    })


@functools.cache
def _moto_operation(service: str, operation: str) -> Any:
    from moto.core.utils import get_service_model

    return get_service_model(service).operation_model(operation)


def _uri_params(response: Any, operation: Any) -> dict[str, Any]:
    if response.boto3_service_name != "s3":
        return {}
    params = {"Bucket": getattr(response, "bucket_name", None)}
    if "Key" in (operation.input_shape.members if operation.input_shape else {}):
        try:
            params["Key"] = response.parse_key_name()
        except Exception:  # noqa: BLE001
            pass
    return {k: v for k, v in params.items() if v}


def _check(response: Any) -> Any:
    """Raise _Rejection for an out-of-contract request; return a wrapper of the call for PutEvents refusals."""
    found = _operation(response)
    if found is None:
        return None
    service, operation = found
    try:
        params = parse_parameters(response, operation)
    except Exception as error:  # noqa: BLE001 - a request moto's parsers cannot read is moto's to answer
        log.debug("not validated: %s %s: cannot parse the request (%s)", service, operation.name, error)
        return None
    found_violations = violations(service, operation.name, params)
    if found_violations:
        invalid = RequestInvalid(found_violations)
        protocol = operation.service_model.protocol
        code = "SerializationException" if invalid.type_error and protocol in JSON_PROTOCOLS else (
            VALIDATION_CODES.get(service, "ValidationException"))
        raise _Rejection(code, str(invalid))
    check = quotas.REQUEST_CHECKS.get((service, operation.name))
    refusal = check(params) if check else None
    if service == "sns" and operation.name == "Publish":
        refusal = quotas.sns_message(params, _sns_topic_limit(response, params))
    if refusal is not None:
        raise _Rejection(*refusal)
    if service == "events" and operation.name == "PutEvents":
        return _put_events_refusals(response, params)
    return None


def _sns_topic_limit(response: Any, params: dict[str, Any]) -> int | None:
    arn = params.get("TopicArn") or params.get("TargetArn")
    try:
        from moto.sns.models import sns_backends

        topic = sns_backends[response.current_account][response.region].topics.get(arn)
        return int(topic.attributes["MaximumMessageSize"]) if topic else None  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - no such attribute: the default applies
        return None


def _put_events_refusals(response: Any, params: dict[str, Any]) -> Any:
    """AWS refuses an oversized entry in the response (FailedEntryCount, Entries[i].ErrorCode), not the request."""
    entries = params.get("Entries") or []
    refusals = [quotas.put_events_refusal(entry) for entry in entries]
    if not any(refusals):
        return None
    accepted = [entry for entry, refusal in zip(entries, refusals, strict=True) if refusal is None]

    def call(original: Any) -> Any:
        results: list[dict[str, Any]] = []
        status, headers = 200, dict(response.response_headers)
        if accepted:
            body = json.loads(response.body) if isinstance(response.body, str) and response.body else {}
            body["Entries"] = accepted
            response.body = json.dumps(body)
            status, headers, raw = original(response)
            if status != 200:
                return status, headers, raw
            results = list(json.loads(raw)["Entries"])
        merged = [refusal if refusal is not None else results.pop(0) for refusal in refusals]
        failed = sum(1 for item in merged if "ErrorCode" in item)
        return status, headers, json.dumps({"FailedEntryCount": failed, "Entries": merged})

    return call
