"""SQS queue encryption attributes as AWS reports them.

A queue uses one kind of server-side encryption at a time: with a KMS key (`KmsMasterKeyId`) AWS reports
`SqsManagedSseEnabled` as `false`. moto reports `true` for every queue, so a queue encrypted with the
product's customer managed key looked as if it were also SQS-managed, and Terraform recorded
`sqs_managed_sse_enabled = true` for it.
"""

from __future__ import annotations

from typing import Any

from moto.sqs.models import Queue

from ..patching import Patcher

_original_attributes: Any = None


def install(patcher: Patcher) -> None:
    global _original_attributes
    _original_attributes = Queue.__dict__["attributes"]
    patcher.replace(Queue, "attributes", property(_attributes))


def _attributes(self: Queue) -> dict[str, Any]:
    attributes = _original_attributes.fget(self)
    if attributes.get("KmsMasterKeyId"):
        attributes["SqsManagedSseEnabled"] = "false"
    return attributes
