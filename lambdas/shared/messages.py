"""Messages a person reads: SNS subjects within the service's limits, and publishing."""

from __future__ import annotations

import re
import unicodedata

from lambdas.shared.runtime import client, log, redact

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


def sns_subject(text: str) -> str:
    """One line of printable ASCII, at most 100 characters (what SNS accepts as an email subject)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    line = re.sub(r"\s+", " ", ascii_text).strip() or "(no subject)"
    if len(line) > SUBJECT_LIMIT:
        line = line[: SUBJECT_LIMIT - 3].rstrip() + "..."
    return line


def publish(topic_arn: str, subject: str, body: str) -> dict[str, Any]:
    """Publish one plain-text message (secrets redacted); errors propagate (the event is retried, then
    dead-lettered)."""
    subject = sns_subject(redact(subject))
    response = client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=redact(body))
    log("info", "published to SNS", topic_arn=topic_arn, subject=subject, sns_message_id=response.get("MessageId"))
    return response
