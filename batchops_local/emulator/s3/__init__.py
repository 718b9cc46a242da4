"""S3: object events to EventBridge and GetBucketNotificationConfiguration (`notifications`); bucket policy
conditions (`bucket_policies`).

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import bucket_policies, notifications

    notifications.install(patcher)
    bucket_policies.install(patcher)
