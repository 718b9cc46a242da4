"""approval_trigger Lambda: model registry approvals decide which model batch inference uses.

* Approved version of MODEL_PACKAGE_GROUP → its ARN is written to the SSM parameter ACTIVE_MODEL_PARAMETER
  (the inference pipeline's ResolveModel step reads it at run time), SNS says so, and optionally a GitLab
  deploy pipeline is triggered with the package ARN and version.
* Rejected version that is the active one → the pointer falls back to the newest other Approved version, or
  to `none` (inference then has no approved model and stops with a clear error) – and SNS says so.
* Anything else (other groups, PendingManualApproval, rejecting a version not in use) changes nothing.

The event's status is checked against the registry before acting, so a late redelivery of an old
"Approved" never re-activates a version rejected since. Each event id is handled once; the decision is
kept with the dedup marker so a retry after a partial failure finishes the same plan.

The pointer switch comes first (the email and the deploy announce it). The email and the GitLab trigger are
independent: when the trigger fails, the approval email still goes out and says so, the failure is logged and
raised (Lambda retries the event, then sends it to the on-failure queue), and a retry repeats only the trigger;
its later success is mailed once as a short follow-up.
"""

from __future__ import annotations

from collections import namedtuple

from lambdas.approval_trigger import registry
from lambdas.approval_trigger.gitlab import trigger_from_env, trigger_pipeline
from lambdas.shared import claims
from lambdas.shared.messages import publish
from lambdas.shared.runtime import begin_invocation, bind_log_fields, lambda_handler, log, optional_env, require_env

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

FUNCTION = "approval_trigger"
HANDLED_STATUSES = (registry.APPROVED, registry.REJECTED)
# Side effects recorded per event id (lambdas.shared.claims): the approval email either reports the deploy or,
# when the trigger failed, says it is pending; only in that case a follow-up reports the deploy's later start.
MAIL_APPROVAL, MAIL_DEPLOY_PENDING, MAIL_DEPLOY_STARTED = "sns", "sns:deploy-pending", "sns:deploy-started"


Settings = namedtuple("Settings", "project environment topic_arn dedup_table group inference_pipeline parameter gitlab")


def settings_from_env() -> Settings:
    return Settings(
        project=require_env("PROJECT", "names the project in messages"),
        environment=require_env("ENVIRONMENT", "names the environment in messages"),
        topic_arn=require_env("SNS_TOPIC_ARN", "the topic approval outcomes are published to"),
        dedup_table=require_env("DEDUP_TABLE", "the DynamoDB table that makes redelivered events a no-op"),
        group=require_env("MODEL_PACKAGE_GROUP", "the model package group whose approvals this function follows"),
        inference_pipeline=optional_env("INFERENCE_PIPELINE_NAME") or "the batch-inference pipeline",
        parameter=require_env("ACTIVE_MODEL_PARAMETER", "the SSM parameter naming the model inference uses"),
        gitlab=trigger_from_env(),
    )


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    package, settings = begin_invocation(FUNCTION, event, registry.parse_event, settings_from_env)
    bind_log_fields(
        function=FUNCTION,
        event_id=package.event_id,
        model_package_arn=package.arn,
        approval_status=package.approval_status,
    )
    if package.group != settings.group:
        log("info", f"ignored: group {package.group} is not {settings.group}", outcome="ignored")
        return {"status": "ignored", "reason": f"other model package group {package.group}"}
    if package.approval_status not in HANDLED_STATUSES:
        log("info", f"ignored: status {package.approval_status}", outcome="ignored")
        return {"status": "ignored", "reason": f"status {package.approval_status}"}

    def act(claim: claims.EventClaim) -> dict[str, Any]:
        plan = claim.remember("plan", lambda: plan_change(package, settings))
        if plan["action"] == "unchanged":
            log("info", f"no change: {plan['reason']}", outcome="unchanged", active_model=plan["previous"])
            return {"status": "unchanged", "reason": plan["reason"], "active_model": plan["previous"]}
        claim.once("ssm", lambda: _switch_pointer(settings.parameter, plan))
        deploy: dict[str, str] = {}
        failure: Exception | None = None
        if settings.gitlab is not None and plan["action"] == "activate":
            try:
                deploy = claim.remember(
                    "gitlab", lambda: trigger_pipeline(settings.gitlab, package.arn, package.version)
                )
            except Exception as exc:
                failure = exc
                log("error", f"GitLab deploy pipeline not triggered (the approval email still goes out; Lambda "
                    f"retries the trigger): {exc}", error_type=type(exc).__name__)
        _announce(claim, package, settings, plan, deploy, failure)
        if failure is not None:
            raise failure
        return {"status": plan["action"], "reason": plan["reason"], "active_model": plan["new"], "gitlab": deploy}

    return claims.handle_once(settings.dedup_table, package.event_id, act, claims.lease_seconds_for(context))


def plan_change(package: registry.PackageEvent, settings: Settings) -> dict[str, str]:
    """What to do with the pointer: {action: activate | fallback | unchanged, previous, new, reason}."""
    previous = registry.read_pointer(settings.parameter)

    def unchanged(reason: str) -> dict[str, str]:
        return {"action": "unchanged", "previous": previous, "new": previous, "reason": reason}

    live_status = registry.current_approval_status(package.arn)
    if live_status != package.approval_status:
        return unchanged(f"the event says {package.approval_status} but the version is {live_status} now")
    if package.approval_status == registry.APPROVED:
        if previous == package.arn:
            return unchanged("the approved version is already the active model")
        return {"action": "activate", "previous": previous, "new": package.arn, "reason": "version approved"}
    if previous != package.arn:
        return unchanged(f"the rejected version is not the active model (active: {previous})")
    fallback = registry.latest_approved_other_than(package.group, package.arn)
    return {
        "action": "fallback",
        "previous": previous,
        "new": fallback or registry.NO_MODEL,
        "reason": "active version rejected" + ("" if fallback else "; no other version is approved"),
    }


def _announce(
    claim: claims.EventClaim,
    package: registry.PackageEvent,
    settings: Settings,
    plan: dict[str, str],
    deploy: dict[str, str],
    failure: Exception | None,
) -> None:
    """The approval email, once per event, whatever the GitLab trigger did; the follow-up after a late success."""
    if failure is None and MAIL_DEPLOY_PENDING in claim.completed:
        if deploy:
            subject, body = deploy_message_for(package, settings, deploy)
            claim.once(MAIL_DEPLOY_STARTED, lambda: publish(settings.topic_arn, subject, body))
        return
    subject, body = message_for(package, settings, plan, deploy, failure)
    claim.once(
        MAIL_DEPLOY_PENDING if failure else MAIL_APPROVAL, lambda: publish(settings.topic_arn, subject, body)
    )


def _switch_pointer(parameter: str, plan: dict[str, str]) -> None:
    version = registry.write_pointer(parameter, plan["new"])
    log(
        "info",
        "active model pointer updated",
        outcome=plan["action"],
        parameter=parameter,
        parameter_version=version,
        previous_value=plan["previous"],
        new_value=plan["new"],
    )


def message_for(
    package: registry.PackageEvent,
    settings: Settings,
    plan: dict[str, str],
    deploy: dict[str, str],
    deploy_failure: Exception | None = None,
) -> tuple[str, str]:
    group, version, pipeline = package.group, package.version, settings.inference_pipeline
    if plan["action"] == "activate":
        subject = f"[{settings.environment}] model version {version} approved: now used for batch inference"
        opening = f"Version {version} of model package group {group} was approved.\nThe next run of {pipeline} uses it."
    elif plan["new"] == registry.NO_MODEL:
        subject = f"[{settings.environment}] model version {version} rejected: batch inference paused"
        opening = (
            f"Version {version} of model package group {group}, the model in use, was rejected.\n"
            f"No other version is approved: runs of {pipeline} stop at ResolveModel with a clear error\n"
            "until a version is approved."
        )
    else:
        fallback = registry.version_of(plan["new"])
        subject = f"[{settings.environment}] model version {version} rejected: inference uses version {fallback}"
        opening = (
            f"Version {version} of model package group {group}, the model in use, was rejected.\n"
            f"The next run of {pipeline} uses version {fallback}, the newest other approved version."
        )
    lines = [
        opening,
        "",
        f"Model package:         {package.arn}",
        f"Now active:            {plan['new']}",
        f"Previously active:     {plan['previous']}",
        f"Active-model pointer:  SSM parameter {settings.parameter}",
    ]
    if deploy:
        lines.append(_deploy_line(deploy))
    if deploy_failure is not None:
        subject += " (GitLab deploy failed)"
        lines += [
            f"GitLab deploy:         NOT started: {deploy_failure}",
            "",
            "Lambda retries this event, which triggers the deploy pipeline again; a separate email follows",
            "when it starts. If every retry fails, the event goes to the function's on-failure queue",
            "and no further email is sent.",
        ]
    lines += ["", f"-- {settings.project} / {settings.environment}"]
    return subject, "\n".join(lines) + "\n"


def deploy_message_for(
    package: registry.PackageEvent, settings: Settings, deploy: dict[str, str]
) -> tuple[str, str]:
    """The follow-up when the deploy pipeline starts after the approval email reported its failure."""
    subject = f"[{settings.environment}] model version {package.version}: GitLab deploy pipeline started"
    lines = [
        f"The GitLab deploy pipeline for version {package.version} of model package group {package.group}",
        "started on a retry, after the approval email reported that triggering it had failed.",
        "",
        f"Model package:         {package.arn}",
        _deploy_line(deploy),
        "",
        f"-- {settings.project} / {settings.environment}",
    ]
    return subject, "\n".join(lines) + "\n"


def _deploy_line(deploy: dict[str, str]) -> str:
    return f"GitLab deploy:         pipeline {deploy.get('id') or '?'} {deploy.get('web_url', '')}".rstrip()
