"""Notification Lambda: SageMaker pipeline execution/step status changes → readable messages.

Plain-text messages go to SNS (email subscribers) and, when `SLACK_WEBHOOK_SECRET_NAME` is set, to a
Slack-compatible webhook. Which events are sent and with which templates: `lambdas.notification.rules`.
Each state change is handled once (`lambdas.shared.claims`, keyed by `events.state_change_key`: SageMaker may send
one change twice with different event ids); failures raise: EventBridge invokes the function asynchronously, so
Lambda itself retries twice and then sends the event to the function's on-failure destination, its SQS queue
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
"""

from __future__ import annotations

from collections import namedtuple

from batchops_core import contracts
from lambdas.notification import rules as rule_engine
from lambdas.notification.content import Deployment, template_variables
from lambdas.notification.events import KNOWN_STEPS, parse_event, state_change_key
from lambdas.shared import claims
from lambdas.shared.messages import publish
from lambdas.shared.outbound import post_json, read_secret
from lambdas.shared.runtime import begin_invocation, bind_log_fields, lambda_handler, log, optional_env, require_env

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

FUNCTION = "notification"
SLACK_SECRET_KEYS = ("url", "webhook_url")


Settings = namedtuple("Settings", "deployment topic_arn dedup_table rules_uri rules_text slack_secret_name")
# The environment's settings with the rules and compiled templates they point at.
Configuration = namedtuple("Configuration", "settings rules templates")


def settings_from_env() -> Settings:
    # MODEL_METRIC, REGISTRATION_THRESHOLD and MODEL_QUALITY_THRESHOLD are no longer read (ignored if still set):
    # messages show the metric and threshold each run used, from its deciding step's result.
    return Settings(
        deployment=Deployment(
            project=require_env("PROJECT", "names the project in messages"),
            environment=require_env("ENVIRONMENT", "names the environment in messages"),
            retraining=contracts.retraining(optional_env(contracts.REGISTRY_ENVIRONMENT_VARIABLE),
                                            optional_env(contracts.REGISTRY_ACCOUNT_VARIABLE)),
        ),
        topic_arn=require_env("SNS_TOPIC_ARN", "the topic notifications are published to"),
        dedup_table=require_env("DEDUP_TABLE", "the DynamoDB table that makes redelivered events a no-op"),
        rules_uri=optional_env(rule_engine.RULES_URI_VARIABLE),
        rules_text=optional_env(rule_engine.RULES_VARIABLE),
        slack_secret_name=optional_env("SLACK_WEBHOOK_SECRET_NAME"),
    )


def configuration_from_env() -> Configuration:
    settings = settings_from_env()
    rules, templates = rule_engine.load(rule_engine.rules_text(settings.rules_uri, settings.rules_text))
    return Configuration(settings, rules, templates)


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    parsed, (settings, rules, templates) = begin_invocation(FUNCTION, event, parse_event, configuration_from_env)
    claim_key = state_change_key(parsed)
    bind_log_fields(
        function=FUNCTION,
        event_id=parsed.event_id,
        claim_key=claim_key,
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

    return claims.handle_once(settings.dedup_table, claim_key, deliver, claims.lease_seconds_for(context))


def _post_to_slack(secret_name: str, subject: str, body: str) -> None:
    url = read_secret(secret_name, SLACK_SECRET_KEYS)
    post_json(url, {"text": f"*{subject}*\n{body}"}, what="Slack webhook")
    log("info", "posted to the Slack webhook")
