"""SNS: Publish to `email` / `email-json` subscriptions writes the mail outbox (`email_outbox`).

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import email_outbox

    email_outbox.install(patcher)
