"""S3 → EventBridge as AWS does it.

- `GetBucketNotificationConfiguration` returns `EventBridgeConfiguration` when it is enabled (moto stores
  it but leaves it out, so `terraform plan` always showed `eventbridge = false -> true`);
- object events reach the default event bus with a unique event id each (moto reuses one fixed id, which
  defeats consumers' de-duplication), the real `detail` field names (`etag`) and `reason` values
  (`PutObject`, `CopyObject`, `CompleteMultipartUpload`, ...).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from moto.s3 import notifications
from moto.s3.responses import S3Response

from ..events.bus import emit_service_event
from ..patching import Patcher

log = logging.getLogger("batchops_local.emulator.s3")

_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}
_EMPTY_CONFIGURATION = re.compile(rb"<NotificationConfiguration([^>]*)/>")

_original_get_bucket_notification: Any = None


def install(patcher: Patcher) -> None:
    global _original_get_bucket_notification
    _original_get_bucket_notification = patcher.replace(S3Response, "get_bucket_notification", _get_bucket_notification)
    patcher.replace(notifications, "_send_event_bridge_message", _send_event_bridge_message)


def _get_bucket_notification(self: S3Response) -> Any:
    response = _original_get_bucket_notification(self)
    configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
    if configuration is None or configuration.event_bridge is None:
        return response
    status, headers, body = response
    raw = body.encode() if isinstance(body, str) else body
    if b"EventBridgeConfiguration" in raw:
        return response
    if _EMPTY_CONFIGURATION.search(raw):
        raw = _EMPTY_CONFIGURATION.sub(
            rb"<NotificationConfiguration\1><EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>",
            raw,
            count=1,
        )
    elif b"</NotificationConfiguration>" in raw:
        raw = raw.replace(
            b"</NotificationConfiguration>",
            b"<EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>",
            1,
        )
    else:
        raw = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>"
        )
    headers = dict(headers or {})
    headers.pop("Content-Length", None)
    headers.pop("content-length", None)
    return status, headers, raw.decode() if isinstance(body, str) else raw


def _has_tags(account_id: str, bucket: Any, key: Any) -> bool:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(bucket.region_name)]
    return bool(backend.tagger.list_tags_for_resource(key.arn).get("Tags"))


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    try:
        name = str(getattr(event_name, "value", event_name))  # moto passes a str Enum member
        if name == "s3:ObjectTagging:Put" and not _has_tags(account_id, bucket, key):
            return  # moto "tags" every new object with an empty set; AWS sends no event for that
        detail_type = notifications._detail_type(name)
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": {
                "key": key.name,
                "size": key.size,
                "etag": key.etag.replace('"', ""),
                "sequencer": f"{abs(hash((bucket.name, key.name, key.etag))):016X}"[:16],
            },
            "request-id": "LOCALEMULATOR0001",
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
            "reason": _REASONS.get(name, name.split(":")[1]),
        }
        if key.version_id and key.version_id != "null":
            detail["object"]["version-id"] = key.version_id
        emit_service_event(
            source="aws.s3",
            detail_type=detail_type,
            detail=detail,
            resources=[bucket.arn],
            account_id=account_id,
            region=bucket.region_name,
        )
    except Exception:  # S3 delivers to EventBridge asynchronously: the object write itself must never fail
        log.exception("could not deliver the S3 event for s3://%s/%s", bucket.name, key.name)
