"""Optional GitLab deploy pipeline, started through the pipeline-trigger API when a version is approved."""

from __future__ import annotations

import json
import urllib.parse
from collections import namedtuple

from lambdas.shared.outbound import post_form, read_secret, safe_url
from lambdas.shared.runtime import ConfigurationError, env_flag, log, optional_env, register_secret

TOKEN_SECRET_KEYS = ("token",)


class GitLabTrigger(namedtuple("GitLabTrigger", "url project_id ref token_secret_name")):
    __slots__ = ()

    @property
    def endpoint(self) -> str:
        project = urllib.parse.quote(self.project_id, safe="")  # a "group/project" path works as well as an id
        return f"{self.url.rstrip('/')}/api/v4/projects/{project}/trigger/pipeline"


def trigger_from_env() -> GitLabTrigger | None:
    """The trigger settings when GITLAB_TRIGGER_ENABLED is true; every missing one is named."""
    if not env_flag("GITLAB_TRIGGER_ENABLED"):
        return None
    names = ("GITLAB_URL", "GITLAB_PROJECT_ID", "GITLAB_REF", "GITLAB_TOKEN_SECRET_NAME")
    values = {name: optional_env(name) for name in names}
    url_password = urllib.parse.urlsplit(values["GITLAB_URL"]).password
    if url_password:  # credentials in the URL are secrets too (messages show the URL without them)
        register_secret(url_password)
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigurationError(f"GITLAB_TRIGGER_ENABLED is true but {', '.join(missing)} not set")
    if urllib.parse.urlsplit(values["GITLAB_URL"]).scheme not in ("http", "https"):
        raise ConfigurationError(f"GITLAB_URL must start with https://, found {values['GITLAB_URL']!r}")
    return GitLabTrigger(
        url=values["GITLAB_URL"],
        project_id=values["GITLAB_PROJECT_ID"],
        ref=values["GITLAB_REF"],
        token_secret_name=values["GITLAB_TOKEN_SECRET_NAME"],
    )


def trigger_pipeline(trigger: GitLabTrigger, package_arn: str, package_version: str) -> dict[str, str]:
    """Start the deploy pipeline; returns its id and web URL. HTTP errors and timeouts raise OutboundError."""
    token = read_secret(trigger.token_secret_name, TOKEN_SECRET_KEYS)
    response = post_form(
        trigger.endpoint,
        {
            "token": token,
            "ref": trigger.ref,
            "variables[MODEL_PACKAGE_ARN]": package_arn,
            "variables[MODEL_PACKAGE_VERSION]": package_version,
        },
        what=f"GitLab pipeline trigger for project {trigger.project_id}",
    )
    try:
        answer = json.loads(response["body"] or "{}")
    except json.JSONDecodeError:
        answer = {}
    pipeline = {"id": str(answer.get("id", "")), "web_url": str(answer.get("web_url", ""))}
    log("info", "GitLab pipeline triggered", gitlab=safe_url(trigger.url), ref=trigger.ref, pipeline=pipeline)
    return pipeline
