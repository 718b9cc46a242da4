"""The approval_trigger Lambda under moto: pointer updates, rejection fallback, GitLab trigger, dedup."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from lambda_testkit import GROUP, INFERENCE, POINTER, log_records, package_event

from lambdas.approval_trigger import registry
from lambdas.approval_trigger.handler import handler
from lambdas.shared import outbound
from lambdas.shared.outbound import OutboundError
from lambdas.shared.runtime import ConfigurationError, EventError, client

TOKEN = "glptt-secret-token-value"


@pytest.fixture
def approval_env(stack, monkeypatch):
    client("ssm").put_parameter(Name=POINTER, Value="none", Type="String")
    client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    for name, value in {
        "MODEL_PACKAGE_GROUP": GROUP,
        "INFERENCE_PIPELINE_NAME": INFERENCE,
        "ACTIVE_MODEL_PARAMETER": POINTER,
        "GITLAB_TRIGGER_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    return stack


def create_versions(*statuses: str, group: str = GROUP) -> list[str]:
    """Register one version per status, oldest first (creation times strictly increase)."""
    sagemaker = client("sagemaker")
    arns = []
    for status in statuses:
        time.sleep(0.003)  # the registry sorts by CreationTime (millisecond resolution)
        response = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://abalone-test-data/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
        arns.append(response["ModelPackageArn"])
    return arns


def set_status(arn: str, status: str) -> None:
    client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)


def pointer() -> str:
    return client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"]


def pointer_history() -> list[str]:
    history = client("ssm").get_parameter_history(Name=POINTER)["Parameters"]
    return [entry["Value"] for entry in history]


# ----------------------------------------------------------------------------------------- approval


def test_approval_points_inference_at_the_approved_version(approval_env, capsys):
    [arn] = create_versions("Approved")
    result = handler(package_event(arn, "Approved"), None)

    assert result["status"] == "activate"
    assert pointer() == arn
    assert pointer_history() == ["none", arn]
    [message] = approval_env.published()
    assert message["subject"] == "[test] model version 1 approved: now used for batch inference"
    assert f"The next run of {INFERENCE} uses it." in message["message"]
    assert "Previously active:     none" in message["message"]
    update = next(r for r in log_records(capsys.readouterr().out) if r["message"] == "active model pointer updated")
    assert (update["previous_value"], update["new_value"], update["parameter"]) == ("none", arn, POINTER)


def test_approving_the_active_version_again_changes_nothing(approval_env):
    [arn] = create_versions("Approved")
    handler(package_event(arn, "Approved"), None)
    result = handler(package_event(arn, "Approved"), None)  # a second event (new id) for the same change

    assert result["status"] == "unchanged"
    assert pointer_history() == ["none", arn]
    assert len(approval_env.published()) == 1


def test_stale_approval_of_a_version_rejected_since_is_ignored(approval_env):
    [arn] = create_versions("Approved")
    set_status(arn, "Rejected")
    result = handler(package_event(arn, "Approved"), None)

    assert result["status"] == "unchanged" and "is Rejected now" in result["reason"]
    assert pointer() == "none"
    assert approval_env.published() == []


# ----------------------------------------------------------------------------------------- rejection


def test_rejecting_the_active_version_falls_back_to_the_newest_other_approved(approval_env):
    v1, v2, v3 = create_versions("Approved", "Approved", "Approved")
    handler(package_event(v3, "Approved"), None)
    set_status(v3, "Rejected")
    result = handler(package_event(v3, "Rejected"), None)

    assert result["status"] == "fallback"
    assert pointer() == v2, "the newest other approved version, not the oldest"
    assert pointer_history() == ["none", v3, v2]
    message = approval_env.published()[-1]
    assert message["subject"] == "[test] model version 3 rejected: inference uses version 2"
    assert f"Now active:            {v2}" in message["message"]
    assert v1 not in message["message"]


def test_fallback_pages_through_the_registry(approval_env, monkeypatch):
    monkeypatch.setattr(registry, "PAGE_SIZE", 1)
    v1, v2, v3 = create_versions("Approved", "Rejected", "Approved")
    handler(package_event(v3, "Approved"), None)
    set_status(v3, "Rejected")
    handler(package_event(v3, "Rejected"), None)

    assert pointer() == v1


def test_rejecting_the_only_approved_version_pauses_inference(approval_env):
    [arn] = create_versions("Approved")
    handler(package_event(arn, "Approved"), None)
    set_status(arn, "Rejected")
    result = handler(package_event(arn, "Rejected"), None)

    assert (result["status"], result["active_model"]) == ("fallback", "none")
    assert pointer() == "none"
    message = approval_env.published()[-1]
    assert message["subject"] == "[test] model version 1 rejected: batch inference paused"
    assert "No other version is approved" in message["message"]


def test_rejecting_a_version_not_in_use_changes_nothing(approval_env):
    v1, v2 = create_versions("Approved", "Approved")
    handler(package_event(v1, "Approved"), None)
    set_status(v2, "Rejected")
    result = handler(package_event(v2, "Rejected"), None)

    assert result["status"] == "unchanged"
    assert pointer() == v1
    assert len(approval_env.published()) == 1


def test_missing_pointer_parameter_is_treated_as_none(approval_env):
    client("ssm").delete_parameter(Name=POINTER)
    [arn] = create_versions("Approved")
    handler(package_event(arn, "Approved"), None)
    assert pointer() == arn


# ----------------------------------------------------------------------------------------- ignored events


def test_other_groups_and_pending_versions_are_ignored(approval_env):
    client("sagemaker").create_model_package_group(ModelPackageGroupName="someone-else")
    [other] = create_versions("Approved", group="someone-else")
    [pending] = create_versions("PendingManualApproval")

    assert handler(package_event(other, "Approved", group="someone-else"), None)["status"] == "ignored"
    assert handler(package_event(pending, "PendingManualApproval"), None)["status"] == "ignored"
    assert pointer() == "none"
    assert approval_env.published() == []


def test_redelivered_approval_is_handled_once(approval_env):
    [arn] = create_versions("Approved")
    event = package_event(arn, "Approved")
    assert handler(event, None)["status"] == "activate"
    assert handler(event, None)["status"] == "duplicate"

    assert pointer_history() == ["none", arn]
    assert len(approval_env.published()) == 1


# ----------------------------------------------------------------------------------------- GitLab


@pytest.fixture
def gitlab(approval_env, monkeypatch, local_server):
    client("secretsmanager").create_secret(Name="gitlab-trigger", SecretString=json.dumps({"token": TOKEN}))
    monkeypatch.setenv("GITLAB_TRIGGER_ENABLED", "true")
    monkeypatch.setenv("GITLAB_URL", local_server.url + "/")
    monkeypatch.setenv("GITLAB_PROJECT_ID", "ml/abalone-deploy")
    monkeypatch.setenv("GITLAB_REF", "release")
    monkeypatch.setenv("GITLAB_TOKEN_SECRET_NAME", "gitlab-trigger")
    return local_server


def test_approval_triggers_the_gitlab_pipeline_with_package_variables(gitlab, approval_env, capsys):
    gitlab.answer(201, json.dumps({"id": 4711, "web_url": "https://gitlab.example/ml/abalone-deploy/-/pipelines/4711"}))
    [arn] = create_versions("Approved")
    result = handler(package_event(arn, "Approved"), None)

    [request] = gitlab.requests
    assert request.path == "/api/v4/projects/ml%2Fabalone-deploy/trigger/pipeline"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form == {
        "token": TOKEN,
        "ref": "release",
        "variables[MODEL_PACKAGE_ARN]": arn,
        "variables[MODEL_PACKAGE_VERSION]": "1",
    }
    assert result["gitlab"]["id"] == "4711"
    assert "GitLab deploy:         pipeline 4711 https://gitlab.example" in approval_env.published()[0]["message"]
    assert TOKEN not in capsys.readouterr().out


def test_raw_token_secret_is_accepted(gitlab, approval_env):
    client("secretsmanager").put_secret_value(SecretId="gitlab-trigger", SecretString=f"  {TOKEN}\n")
    [arn] = create_versions("Approved")
    handler(package_event(arn, "Approved"), None)
    assert dict(urllib.parse.parse_qsl(gitlab.requests[0].body.decode()))["token"] == TOKEN


def test_gitlab_failure_still_sends_the_approval_email_and_raises(gitlab, approval_env, capsys):
    """Issue 17, item 4: the email and the deploy trigger are independent side effects."""
    gitlab.answer(500, '{"message": "500 Internal Server Error"}')
    [arn] = create_versions("Approved")

    with pytest.raises(OutboundError, match=r"GitLab pipeline trigger for project ml/abalone-deploy .* HTTP 500"):
        handler(package_event(arn, "Approved"), None)

    assert pointer_history() == ["none", arn]
    [message] = approval_env.published()
    assert message["subject"] == "[test] model version 1 approved: now used for batch inference (GitLab deploy failed)"
    assert f"Model package:         {arn}" in message["message"]
    assert "GitLab deploy:         NOT started: GitLab pipeline trigger for project ml/abalone-deploy at " \
        "http://127.0.0.1:" in message["message"]
    records = log_records(capsys.readouterr().out)
    [failure] = [r for r in records if r["message"].startswith("GitLab deploy pipeline not triggered")]
    assert failure["level"] == "error" and failure["error_type"] == "OutboundError"
    assert "answered HTTP 500" in failure["message"]


def test_retry_after_a_gitlab_failure_triggers_only_and_mails_the_deploy_once(gitlab, approval_env):
    gitlab.answer(500, '{"message": "500 Internal Server Error"}')
    gitlab.answer(201, json.dumps({"id": 4711, "web_url": "https://gitlab.example/ml/abalone-deploy/-/pipelines/4711"}))
    [arn] = create_versions("Approved")
    event = package_event(arn, "Approved")
    with pytest.raises(OutboundError):
        handler(event, None)

    result = handler(event, None)  # Lambda's retry of the same event

    assert (result["status"], result["gitlab"]["id"]) == ("activate", "4711")
    assert pointer_history() == ["none", arn], "the retry does not write the pointer again"
    assert len(gitlab.requests) == 2
    approval, follow_up = approval_env.published()
    assert approval["subject"].endswith("(GitLab deploy failed)")
    assert follow_up["subject"] == "[test] model version 1: GitLab deploy pipeline started"
    assert "GitLab deploy:         pipeline 4711 https://gitlab.example" in follow_up["message"]
    assert "approved" not in follow_up["subject"], "no second approval email"

    assert handler(event, None)["status"] == "duplicate"
    assert len(approval_env.published()) == 2 and len(gitlab.requests) == 2


def test_gitlab_failing_on_every_attempt_mails_the_approval_once(gitlab, approval_env):
    for _ in range(3):
        gitlab.answer(502, "bad gateway")
    [arn] = create_versions("Approved")
    event = package_event(arn, "Approved")
    for _ in range(3):  # the first attempt and Lambda's two retries
        with pytest.raises(OutboundError, match="HTTP 502: bad gateway"):
            handler(event, None)

    assert len(gitlab.requests) == 3
    assert [m["subject"] for m in approval_env.published()] == [
        "[test] model version 1 approved: now used for batch inference (GitLab deploy failed)"
    ]
    assert pointer_history() == ["none", arn]


def test_gitlab_timeout_raises_a_clear_error(gitlab, approval_env, monkeypatch):
    monkeypatch.setattr(outbound, "HTTP_TIMEOUT_SECONDS", 0.3)
    gitlab.answer(201, "{}", delay=1.5)
    [arn] = create_versions("Approved")

    with pytest.raises(OutboundError, match=r"GitLab pipeline trigger .* timed out after 0.3 s"):
        handler(package_event(arn, "Approved"), None)


def test_missing_gitlab_settings_are_named(approval_env, monkeypatch):
    monkeypatch.setenv("GITLAB_TRIGGER_ENABLED", "true")
    monkeypatch.setenv("GITLAB_URL", "https://gitlab.example")
    [arn] = create_versions("Approved")
    with pytest.raises(ConfigurationError, match="GITLAB_PROJECT_ID, GITLAB_REF, GITLAB_TOKEN_SECRET_NAME not set"):
        handler(package_event(arn, "Approved"), None)


def test_invalid_gitlab_flag_is_a_configuration_error(approval_env, monkeypatch):
    monkeypatch.setenv("GITLAB_TRIGGER_ENABLED", "yes")
    [arn] = create_versions("Approved")
    with pytest.raises(ConfigurationError, match="GITLAB_TRIGGER_ENABLED must be 'true' or 'false', found 'yes'"):
        handler(package_event(arn, "Approved"), None)


# ----------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update({"detail-type": "Object Created"}), "unknown detail-type 'Object Created'"),
        (lambda e: e["detail"].pop("ModelPackageArn"), "detail.ModelPackageArn is missing"),
        (lambda e: e["detail"].update(ModelPackageArn="arn:aws:s3:::x"), "is not a versioned model package ARN"),
        (lambda e: e["detail"].update(ModelApprovalStatus="Maybe"), "ModelApprovalStatus 'Maybe' is not one of"),
        (lambda e: e["detail"].update(ModelPackageVersion=9), "ModelPackageVersion 9 does not match"),
        (lambda e: e.pop("id"), "event has no 'id'"),
    ],
)
def test_malformed_events_raise_and_are_logged(approval_env, capsys, mutate, message):
    event = package_event(f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/1", "Approved")
    mutate(event)
    with pytest.raises(EventError, match=message):
        handler(event, None)
    [record] = log_records(capsys.readouterr().out)
    assert record["level"] == "error"


@pytest.mark.parametrize("name", ["MODEL_PACKAGE_GROUP", "ACTIVE_MODEL_PARAMETER", "SNS_TOPIC_ARN", "DEDUP_TABLE"])
def test_missing_environment_variables_are_named(approval_env, monkeypatch, name):
    monkeypatch.delenv(name)
    [arn] = create_versions("Approved")
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        handler(package_event(arn, "Approved"), None)
