"""scripts/ci plan/apply/destroy against a stand-in of GitLab's Terraform state API on 127.0.0.1.

A small root module (tests/ci/fixtures/tf_stack, built-in provider only) stands in for terraform/, so the
real wrappers run the real Terraform offline: HTTP backend with locking, plan file, report, apply of exactly
the reviewed plan, destroy.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from ci_testkit import run_job, run_wrapper, start_moto, start_state_api, wrapper_env

FIXTURE = Path(__file__).parent / "fixtures" / "tf_stack"
JOB_TOKEN = "job-token-0123456789"


@pytest.fixture
def state_api():
    api = start_state_api()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def aws_account():
    """destroy.sh removes the upserted pipelines through boto3 first: an empty moto account takes those calls."""
    server, variables = start_moto()
    yield variables
    server.stop()


@dataclass
class TerraformSpy:
    """A `terraform` first on PATH that records who runs it (the parent's command line) and hands over to the
    real binary: the wrappers must run Terraform only through the adapter."""

    bin_dir: Path
    log: Path

    def path(self) -> str:
        return f"{self.bin_dir}:{os.environ['PATH']}"

    def calls(self) -> list[tuple[str, str]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [tuple(line.split("\t", 1)) for line in lines]

    def assert_only_the_adapter_ran_terraform(self, *expected: str) -> None:
        calls = self.calls()
        operations = [(parent, args) for parent, args in calls if args.split()[:1] != ["version"]]
        assert {args.split()[0] for _, args in operations} >= set(expected), calls
        strangers = [(parent, args) for parent, args in operations
                     if "-m batchops.cli" not in parent or " infra " not in parent]
        assert strangers == [], "terraform run by something other than the adapter"


@pytest.fixture
def terraform_spy(tmp_path: Path) -> TerraformSpy:
    real = shutil.which("terraform")
    assert real, "these tests run the real Terraform"
    spy = TerraformSpy(tmp_path / "spy-bin", tmp_path / "terraform-calls.log")
    spy.bin_dir.mkdir()
    script = spy.bin_dir / "terraform"
    script.write_text("#!/usr/bin/env bash\n"
                      "parent=\"$(tr '\\0' ' ' < \"/proc/$PPID/cmdline\")\"\n"
                      f"printf '%s\\t%s\\n' \"$parent\" \"$*\" >> '{spy.log}'\n"
                      f"exec '{real}' \"$@\"\n")
    script.chmod(0o755)
    return spy


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    root = tmp_path / "stack"
    shutil.copytree(FIXTURE, root)
    return root


def gitlab_job_env(stack: Path, out: Path, api, aws: dict[str, str] | None = None) -> dict[str, str]:
    """What a GitLab job provides (API URL, project, job token), pointed at the stand-in API."""
    return wrapper_env(TF_ROOT=str(stack), BATCHOPS_CI_OUT=str(out), CI_API_V4_URL=f"{api.base_url}/api/v4",
                       CI_PROJECT_ID="42", CI_JOB_TOKEN=JOB_TOKEN, **(aws or {}))


def hand_over_plan_artifacts(stack: Path, out: Path, job_dir: Path, env: str) -> tuple[Path, Path]:
    """A new job's view: the module as checked out, plus exactly the paths plan:<env> publishes."""
    new_stack, new_out = job_dir / "stack", job_dir / "out"
    shutil.copytree(FIXTURE, new_stack)
    shutil.copytree(stack / "build" / "lambda", new_stack / "build" / "lambda")
    (new_out / env).mkdir(parents=True)
    for name in ("plan.tfplan", "plan.txt", "plan.tfplan.lambda.sha256"):
        shutil.copy2(out / env / name, new_out / env / name)
    return new_stack, new_out


def files_containing(directory: Path, needle: bytes) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_plan_apply_destroy_round_trip(stack, tmp_path, state_api, aws_account, terraform_spy):
    out = tmp_path / "out"
    env = gitlab_job_env(stack, out, state_api, {**aws_account, "PATH": terraform_spy.path()})
    address = "/api/v4/projects/42/terraform/state/dev"

    plan = run_job("plan:dev", env=env)  # the job's own script lines and variables from .gitlab-ci.yml
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads((out / "dev" / "plan-report.json").read_text()) == {"create": 1, "update": 0, "delete": 0}
    assert "terraform_data.stack" in (out / "dev" / "plan.txt").read_text()
    manifest = (out / "dev" / "plan.tfplan.lambda.sha256").read_text()
    assert sorted(line.split()[1] for line in manifest.splitlines()) == \
        ["approval_trigger.zip", "notification.zip", "retrain_trigger.zip"]
    calls = [(r.method, r.path) for r in state_api.requests]
    assert ("POST", f"{address}/lock") in calls and ("DELETE", f"{address}/lock") in calls
    assert {(r.user, r.password) for r in state_api.requests} == {("gitlab-ci-token", JOB_TOKEN)}
    assert state_api.locks == {}
    # The job token stays out of everything a later job receives or a cache could keep.
    assert files_containing(out, JOB_TOKEN.encode()) == []
    assert not list(stack.glob("*_override.tf")), "the backend override must not outlive the wrapper"

    # The apply job starts from a fresh checkout plus the plan job's artifacts, nothing else.
    apply_stack, apply_out = hand_over_plan_artifacts(stack, out, tmp_path / "apply-job", "dev")
    apply_env = gitlab_job_env(apply_stack, apply_out, state_api, {**aws_account, "PATH": terraform_spy.path()})
    apply = run_job("apply:dev", env=apply_env)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert state_api.resources(address) == ["terraform_data.stack"]
    assert state_api.locks == {}

    again = run_wrapper("apply.sh", "dev", env=apply_env)
    assert again.returncode != 0
    assert "stale" in (again.stdout + again.stderr).lower()

    replan = run_wrapper("plan.sh", "dev", env=env)
    assert replan.returncode == 0, replan.stdout + replan.stderr
    assert json.loads((out / "dev" / "plan-report.json").read_text()) == {"create": 0, "update": 0, "delete": 0}

    refused = run_wrapper("destroy.sh", "dev", env=env)
    assert refused.returncode == 2
    assert "BATCHOPS_CONFIRM_DESTROY=dev" in refused.stderr
    assert state_api.resources(address) == ["terraform_data.stack"]

    destroy = run_job("destroy:dev", env=env)  # the dev job confirms by itself
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert state_api.resources(address) == []
    terraform_spy.assert_only_the_adapter_ran_terraform("init", "plan", "show", "apply", "destroy")


def test_prod_destroy_job_needs_the_confirmation_typed_by_a_person(stack, tmp_path, state_api):
    env = gitlab_job_env(stack, tmp_path / "out", state_api)
    refused = run_job("destroy:prod", env=env)
    assert refused.returncode == 2
    assert "refusing to destroy 'prod': set BATCHOPS_CONFIRM_DESTROY=prod" in refused.stderr
    assert state_api.requests == []


def test_apply_refuses_lambda_zips_other_than_the_planned_ones(stack, tmp_path, state_api):
    out = tmp_path / "out"
    env = gitlab_job_env(stack, out, state_api)
    assert run_wrapper("plan.sh", "staging", env=env).returncode == 0
    with (stack / "build" / "lambda" / "notification.zip").open("ab") as zip_file:
        zip_file.write(b"changed after review")
    before = len(state_api.requests)

    apply = run_wrapper("apply.sh", "staging", env=env)

    assert apply.returncode == 2
    assert "differ from the ones planned" in apply.stderr
    assert len(state_api.requests) == before, "Terraform must not run at all"
    assert state_api.resources("/api/v4/projects/42/terraform/state/staging") == []


def test_apply_without_a_reviewed_plan_says_where_it_looked(stack, tmp_path, state_api):
    apply = run_wrapper("apply.sh", "prod", env=gitlab_job_env(stack, tmp_path / "out", state_api))
    assert apply.returncode == 2
    assert f"no reviewed plan at {tmp_path / 'out' / 'prod' / 'plan.tfplan'}" in apply.stderr


def test_plan_waits_for_and_then_reports_a_held_state_lock(stack, tmp_path, state_api):
    env = wrapper_env(TF_ROOT=str(stack), BATCHOPS_CI_OUT=str(tmp_path / "out"),
                      TF_STATE_BASE_ADDRESS=f"{state_api.base_url}/state", TF_STATE_NAME="shared",
                      TF_HTTP_USERNAME="someone", TF_HTTP_PASSWORD="personal-token", TF_LOCK_TIMEOUT="1s")
    state_api.locks["/state/shared/lock"] = json.dumps({"ID": "other-job", "Who": "apply:dev"}).encode()

    plan = run_wrapper("plan.sh", "dev", env=env)

    assert plan.returncode != 0
    assert "lock" in plan.stderr.lower()
    assert any(r.path == "/state/shared/lock" and r.user == "someone" for r in state_api.requests)
    assert not (tmp_path / "out" / "dev" / "plan.tfplan").exists()


def test_plan_without_a_state_location_fails_clearly(stack, tmp_path):
    plan = run_wrapper("plan.sh", "dev", env=wrapper_env(TF_ROOT=str(stack), BATCHOPS_CI_OUT=str(tmp_path)))
    assert plan.returncode == 2
    assert "no Terraform state location for 'dev'" in plan.stderr


@pytest.mark.parametrize("script", ["plan.sh", "apply.sh", "destroy.sh", "upsert.sh", "retrain.sh", "deploy.sh"])
def test_wrappers_reject_unknown_environments(script, tmp_path):
    result = run_wrapper(script, "qa", env=wrapper_env(BATCHOPS_CI_OUT=str(tmp_path)))
    assert result.returncode == 2
    assert "environment 'qa': no file env_files/qa.tfvars (known: " in result.stderr
    from batchops_core.settings import ENV_DIR

    known = result.stderr.split("(known: ", 1)[1].split(")", 1)[0].split()
    assert sorted(known) == sorted(path.stem for path in ENV_DIR.glob("*.tfvars"))


def run_checks(stack: Path, tmp_path: Path, **overrides: str):
    return run_wrapper("terraform_checks.sh",
                       env=wrapper_env(TF_ROOT=str(stack), BATCHOPS_CI_OUT=str(tmp_path), **overrides))


def test_terraform_checks_run_fmt_validate_and_the_module_tests(stack, tmp_path, terraform_spy):
    result = run_checks(stack, tmp_path, PATH=terraform_spy.path())
    assert result.returncode == 0, result.stdout + result.stderr
    terraform_spy.assert_only_the_adapter_ran_terraform("fmt", "init", "validate", "test")
    init = next(args for _, args in terraform_spy.calls() if args.startswith("init"))
    assert "-backend=false" in init, "the checks never touch any environment's state"
    assert "validate: the configuration is valid" in result.stdout
    assert "Success! 1 passed, 0 failed." in result.stdout


def test_terraform_checks_fail_on_a_failing_module_test(stack, tmp_path):
    test_file = stack / "tests" / "stack.tftest.hcl"
    test_file.write_text(test_file.read_text().replace('"abalone-local"', '"abalone-prod"'))
    result = run_checks(stack, tmp_path)
    assert result.returncode != 0
    assert "the stack name comes from project and environment" in result.stdout + result.stderr


def test_terraform_checks_fail_on_unformatted_code(stack, tmp_path):
    (stack / "extra.tf").write_text('output "x" {\nvalue = 1\n}\n')
    result = run_checks(stack, tmp_path)
    assert result.returncode == 3
    assert "error: not formatted: extra.tf" in result.stderr
    assert "$ terraform init" not in result.stdout, "nothing runs after fmt fails"


def test_terraform_checks_require_module_tests(stack, tmp_path):
    shutil.rmtree(stack / "tests")
    result = run_checks(stack, tmp_path)
    assert result.returncode == 2
    assert f"no {stack}/tests/*.tftest.hcl found" in result.stderr
