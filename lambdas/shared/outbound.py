"""Secrets and outbound HTTP calls (Slack-compatible webhooks, the GitLab trigger API).

Secret values never appear in logs or error messages: every secret read is registered for redaction
(`lambdas.shared.runtime.redact`), and URLs are shown without their path and query (webhook URLs carry their
credential in the path).
"""

from __future__ import annotations

import json

from lambdas.shared.runtime import client, log, redact, register_secret

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

HTTP_TIMEOUT_SECONDS = 10.0
ERROR_DETAIL_CHARS = 300  # how much of an error answer's body an OutboundError quotes
ERROR_BODY_READ_BYTES = 16384  # read beyond the quote, so a secret echoed across the cut is found whole


class OutboundError(RuntimeError):
    """An outbound call failed; raised so Lambda retries the (asynchronous) invocation. Its message is redacted."""

    def __init__(self, message: str):
        super().__init__(redact(message))


def read_secret(name: str, json_keys: tuple[str, ...]) -> str:
    """A secret string from Secrets Manager: the raw value, or the first of `json_keys` when it is JSON."""
    try:
        value = client("secretsmanager").get_secret_value(SecretId=name).get("SecretString", "")
    except Exception as exc:
        raise OutboundError(f"could not read secret {name!r} from Secrets Manager: {type(exc).__name__}") from exc
    value = (value or "").strip()
    if value.startswith("{"):
        try:
            document = json.loads(value)
        except json.JSONDecodeError as exc:
            raise OutboundError(f"secret {name!r} looks like JSON but does not parse (line {exc.lineno})") from None
        found = next((document[key] for key in json_keys if isinstance(document.get(key), str)), "")
        if not found:
            raise OutboundError(f"secret {name!r} is JSON without a string field {' or '.join(json_keys)}")
        value = found.strip()
    if not value:
        raise OutboundError(f"secret {name!r} is empty")
    if not register_secret(value):
        log("warning", f"secret {name!r} is too short to be redacted from logs and errors reliably")
    return value


def safe_url(url: str) -> str:
    """scheme://host[:port] only: enough to say where a call went without revealing credentials."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def post(url: str, body: bytes, content_type: str, what: str, timeout: float | None = None) -> dict[str, Any]:
    """POST and return {"status", "body"}; any non-2xx answer, timeout or connection error raises OutboundError."""
    import urllib.error
    import urllib.parse
    import urllib.request  # imported on use: urllib.request alone costs a cold start ~80 ms

    timeout = HTTP_TIMEOUT_SECONDS if timeout is None else timeout
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise OutboundError(f"{what}: the URL must start with https:// (or http://), found {safe_url(url)!r}")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # scheme checked above
            return {"status": response.status, "body": response.read(4096).decode("utf-8", "replace")}
    except urllib.error.HTTPError as exc:
        raw = exc.read(ERROR_BODY_READ_BYTES + 1)
        # Redacted before the cut: a secret the server echoes across the cut must not leave its first half.
        text = raw[:ERROR_BODY_READ_BYTES].decode("utf-8", "replace")
        detail = redact(text, cut_off=len(raw) > ERROR_BODY_READ_BYTES)
        detail = " ".join(detail.split())[:ERROR_DETAIL_CHARS]
        raise OutboundError(f"{what} at {safe_url(url)} answered HTTP {exc.code}: {detail}") from None
    except TimeoutError as exc:
        raise OutboundError(f"{what} at {safe_url(url)} timed out after {timeout:g} s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise OutboundError(f"{what} at {safe_url(url)} timed out after {timeout:g} s") from None
        raise OutboundError(f"{what} at {safe_url(url)} failed: {exc.reason}") from None


def post_json(url: str, payload: dict[str, Any], what: str, timeout: float | None = None) -> dict[str, Any]:
    return post(url, json.dumps(payload).encode("utf-8"), "application/json", what, timeout)


def post_form(url: str, fields: dict[str, str], what: str, timeout: float | None = None) -> dict[str, Any]:
    import urllib.parse

    body = urllib.parse.urlencode(fields).encode("utf-8")
    return post(url, body, "application/x-www-form-urlencoded", what, timeout)
