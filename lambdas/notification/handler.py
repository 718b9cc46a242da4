"""Notification Lambda: SageMaker pipeline execution/step status changes → readable messages.

Plain-text messages go to SNS (email subscribers) and, when `SLACK_WEBHOOK_SECRET_NAME` is set, to a
Slack-compatible webhook. Which events are sent and with which templates: `lambdas.notification.rules`.
Each event id is handled once (`lambdas.shared.claims`); failures raise: EventBridge invokes the function
asynchronously, so Lambda itself retries twice and then sends the event to the function's on-failure
destination, its SQS queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
"""

from __future__ import annotations

from collections import namedtuple

from lambdas.notification import rules as rule_engine
from lambdas.notification.content import Deployment, template_variables
from lambdas.notification.events import KNOWN_STEPS, parse_event
from lambdas.shared import claims
from lambdas.shared.messages import publish
from lambdas.shared.outbound import post_json, read_secret
from lambdas.shared.runtime import (
    ConfigurationError,
    EventError,
    bind_log_fields,
    lambda_handler,
    log,
    optional_env,
    require_env,
)

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

FUNCTION = "notification"
SLACK_SECRET_KEYS = ("url", "webhook_url")


Settings = namedtuple("Settings", "deployment topic_arn dedup_table rules_uri rules_text slack_secret_name")


def settings_from_env() -> Settings:
    # MODEL_METRIC, REGISTRATION_THRESHOLD and MODEL_QUALITY_THRESHOLD are no longer read (ignored if still set):
    # messages show the metric and threshold each run used, from its deciding step's result.
    return Settings(
        deployment=Deployment(
            project=require_env("PROJECT", "names the project in messages"),
            environment=require_env("ENVIRONMENT", "names the environment in messages"),
        ),
        topic_arn=require_env("SNS_TOPIC_ARN", "the topic notifications are published to"),
        dedup_table=require_env("DEDUP_TABLE", "the DynamoDB table that makes redelivered events a no-op"),
        rules_uri=optional_env(rule_engine.RULES_URI_VARIABLE),
        rules_text=optional_env(rule_engine.RULES_VARIABLE),
        slack_secret_name=optional_env("SLACK_WEBHOOK_SECRET_NAME"),
    )


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    bind_log_fields(function=FUNCTION, event_id=event.get("id") if isinstance(event, dict) else None)
    try:
        parsed = parse_event(event)
        settings = settings_from_env()
        rules, templates = rule_engine.load(rule_engine.rules_text(settings.rules_uri, settings.rules_text))
    except (EventError, ConfigurationError) as exc:
        log("error", str(exc), error_type=type(exc).__name__)
        raise
    bind_log_fields(
        function=FUNCTION,
        event_id=parsed.event_id,
        pipeline=parsed.pipeline,
        execution_id=parsed.execution_id,
        step=parsed.step or None,
        status=parsed.status,
    )
    if parsed.kind == "step" and parsed.step not in KNOWN_STEPS:
        log("warning", f"step {parsed.step!r} is not a step of this product's pipelines; rules apply as usual")
    decision = rule_engine.decide(parsed, rules)
    if not decision.send:
        log("info", f"not sent: {decision.reason}", outcome="skipped")
        return {"status": "skipped", "reason": decision.reason, "event_id": parsed.event_id}

    def deliver(claim: claims.EventClaim) -> dict[str, Any]:
        subject, body = templates.render(decision.rule, template_variables(parsed, settings.deployment))
        claim.once("sns", lambda: publish(settings.topic_arn, subject, body))
        if settings.slack_secret_name:
            claim.once("slack", lambda: _post_to_slack(settings.slack_secret_name, subject, body))
        log("info", "notification sent", outcome="sent", reason=decision.reason, subject=subject)
        return {"status": "sent", "reason": decision.reason, "event_id": parsed.event_id, "subject": subject}

    return claims.handle_once(settings.dedup_table, parsed.event_id, deliver, claims.lease_seconds_for(context))


def _post_to_slack(secret_name: str, subject: str, body: str) -> None:
    url = read_secret(secret_name, SLACK_SECRET_KEYS)
    post_json(url, {"text": f"*{subject}*\n{body}"}, what="Slack webhook")
    log("info", "posted to the Slack webhook")
