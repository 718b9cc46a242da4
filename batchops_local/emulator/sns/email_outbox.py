"""SNS email subscriptions → a mail outbox on disk (moto's email subscriptions deliver nothing).

Every message published to a topic is written, for each confirmed `email` / `email-json` subscription
whose filter policy accepts it, as one readable file `<home>/outbox/<UTC time>-<seq>-<recipient>.eml`
with From/To/Subject/Date headers and the plain-text body.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime
from email.parser import Parser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from .. import context
from ..patching import Patcher

OUTBOX_DIR_NAME = "outbox"
EMAIL_PROTOCOLS = ("email", "email-json")
DEFAULT_SUBJECT = "AWS Notification Message"  # what SNS uses when a publish has no Subject
SENDER = "AWS Notifications <no-reply@sns.amazonaws.com>"

_original_publish: Any = None


def install(patcher: Patcher) -> None:
    global _original_publish
    from moto.sns.models import Subscription  # here, so that reading the outbox does not load moto

    _original_publish = patcher.replace(Subscription, "publish", _publish)


def _publish(
    self: Any,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    if self.protocol not in EMAIL_PROTOCOLS:
        _original_publish(
            self,
            message,
            message_id,
            subject=subject,
            message_attributes=message_attributes,
            group_id=group_id,
            deduplication_id=deduplication_id,
            message_structure=message_structure,
        )
        return
    if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    ctx = context.active_or_none()
    if ctx is None or ctx.outbox is None:
        return
    ctx.outbox.write(
        recipient=self.endpoint,
        subject=subject,
        body=message,
        topic_arn=self.topic.arn,
        message_id=message_id,
        as_json=self.protocol == "email-json",
    )


class EmailOutbox:
    def __init__(self, home: Path):
        self.directory = Path(home) / OUTBOX_DIR_NAME
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def write(
        self, *, recipient: str, subject: str | None, body: str, topic_arn: str, message_id: str, as_json: bool = False
    ) -> Path:
        now = datetime.now(UTC)
        if as_json:
            body = json.dumps(
                {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": body,
                    "Timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                },
                indent=2,
            )
        headers = {
            "From": SENDER,
            "To": recipient,
            "Subject": _one_line(subject or DEFAULT_SUBJECT),
            "Date": format_datetime(now),
            "Message-ID": f"<{message_id}@sns.local>",
            "X-SNS-Topic-Arn": topic_arn,
            "Content-Type": "text/plain; charset=utf-8",
        }
        text = "".join(f"{name}: {value}\n" for name, value in headers.items()) + "\n" + body
        if not text.endswith("\n"):
            text += "\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            while True:
                name = f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{next(self._sequence):05d}-{_safe(recipient)}.eml"
                path = self.directory / name
                try:
                    with open(path, "x", encoding="utf-8") as stream:
                        stream.write(text)
                    return path
                except FileExistsError:
                    continue


def read_outbox(home: Path) -> list[dict[str, Any]]:
    """Every message in `<home>/outbox/`, oldest first: path, to, subject, date, topic_arn, message_id, body."""
    directory = Path(home) / OUTBOX_DIR_NAME
    if not directory.exists():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml")):
        parsed = Parser().parsestr(path.read_text(encoding="utf-8"))
        messages.append(
            {
                "path": path,
                "to": parsed["To"],
                "from": parsed["From"],
                "subject": parsed["Subject"],
                "date": parsed["Date"],
                "topic_arn": parsed["X-SNS-Topic-Arn"],
                "message_id": (parsed["Message-ID"] or "").strip("<>").removesuffix("@sns.local"),
                "body": parsed.get_payload(),
            }
        )
    return messages


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _safe(recipient: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+\-]", "_", recipient)[:100]
