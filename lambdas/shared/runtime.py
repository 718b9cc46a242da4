"""What every handler needs from its runtime: structured logs, environment variables, boto3 clients, errors,
and the redaction of secrets from everything the functions write.

Kept free of heavy imports: boto3 is imported the first time a client is asked for, so a cold start
pays for it only when the invocation actually talks to AWS.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    Parsed = TypeVar("Parsed")
    Configured = TypeVar("Configured")


class ConfigurationError(RuntimeError):
    """The function's environment is missing or malformed (a deployment problem, not an event problem)."""


class EventError(ValueError):
    """The event does not have the shape this function handles; raised so the event lands in the DLQ."""


def event_envelope(event: Any, detail_types: tuple[str, ...]) -> tuple[str, str, str, dict[str, Any]]:
    """The EventBridge envelope's (id, "event <id>" for messages, detail-type, detail), checked: an EventError names
    what is wrong, including a detail-type this function does not handle."""
    if not isinstance(event, dict):
        raise EventError(f"expected an EventBridge event (a JSON object), got {type(event).__name__}")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise EventError("event has no 'id' (an EventBridge envelope always carries one)")
    where = f"event {event_id}"
    detail_type = event.get("detail-type")
    if detail_type not in detail_types:
        handled = " and ".join(f"'{name}'" for name in detail_types)
        raise EventError(f"{where}: unknown detail-type {detail_type!r}; this function handles {handled}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EventError(f"{where}: 'detail' is missing or not an object")
    return event_id, where, detail_type, detail


# ----------------------------------------------------------------------------------------- secret redaction
#
# Whatever reads a secret registers it here; log lines, outbound errors and the exception that leaves a handler
# (the invocation log and the on-failure record) are redacted. A value is also searched in the forms a server may
# echo it back in: URL-encoded (form bodies, paths) and JSON-escaped.

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # shorter values would blank out ordinary words; real tokens and webhook URLs are far longer
_secret_forms: list[str] = []  # longest first, so a form containing another is replaced whole


def register_secret(value: str) -> bool:
    """Redact `value` (and its encoded forms; for a URL also its path, where webhooks keep the credential) from
    now on, in this execution environment. False when it is too short to be redacted safely."""
    import urllib.parse

    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return False
    values = [value]
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:  # e.g. an unbalanced '[': not a URL, the value itself is enough
        parts = None
    if parts and parts.scheme in ("http", "https") and parts.netloc:
        values += [parts.path + (f"?{parts.query}" if parts.query else ""), parts.password or ""]
    forms = set(_secret_forms)
    for raw in values:
        if len(raw) < MIN_SECRET_LENGTH or raw == "/":
            continue
        escaped = json.dumps(raw)[1:-1]
        forms.update((raw, escaped, json.dumps(raw, ensure_ascii=False)[1:-1], escaped.replace("/", "\\/"),
                      urllib.parse.quote(raw), urllib.parse.quote(raw, safe=""), urllib.parse.quote_plus(raw)))
    _secret_forms[:] = sorted(forms, key=lambda form: (-len(form), form))
    return True


def forget_secrets() -> None:
    """Tests only: start from an empty registry."""
    _secret_forms.clear()


def redact(text: str, cut_off: bool = False) -> str:
    """`text` with every registered secret replaced by [REDACTED].

    `cut_off`: the text is the start of something longer (a body read up to a limit), so a secret may begin near
    its end and continue past it: an ending that could be the beginning of a secret is dropped too."""
    for form in _secret_forms:
        if form in text:
            text = text.replace(form, REDACTED)
    if cut_off:
        for form in _secret_forms:
            for size in range(min(len(form) - 1, len(text)), 0, -1):
                if text.endswith(form[:size]):
                    text = text[:-size]
                    break
    return text


def _redacted_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def redact_exception(exc: BaseException) -> BaseException:
    """Redact the message of `exc` and of the exceptions it was raised from (printed with its traceback), in
    place; when an exception type renders its message some other way, a plain RuntimeError carrying the redacted
    text (and the original type's name) is returned instead."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        clean = redact(text)
        if clean != text:
            current.args = (clean,)
        current = current.__cause__ or current.__context__
    if redact(str(exc)) != str(exc):
        replacement = RuntimeError(f"{type(exc).__name__}: {redact(str(exc))}")
        replacement.__suppress_context__ = True
        return replacement
    return exc


def lambda_handler(function: Any) -> Any:
    """Wrap a handler: the exception that reaches the Lambda service (its log and the on-failure record) carries
    no registered secret, whichever code raised it."""
    import functools

    @functools.wraps(function)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return function(event, context)
        except BaseException as exc:
            clean = redact_exception(exc)
            if clean is exc:
                raise
            raise clean from None

    return wrapper


# ----------------------------------------------------------------------------------------- logs

_log_fields: dict[str, Any] = {}


def bind_log_fields(**fields: Any) -> None:
    """Replace the fields added to every log line of the current invocation (e.g. the event id)."""
    _log_fields.clear()
    _log_fields.update({key: value for key, value in fields.items() if value is not None})


def log(level: str, message: str, **fields: Any) -> None:
    """One JSON object per line on stdout (CloudWatch Logs keeps each line as one record); secrets redacted."""
    record = _redacted_value({"level": level, "message": message, **_log_fields, **fields})
    record["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stdout.write(json.dumps(record, sort_keys=False) + "\n")
    sys.stdout.flush()


def begin_invocation(
    function: str, event: Any, parse: Callable[[Any], Parsed], configure: Callable[[], Configured]
) -> tuple[Parsed, Configured]:
    """Every handler's start: the function name and event id on each log line, the event parsed, the configuration
    read. A malformed event or environment is logged as one error line and raised: Lambda retries the event, then
    sends it to the function's on-failure destination."""
    bind_log_fields(function=function, event_id=event.get("id") if isinstance(event, dict) else None)
    try:
        return parse(event), configure()
    except (EventError, ConfigurationError) as exc:
        log("error", str(exc), error_type=type(exc).__name__)
        raise


def require_env(name: str, purpose: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set ({purpose})")
    return value


def optional_env(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_flag(name: str) -> bool:
    """`true`/`false` (any case) or unset/empty = false; anything else is a configuration error."""
    value = optional_env(name).lower()
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise ConfigurationError(f"environment variable {name} must be 'true' or 'false', found {value!r}")


_clients: dict[str, Any] = {}
_session: list[Any] = []  # one boto3 Session: it caches the loaded service models


def client(service: str) -> Any:
    """A boto3 client per service, created on first use and reused by warm invocations.

    The endpoint comes from the standard AWS environment (AWS_ENDPOINT_URL for the local emulator).
    """
    if service not in _clients:
        if not _session:
            import boto3

            _session.append(boto3.session.Session())
        _clients[service] = _session[0].client(service)
    return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocked accounts); the session keeps its loaded models."""
    _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for any other exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def console_base(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"


def current_region(event: dict[str, Any]) -> str:
    return str(event.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "")
