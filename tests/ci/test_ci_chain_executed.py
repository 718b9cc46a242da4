"""The dev chain of .gitlab-ci.yml executed by a GitLab job runner: gitlab-ci-local (pinned in
tools/gitlab-ci-local, installed by ./run) with its shell executor, on a copy of this checkout.

The real jobs run unchanged: lint, terraform, definitions:dev, plan:dev, apply:dev (its manual gate pressed),
upsert:dev; then the trigger pipeline an approval of a staging version starts (deploy:staging); then
destroy:dev. Each job gets a fresh copy of the tracked files plus exactly the artifacts of the jobs it needs, and
the `.python` cache, as GitLab hands them over. What GitLab provides differently here:
  * the GitLab instance is the stand-in of its Terraform state API (ci_testkit): the copy's `origin` points at
    it, so CI_SERVER_URL / CI_API_V4_URL lead there, and CI_JOB_TOKEN is a job variable;
  * the AWS account is the local emulator (started here, stopped by its PID): its endpoint and credentials
    are job variables where GitLab has the OIDC id token and role;
  * the installed project is this checkout's .venv (BATCHOPS_VENV) instead of the job cache's.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from ci_testkit import ROOT, start_state_api, wrapper_env

from batchops.terraform import find_provider_mirror
from batchops_core.contracts import active_model_parameter
from batchops_core.settings import load_settings
from batchops_local.runtime import start_background, stop_background

GITLAB_CI_LOCAL = ROOT / ".tools" / "gitlab-ci-local" / "node_modules" / ".bin" / "gitlab-ci-local"
JOB_TOKEN = "job-token-chain-0123"
PROJECT_ID = "1217"  # the project id gitlab-ci-local gives every project
STATE_DEV = f"/api/v4/projects/{PROJECT_ID}/terraform/state/dev"
JOB_TIMEOUT = 1200

pytestmark = pytest.mark.slow  # a few minutes: a real Terraform apply and destroy through the runner


@dataclass
class Runner:
    """gitlab-ci-local on one copy of the project, with the variables that replace GitLab's OIDC and instance."""

    project: Path
    env: dict[str, str]
    variables: dict[str, str]
    aws: dict[str, str]

    def run(self, *args: str, **pipeline_variables: str) -> subprocess.CompletedProcess:
        variables = {**self.variables, **pipeline_variables}
        command = [str(GITLAB_CI_LOCAL), "--shell-isolation", "--force-shell-executor", "--no-artifacts-to-source",
                   "--no-color", "--home", self.env["HOME"], "--concurrency", "2",
                   *(arg for key, value in variables.items() for arg in ("--variable", f"{key}={value}")), *args]
        return subprocess.run(command, cwd=self.project, env=self.env, capture_output=True, text=True,
                              timeout=JOB_TIMEOUT)

    def artifact(self, job: str, path: str) -> Path:
        """A file of a job's artifacts, where the runner keeps them for the jobs that need them (its folder
        names a job with every run of other than [A-Za-z0-9_-] base64url-encoded, e.g. "plan:dev" -> "planOgdev")."""
        safe = re.sub(r"[^\w-]+", lambda m: base64.urlsafe_b64encode(m.group().encode()).decode().rstrip("="), job)
        return self.project / ".gitlab-ci-local" / "artifacts" / safe / path

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.aws["AWS_ENDPOINT_URL"], region_name=self.aws["AWS_REGION"],
                            aws_access_key_id="test", aws_secret_access_key="test")


def copy_of_checkout(dest: Path, origin: str) -> Path:
    """The tracked files of this working tree (edits included) as a fresh repository on `main` whose origin is
    the GitLab stand-in; gitlab-ci-local writes its state there, never into the checkout."""
    dest.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of the copy
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    identity = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci",
                "GIT_COMMITTER_EMAIL": "ci@example.com", "HOME": str(dest.parent), "PATH": os.environ["PATH"]}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "chain under test"],
                    ["remote", "add", "origin", origin]):
        subprocess.run(["git", *command], cwd=dest, env=identity, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    assert GITLAB_CI_LOCAL.is_file(), f"{GITLAB_CI_LOCAL} missing: ./run tests installs it"
    assert shutil.which("rsync"), "gitlab-ci-local needs rsync: ./run tests installs it"
    work = tmp_path_factory.mktemp("chain")
    state_api = start_state_api()
    emulator_home = work / "emulator"
    info = start_background(emulator_home)
    try:
        aws = {"AWS_ENDPOINT_URL": info["endpoint_url"], "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_REGION": info["region"], "AWS_DEFAULT_REGION": info["region"], "AWS_MAX_ATTEMPTS": "2"}
        project = copy_of_checkout(work / "project", f"{state_api.base_url}/platform/batchops.git")
        (work / "home").mkdir()
        account = boto3.client("sts", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
                               aws_access_key_id="test", aws_secret_access_key="test").get_caller_identity()["Account"]
        variables = {**aws, "CI_JOB_TOKEN": JOB_TOKEN, "AWS_ACCOUNT_ID_DEV": account,
                     "BATCHOPS_VENV": str(ROOT / ".venv")}
        mirror = find_provider_mirror(work / "mirror.json")
        if mirror is not None:  # an offline machine: the AWS provider from its filesystem mirror
            variables["TF_PLUGIN_MIRROR"] = str(mirror)
        env = wrapper_env(HOME=str(work / "home"), TMPDIR=str(work))
        env.pop("TF_CLI_CONFIG_FILE", None)
        yield Runner(project, env, variables, aws), state_api
    finally:
        stop_background(emulator_home)
        state_api.stop()


def managed_instances(state: dict | None) -> int:
    """Resource instances (each for_each/count element) that Terraform manages in a state; data sources left out."""
    resources = (state or {}).get("resources", [])
    return sum(len(resource["instances"]) for resource in resources if resource["mode"] == "managed")


def job_result(output: str, job: str) -> str:
    """PASS/FAIL/... of a job in gitlab-ci-local's closing report."""
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == job and words[0] in ("PASS", "FAIL", "WARN"):
            return words[0]
    return "not run"


def test_apply_without_the_plan_artifact_fails_the_job(runner):
    gitlab, state_api = runner
    result = gitlab.run("--manual", "apply:dev", "apply:dev")  # pressed without plan:dev having run
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert job_result(output, "apply:dev") == "FAIL", output
    assert "error: no reviewed plan at" in output
    assert state_api.resources(STATE_DEV) == []


def test_dev_chain_executed_by_the_runner(runner):
    gitlab, state_api = runner
    timings = {}

    # The push pipeline on main as GitLab lists it: the chain's jobs are in it, apply:dev behind a manual gate.
    listed = gitlab.run("--list-json")
    assert listed.returncode == 0, listed.stderr
    jobs = {job["name"]: job for job in json.loads(listed.stdout)}
    assert jobs["apply:dev"]["when"] == "manual" and jobs["destroy:dev"]["when"] == "manual"
    assert {jobs[name]["when"] for name in ("lint", "terraform", "definitions:dev", "plan:dev", "upsert:dev")} == \
        {"on_success"}

    start = time.perf_counter()
    push = gitlab.run("--manual", "apply:dev",
                      "lint", "terraform", "definitions:dev", "plan:dev", "apply:dev", "upsert:dev")
    timings["push"] = time.perf_counter() - start
    output = push.stdout + push.stderr
    assert push.returncode == 0, output[-6000:]
    for job in ("lint", "terraform", "definitions:dev", "plan:dev", "apply:dev", "upsert:dev"):
        assert job_result(output, job) == "PASS", f"{job}: {output[-6000:]}"
    # Later jobs start from the cache the earlier ones left (the .python template's cache key).
    assert re.search(r"plan:dev +imported cache '0_pip-", output), output[-6000:]
    # plan -> apply went through the artifacts: the reviewed plan file was handed over and applied.
    assert gitlab.artifact("plan:dev", "build/ci/dev/plan.tfplan").is_file()
    # The report goes to GitLab's merge-request widget (reports:terraform), not to later jobs: read from the log.
    report = json.loads(re.search(r"plan for dev: (\{.*\})", output).group(1))
    assert report["create"] > 0 and report["delete"] == 0
    assert managed_instances(state_api.state(STATE_DEV)) == report["create"]
    assert {(r.user, r.password) for r in state_api.requests} == {("gitlab-ci-token", JOB_TOKEN)}
    assert state_api.locks == {}
    settings = load_settings("dev")
    sagemaker = gitlab.client("sagemaker")
    for name in settings.pipeline_names.values():
        assert sagemaker.describe_pipeline(PipelineName=name)["PipelineName"] == name
    definitions = gitlab.artifact("definitions:dev", "build/ci/dev/definitions")
    assert sorted(p.stem for p in definitions.glob("*.json")) == sorted(settings.pipeline_names.values())

    # An approval starts the trigger pipeline; its automatic job makes the approved version staging's active one.
    # staging stands as applied before (its active-model parameter and model package group): a standalone
    # environment scores with versions of its own group only (several accounts: docs/infrastructure.md).
    staging = load_settings("staging")
    parameter = active_model_parameter(staging.project, "staging")
    gitlab.client("ssm").put_parameter(Name=parameter, Value="none", Type="String")
    sagemaker.create_model_package_group(ModelPackageGroupName=staging.pipelines.model_package_group)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=staging.pipelines.model_package_group, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                         "sagemaker-xgboost:1.7-1"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    start = time.perf_counter()
    trigger = gitlab.run(CI_PIPELINE_SOURCE="trigger", MODEL_PACKAGE_ARN=package, MODEL_PACKAGE_VERSION="1")
    timings["trigger"] = time.perf_counter() - start
    output = trigger.stdout + trigger.stderr
    assert trigger.returncode == 0, output[-6000:]
    assert job_result(output, "deploy:staging") == "PASS", output[-6000:]
    assert job_result(output, "lint") == "not run", "a trigger pipeline runs the deploy jobs only"
    dotenv = gitlab.artifact("deploy:staging", ".gitlab-ci-reports/dotenv/build/ci/staging/deploy.env").read_text()
    assert f"DEPLOYED_MODEL_PACKAGE_ARN={package}\n" in dotenv and "DEPLOY_ACTION=updated\n" in dotenv
    assert gitlab.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"] == package
    # Registered versions outlive a destroy by design (docs/gitlab-ci.md): removed by hand first.
    sagemaker.delete_model_package(ModelPackageName=package)
    sagemaker.delete_model_package_group(ModelPackageGroupName=staging.pipelines.model_package_group)

    start = time.perf_counter()
    destroy = gitlab.run("--manual", "destroy:dev", "destroy:dev")
    timings["destroy"] = time.perf_counter() - start
    output = destroy.stdout + destroy.stderr
    assert destroy.returncode == 0 and job_result(output, "destroy:dev") == "PASS", output[-6000:]
    assert managed_instances(state_api.state(STATE_DEV)) == 0
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    print("chain wall time (s):", {key: round(value, 1) for key, value in timings.items()})
