"""The adapter without AWS: command lines, errors, environment, backends, mirror discovery, plan summaries.

A stand-in `terraform` script records each call (arguments and selected environment) and answers with the
exit code and output the test asks for, so these tests run in milliseconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from batchops.terraform import (
    BACKEND_OVERRIDE_FILE,
    PlanSummary,
    Terraform,
    TerraformError,
    TerraformRefusal,
    check_backend_config,
    cli_config_text,
    find_provider_mirror,
    lambda_manifest_path,
    search_mirror,
    summarize_plan,
)
from batchops_core.settings import Settings, load_settings

FAKE_TERRAFORM = """#!{python}
import json, os, sys
log = os.environ["FAKE_TF_LOG"]
keep = ("TF_DATA_DIR", "TF_CLI_CONFIG_FILE", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID", "AWS_MAX_ATTEMPTS", "AWS_REGION", "AWS_CA_BUNDLE")
with open(log, "a") as handle:
    handle.write(json.dumps({{"argv": sys.argv[1:], "env": {{k: os.environ.get(k) for k in keep}}}}) + "\\n")
command = sys.argv[1]
if command == "show":
    print(os.environ.get("FAKE_TF_SHOW", "{{}}"))
elif command == "plan":
    for arg in sys.argv[2:]:
        if arg.startswith("-out=") and os.environ.get("FAKE_TF_FAIL") != "plan":
            open(arg[len("-out="):], "w").close()
    print("line one of plan")
elif command == "output":
    print(json.dumps({{"bucket_name": {{"value": "abalone-local-data", "type": "string", "sensitive": False}}}}))
else:
    print("line one of " + command)
    print("line two of " + command)
if command == os.environ.get("FAKE_TF_FAIL"):
    print("Error: something specific went wrong")
    print("  on main.tf line 3")
    sys.exit(1)
"""


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "terraform"
    script.write_text(FAKE_TERRAFORM.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TF_LOG", str(log))
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    monkeypatch.setenv("BATCHOPS_TF_PLUGIN_MIRROR", str(mirror))
    monkeypatch.delenv("BATCHOPS_TF_BACKEND", raising=False)
    monkeypatch.delenv("BATCHOPS_TF_BACKEND_CONFIG", raising=False)
    return script


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "module"
    directory.mkdir()
    return directory


def _calls(tmp_path: Path) -> list[dict]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def _adapter(settings: Settings, tmp_path: Path, fake: Path, module_dir: Path, **kwargs) -> Terraform:
    kwargs.setdefault("endpoint_env", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"})
    return Terraform(settings, home=tmp_path / "home", terraform_bin=str(fake), module_dir=module_dir,
                     lambda_build_dir=tmp_path / "build", **kwargs)


# ------------------------------------------------------------------------------------------- commands


def _existing_state(tmp_path: Path, env: str = "local", resources: list[dict] | None = None) -> Path:
    """A local state file as Terraform writes it, by default holding one managed resource."""
    if resources is None:
        resources = [{"mode": "managed", "type": "aws_s3_bucket", "name": "data", "instances": []}]
    state = tmp_path / "home" / "terraform" / env / "terraform.tfstate"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"version": 4, "resources": resources}), encoding="utf-8")
    return state


def test_apply_auto_approves_with_the_env_file_and_never_prompts(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    _existing_state(tmp_path)
    lines: list[str] = []
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir, progress=lines.append)
    outputs = terraform.apply()
    calls = _calls(tmp_path)
    # Without a saved plan, over existing resources: plan (with the env file), check it, apply exactly that plan.
    assert [call["argv"][0] for call in calls] == ["init", "plan", "show", "apply", "output"]
    assert f"-var-file={local_settings.source_file.resolve()}" in calls[1]["argv"]
    apply = calls[3]["argv"]
    assert "-auto-approve" in apply and "-input=false" in apply and "-no-color" in apply
    assert str(terraform.default_plan_file) in apply
    assert outputs == {"bucket_name": "abalone-local-data"}
    assert "line two of apply" in lines, "progress lines are streamed to the callback"
    assert (tmp_path / "build" / "notification.zip").is_file(), "the Lambda zips are built before apply"


@pytest.mark.parametrize("state", [None, [], [{"mode": "data", "type": "aws_partition", "name": "current"}]],
                         ids=["no state file", "no resources", "only data sources"])
def test_apply_on_an_empty_state_is_one_terraform_apply(local_settings, tmp_path, fake_terraform, module_dir,
                                                        state) -> None:
    """Nothing to delete or replace, so nothing for the plan check to refuse: one command plans and applies."""
    if state is not None:
        _existing_state(tmp_path, resources=state)
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    assert terraform.state_has_no_resources()
    assert terraform.apply() == {"bucket_name": "abalone-local-data"}
    calls = _calls(tmp_path)
    assert [call["argv"][0] for call in calls] == ["init", "apply", "output"]
    apply = calls[1]["argv"]
    assert f"-var-file={local_settings.source_file.resolve()}" in apply and "-auto-approve" in apply
    assert "-input=false" in apply and not terraform.default_plan_file.exists()
    assert (tmp_path / "build" / "notification.zip").is_file(), "the Lambda zips are built before apply"


def test_a_state_that_cannot_be_read_is_planned_and_checked(local_settings, tmp_path, fake_terraform,
                                                            module_dir) -> None:
    _existing_state(tmp_path).write_text("{not json", encoding="utf-8")
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    assert not terraform.state_has_no_resources()
    terraform.apply()
    assert [call["argv"][0] for call in _calls(tmp_path)] == ["init", "plan", "show", "apply", "output"]


def test_destroy_does_not_pass_force(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    _adapter(local_settings, tmp_path, fake_terraform, module_dir).destroy()
    destroy = _calls(tmp_path)[-1]["argv"]
    assert destroy[0] == "destroy" and "-auto-approve" in destroy
    assert not any(arg.startswith("-force") for arg in destroy)


def test_a_failing_command_raises_with_terraforms_error(local_settings, tmp_path, fake_terraform, module_dir,
                                                        monkeypatch) -> None:
    monkeypatch.setenv("FAKE_TF_FAIL", "apply")
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    with pytest.raises(TerraformError) as failure:
        terraform.apply()
    message = str(failure.value)
    assert "terraform apply failed (exit 1)" in message and "environment 'local'" in message
    assert "Error: something specific went wrong" in message and "main.tf line 3" in message
    assert "line one of apply" not in message, "the excerpt starts at Terraform's Error block"
    assert failure.value.returncode == 1


def test_plan_summarises_the_saved_plan(local_settings, tmp_path, fake_terraform, module_dir, monkeypatch) -> None:
    plan = {"resource_changes": [
        {"address": "module.events.aws_cloudwatch_event_rule.pipeline[\"training-data\"]",
         "change": {"actions": ["create"]}},
        {"address": "module.storage.aws_s3_bucket_notification.data", "change": {"actions": ["update"]}},
        {"address": "aws_sagemaker_model_package_group.models", "change": {"actions": ["no-op"]}},
    ]}
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps(plan))
    summary = _adapter(local_settings, tmp_path, fake_terraform, module_dir).plan()
    assert (summary.add, summary.change, summary.destroy) == (1, 1, 0)
    assert summary.has_changes and summary.changes == 2
    plan_call = next(call["argv"] for call in _calls(tmp_path) if call["argv"][0] == "plan")
    assert any(arg.startswith("-out=") for arg in plan_call)


def change(address: str, *actions: str) -> dict:
    return {"address": address, "change": {"actions": list(actions)}}


def test_gitlab_report_counts_like_terraforms_summary_line() -> None:
    plan = {"format_version": "1.2", "resource_changes": [
        change("aws_s3_bucket.data", "create"),
        change("aws_sns_topic.alerts", "update"),
        change("aws_lambda_function.notification", "delete", "create"),
        change("aws_iam_role.events", "create", "delete"),
        change("aws_kms_key.data", "no-op"),
        change("data.aws_caller_identity.current", "read"),
        change("aws_sqs_queue.old", "delete"),
        change("aws_sqs_queue.kept", "forget"),
    ]}
    assert summarize_plan(plan).gitlab_report() == {"create": 3, "update": 1, "delete": 3}
    assert summarize_plan({"format_version": "1.2"}).gitlab_report() == {"create": 0, "update": 0, "delete": 0}


@pytest.mark.parametrize(("plan", "message"), [
    ([], "expected the JSON object of `terraform show -json"),
    ({"format_version": "1.2", "resource_changes": {}}, "'resource_changes' is not a list"),
    ({"format_version": "1.2", "resource_changes": [{"address": "aws_s3_bucket.x", "change": {}}]},
     "aws_s3_bucket.x has no list of actions"),
    ({"format_version": "1.2", "resource_changes": [change("aws_s3_bucket.x", "explode")]},
     "aws_s3_bucket.x: unknown plan action(s) explode"),
])
def test_what_is_not_a_plan_is_rejected_by_name(plan, message) -> None:
    with pytest.raises(TerraformError) as raised:
        summarize_plan(plan)
    assert message in str(raised.value)


def test_summary_counts_a_replacement_as_add_and_destroy() -> None:
    summary = summarize_plan({"resource_changes": [
        {"address": "a", "change": {"actions": ["delete", "create"]}},
        {"address": "b", "change": {"actions": ["read"]}},
    ]})
    assert (summary.add, summary.change, summary.destroy, summary.addresses) == (1, 0, 1, ("a",))
    assert str(PlanSummary()) == "no changes" and not PlanSummary().has_changes
    assert str(summary) == "1 to add, 0 to change, 1 to destroy"


# ------------------------------------------------------------------------------------------- environments


def test_local_runs_get_the_emulator_and_never_the_callers_credentials(
        local_settings, tmp_path, fake_terraform, module_dir, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "secret-token")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    _adapter(local_settings, tmp_path, fake_terraform, module_dir).apply()
    env = _calls(tmp_path)[1]["env"]
    assert env["AWS_PROFILE"] is None and env["AWS_SESSION_TOKEN"] is None
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_MAX_ATTEMPTS"] == "2"
    assert env["AWS_REGION"] == local_settings.region
    assert env["AWS_CA_BUNDLE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["TF_DATA_DIR"] == str((tmp_path / "home" / "terraform" / "local" / "data").resolve())


def test_local_state_stays_under_home(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    _adapter(local_settings, tmp_path, fake_terraform, module_dir).init()
    init = _calls(tmp_path)[0]["argv"]
    state = (tmp_path / "home" / "terraform" / "local" / "terraform.tfstate").resolve()
    assert f"-backend-config=path={state}" in init and "-reconfigure" in init
    root = tmp_path / "home" / "terraform" / "local" / "root"
    assert 'backend "local"' in (root / BACKEND_OVERRIDE_FILE).read_text(encoding="utf-8")
    assert not (module_dir / BACKEND_OVERRIDE_FILE).exists(), "nothing is written into the source tree"


def test_local_refuses_to_plan_without_the_emulator(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir, endpoint_env=None)
    with pytest.raises(TerraformError, match="only against the local emulator"):
        terraform.plan()
    assert _calls(tmp_path) == []


def test_a_real_environment_needs_a_remote_backend(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    dev = load_settings("dev")
    with pytest.raises(TerraformError, match="needs remote state with locking"):
        _adapter(dev, tmp_path, fake_terraform, module_dir, endpoint_env=None)
    with pytest.raises(TerraformError, match="keeps its state under BATCHOPS_HOME"):
        _adapter(local_settings, tmp_path, fake_terraform, module_dir, backend="s3")


def test_a_real_environment_inits_its_remote_backend_in_its_own_data_dir(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    dev = load_settings("dev")
    terraform = _adapter(dev, tmp_path, fake_terraform, module_dir, endpoint_env=None, backend="http",
                         backend_config=["address=https://gitlab.example.com/api/v4/projects/7/terraform/state/dev",
                                         "lock_method=POST"])
    terraform.init()
    call = _calls(tmp_path)[0]
    assert "-backend-config=lock_method=POST" in call["argv"]
    assert not any(arg.startswith("-backend-config=path=") for arg in call["argv"])
    assert call["env"]["TF_DATA_DIR"].endswith("/terraform/dev/data")
    root = tmp_path / "home" / "terraform" / "dev" / "root"
    assert 'backend "http"' in (root / BACKEND_OVERRIDE_FILE).read_text(encoding="utf-8")


def test_settings_must_come_from_an_env_file(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    detached = local_settings.model_copy(update={"source_file": None})
    with pytest.raises(TerraformError, match="load_settings"):
        _adapter(detached, tmp_path, fake_terraform, module_dir)


# ------------------------------------------------------------------------------------------- provider mirror


def test_cli_config_installs_hashicorp_from_the_mirror_only(tmp_path, fake_terraform, local_settings,
                                                            module_dir) -> None:
    _adapter(local_settings, tmp_path, fake_terraform, module_dir).init()
    config_path = Path(_calls(tmp_path)[0]["env"]["TF_CLI_CONFIG_FILE"])
    text = config_path.read_text(encoding="utf-8")
    assert text == cli_config_text(tmp_path / "mirror")
    assert 'path    = "' + str(tmp_path / "mirror") + '"' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/*"]' in text


def test_a_mirror_variable_that_is_not_a_mirror_is_an_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TF_PLUGIN_MIRROR", str(tmp_path / "nothing-here"))
    with pytest.raises(TerraformError, match="BATCHOPS_TF_PLUGIN_MIRROR=.*not a provider mirror"):
        find_provider_mirror()


def test_search_finds_a_mirror_and_the_result_is_cached(tmp_path, monkeypatch) -> None:
    for name in ("BATCHOPS_TF_PLUGIN_MIRROR", "TF_PLUGIN_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("batchops.terraform.implied_mirror_dirs", lambda: [tmp_path / "no-implied"])
    root = tmp_path / "fs"
    mirror = root / "opt" / "plugins"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0").mkdir(parents=True)
    (root / "proc" / "x" / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    cache = tmp_path / "cache.json"
    assert find_provider_mirror(cache, search_roots=[root]) == mirror
    assert json.loads(cache.read_text(encoding="utf-8")) == {"mirror": str(mirror)}
    # The cached answer is used while it is still a mirror, without searching again.
    assert find_provider_mirror(cache, search_roots=[tmp_path / "empty"]) == mirror


def test_search_is_bounded_in_depth(tmp_path) -> None:
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    (deep / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    assert search_mirror([tmp_path], max_depth=3) is None
    assert search_mirror([tmp_path], max_depth=5) == deep


# ------------------------------------------------------------------------------------------- command line
# `batchops infra ...` (batchops/cli/infra.py) is the adapter's command line: exit 2 for refusals and user
# errors (one line on stderr), 1 for Terraform failures.


def _infra(tmp_path: Path, env: str, *args: str):
    from typer.testing import CliRunner

    from batchops.cli import app

    return CliRunner().invoke(app, ["--env", env, "--home", str(tmp_path / "home"), "infra", *args])


def test_command_line_plan_writes_a_gitlab_report(tmp_path, fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps({"resource_changes": [
        {"address": "a", "change": {"actions": ["create"]}}, {"address": "b", "change": {"actions": ["delete"]}}]}))
    report = tmp_path / "plan.json"
    result = _infra(tmp_path, "local", "plan", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text(encoding="utf-8")) == {"create": 1, "update": 0, "delete": 1}
    assert "plan: 1 to add, 0 to change, 1 to destroy" in result.stdout


def test_command_line_reports_errors_without_a_traceback(tmp_path, fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    failed = _infra(tmp_path, "dev", "plan")
    assert failed.exit_code == 1 and failed.exception is not None and isinstance(failed.exception, SystemExit)
    assert "needs remote state with locking" in failed.stderr
    missing = _infra(tmp_path, str(tmp_path / "missing.tfvars"), "plan")
    assert missing.exit_code == 2
    assert "file not found" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_the_staged_root_links_the_sources_but_not_foreign_override_files(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    (module_dir / "main.tf").write_text("# main\n", encoding="utf-8")
    (module_dir / "modules").mkdir()
    (module_dir / "zz_ci_http_backend_override.tf").write_text('terraform {\n  backend "http" {}\n}\n',
                                                                  encoding="utf-8")
    (module_dir / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    (module_dir / "contracts.json").write_text("{}\n", encoding="utf-8")  # data the configuration reads
    (module_dir / "notes.txt").write_text("not configuration\n", encoding="utf-8")
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    root = terraform.stage_root()
    assert sorted(p.name for p in root.iterdir()) == [
        ".terraform.lock.hcl", BACKEND_OVERRIDE_FILE, "build", "contracts.json", "main.tf", "modules"]
    assert (root / "main.tf").resolve() == (module_dir / "main.tf").resolve()
    assert not (root / ".terraform.lock.hcl").is_symlink(), "the committed lock file is copied, never edited"
    (module_dir / "main.tf").unlink()
    (module_dir / "variables.tf").write_text("# variables\n", encoding="utf-8")
    terraform.stage_root()
    assert not (root / "main.tf").exists() and (root / "variables.tf").is_symlink()


# ------------------------------------------------------------------------------------------- saved plans


def test_a_saved_plan_records_its_lambda_zips_and_apply_uses_exactly_that_file(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    plan_file = tmp_path / "review" / "plan.tfplan"
    terraform.plan(out=plan_file)
    plan_call = next(call["argv"] for call in _calls(tmp_path) if call["argv"][0] == "plan")
    assert f"-out={plan_file}" in plan_call
    manifest = lambda_manifest_path(plan_file)
    assert sorted(line.split("  ")[1] for line in manifest.read_text(encoding="utf-8").splitlines()) == [
        "approval_trigger.zip", "notification.zip", "retrain_trigger.zip"]
    plan_file.write_text("the saved plan\n", encoding="utf-8")  # the fake terraform writes none

    zip_times = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "build").glob("*.zip")}
    terraform.apply(plan_file=plan_file)
    apply = next(call["argv"] for call in _calls(tmp_path) if call["argv"][0] == "apply")
    assert apply[-1] == str(plan_file), "the saved plan is the last argument"
    assert not any(arg.startswith("-var-file") for arg in apply), "a saved plan carries its variables"
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "build").glob("*.zip")} == zip_times, \
        "applying a saved plan never rebuilds the zips"


def test_apply_refuses_changed_lambda_zips_before_terraform_runs(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    plan_file = tmp_path / "plan.tfplan"
    terraform.plan(out=plan_file)
    plan_file.write_text("the saved plan\n", encoding="utf-8")
    with (tmp_path / "build" / "notification.zip").open("ab") as handle:
        handle.write(b"changed after review")
    (tmp_path / "build" / "approval_trigger.zip").unlink()
    (tmp_path / "build" / "extra.zip").write_bytes(b"not planned")
    calls_before = len(_calls(tmp_path))
    with pytest.raises(TerraformRefusal) as refused:
        terraform.apply(plan_file=plan_file)
    assert "differ from the ones planned (approval_trigger.zip missing, notification.zip changed, " \
           "extra.zip not planned): plan again" in str(refused.value)
    assert len(_calls(tmp_path)) == calls_before


def test_apply_of_a_missing_plan_or_manifest_says_what_is_missing(
        local_settings, tmp_path, fake_terraform, module_dir) -> None:
    terraform = _adapter(local_settings, tmp_path, fake_terraform, module_dir)
    with pytest.raises(TerraformRefusal, match=f"no reviewed plan at {tmp_path / 'nowhere.tfplan'}"):
        terraform.apply(plan_file=tmp_path / "nowhere.tfplan")
    (tmp_path / "bare.tfplan").write_text("plan\n", encoding="utf-8")
    with pytest.raises(TerraformRefusal, match="bare.tfplan.lambda.sha256 beside the plan"):
        terraform.apply(plan_file=tmp_path / "bare.tfplan")
    lambda_manifest_path(tmp_path / "bare.tfplan").write_text("not a checksum line\n", encoding="utf-8")
    with pytest.raises(TerraformRefusal, match=r"bare.tfplan.lambda.sha256:1: expected '<sha256>  <zip name>'"):
        terraform.apply(plan_file=tmp_path / "bare.tfplan")
    assert _calls(tmp_path) == []


def test_a_failed_plan_leaves_no_plan_file_behind(local_settings, tmp_path, fake_terraform, module_dir,
                                                  monkeypatch) -> None:
    plan_file = tmp_path / "plan.tfplan"
    plan_file.write_text("an older plan\n", encoding="utf-8")
    lambda_manifest_path(plan_file).write_text("older\n", encoding="utf-8")
    monkeypatch.setenv("FAKE_TF_FAIL", "plan")
    with pytest.raises(TerraformError, match="terraform plan failed"):
        _adapter(local_settings, tmp_path, fake_terraform, module_dir).plan(out=plan_file)
    assert not plan_file.exists() and not lambda_manifest_path(plan_file).exists()


# ------------------------------------------------------------------------------------------- backend settings


@pytest.mark.parametrize("entry", ["password=job-token", "token=abc", "secret_key=abc", "access_key=AKIA"])
def test_backend_settings_refuse_credentials(entry) -> None:
    with pytest.raises(TerraformRefusal) as refused:
        check_backend_config(["address=https://gitlab.example.com/state/dev", entry])
    key = entry.split("=")[0]
    assert f"backend setting '{key}': {key} is a credential" in str(refused.value)
    assert "TF_HTTP_PASSWORD" in str(refused.value)


def test_backend_config_files_are_checked_too(tmp_path) -> None:
    good = tmp_path / "s3.hcl"
    good.write_text('bucket = "state"\nkey = "prod.tfstate"\nuse_lockfile = true\n', encoding="utf-8")
    check_backend_config([str(good)])
    bad = tmp_path / "http.hcl"
    bad.write_text('address = "https://x"\npassword = "glpat-123"\n', encoding="utf-8")
    with pytest.raises(TerraformRefusal, match=f"backend config file {bad}: password is a credential"):
        check_backend_config([str(bad)])
    with pytest.raises(TerraformRefusal, match="neither key=value nor an existing file"):
        check_backend_config([str(tmp_path / "missing.hcl")])


def test_backend_settings_from_the_environment_are_checked(local_settings, tmp_path, fake_terraform, module_dir,
                                                           monkeypatch) -> None:
    dev = load_settings("dev")
    monkeypatch.setenv("BATCHOPS_TF_BACKEND", "http")
    monkeypatch.setenv("BATCHOPS_TF_BACKEND_CONFIG", "address=https://x/state/dev;password=glpat-123")
    with pytest.raises(TerraformRefusal, match="'password': password is a credential"):
        _adapter(dev, tmp_path, fake_terraform, module_dir, endpoint_env=None)


def test_lock_timeout_must_be_a_duration(local_settings, tmp_path, fake_terraform, module_dir) -> None:
    with pytest.raises(TerraformRefusal, match="lock timeout 'soon': expected a duration like 60s"):
        _adapter(local_settings, tmp_path, fake_terraform, module_dir, lock_timeout="soon")
    _adapter(local_settings, tmp_path, fake_terraform, module_dir, lock_timeout="5m").destroy()
    assert "-lock-timeout=5m" in _calls(tmp_path)[-1]["argv"]


# ------------------------------------------------------------------------------------------- command line (CI)


def _infra_dev(tmp_path: Path, command: str, *args: str):
    return _infra(tmp_path, "dev", command, *args, "--backend", "http", "--backend-config",
                  "address=https://gitlab.example.com/api/v4/projects/7/terraform/state/dev")


def test_command_line_plan_writes_plan_text_report_and_manifest(tmp_path, fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps({"resource_changes": [change("a", "update")]}))
    out = tmp_path / "ci" / "dev"
    result = _infra_dev(tmp_path, "plan", "--out", str(out / "plan.tfplan"), "--text", str(out / "plan.txt"),
                        "--report", str(out / "plan-report.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "plan-report.json").read_text(encoding="utf-8")) == {"create": 0, "update": 1,
                                                                                  "delete": 0}
    assert (out / "plan.txt").read_text(encoding="utf-8").strip()  # the fake's `show` output
    assert lambda_manifest_path(out / "plan.tfplan").is_file()
    shows = [call["argv"] for call in _calls(tmp_path) if call["argv"][0] == "show"]
    assert any("-json" in argv for argv in shows) and any("-json" not in argv for argv in shows)
    assert "-backend-config=address=https://gitlab.example.com/api/v4/projects/7/terraform/state/dev" in \
        _calls(tmp_path)[0]["argv"]


def test_command_line_destroy_of_a_real_environment_needs_its_name_typed(tmp_path, fake_terraform,
                                                                         monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    monkeypatch.delenv("BATCHOPS_CONFIRM_DESTROY", raising=False)
    unconfirmed = _infra_dev(tmp_path, "destroy")
    assert unconfirmed.exit_code == 2
    assert "refusing to destroy 'dev': confirm with --confirm dev" in unconfirmed.stderr
    assert _infra_dev(tmp_path, "destroy", "--confirm", "prod").exit_code == 2
    assert _calls(tmp_path) == []
    confirmed = _infra_dev(tmp_path, "destroy", "--confirm", "dev")
    assert confirmed.exit_code == 0, confirmed.output
    assert _calls(tmp_path)[-1]["argv"][0] == "destroy"


def test_command_line_refuses_options_of_another_command(tmp_path, fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    result = _infra_dev(tmp_path, "apply", "--out", str(tmp_path / "plan.tfplan"))
    assert result.exit_code == 2
    assert "No such option: --out" in result.output
    assert _calls(tmp_path) == []


def test_command_line_checks_refuse_a_module_without_tests(tmp_path, fake_terraform, monkeypatch, module_dir) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    result = _infra(tmp_path, "local", "checks", "--module-dir", str(module_dir))
    assert result.exit_code == 2
    assert f"no {module_dir.resolve()}/tests/*.tftest.hcl found" in result.stderr
    assert [call["argv"][0] for call in _calls(tmp_path)] == ["fmt"]


def test_command_line_checks_of_a_real_environment_need_no_backend(tmp_path, fake_terraform, monkeypatch,
                                                                   module_dir) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    (module_dir / "tests").mkdir()
    (module_dir / "tests" / "stack.tftest.hcl").write_text("# a module test\n", encoding="utf-8")
    monkeypatch.setattr(Terraform, "validate", lambda self: {"valid": True})  # the fake prints no JSON
    result = _infra(tmp_path, "staging", "checks", "--module-dir", str(module_dir))
    assert result.exit_code == 0, result.output
    calls = [call["argv"] for call in _calls(tmp_path)]
    assert [argv[0] for argv in calls] == ["fmt", "init", "test"]
    assert "-backend=false" in calls[1] and not any(a.startswith("-backend-config") for a in calls[1])
    assert any(arg.endswith("env_files/staging.tfvars") for arg in calls[2])


def test_the_adapter_module_has_no_command_line_of_its_own() -> None:
    import batchops.terraform as adapter

    assert not hasattr(adapter, "main") and not hasattr(adapter, "_parser"), "the command line is `batchops infra`"


def test_command_line_test_runs_the_module_tests_with_the_env_file(tmp_path, fake_terraform, monkeypatch,
                                                                   module_dir) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    result = _infra(tmp_path, "local", "test", "--module-dir", str(module_dir))
    assert result.exit_code == 0, result.output
    calls = [call["argv"] for call in _calls(tmp_path)]
    assert [argv[0] for argv in calls] == ["init", "test"]
    assert any(arg.endswith("env_files/local.tfvars") for arg in calls[1])


FOREIGN_BUCKET = {"resource_changes": [{
    "address": "module.storage.aws_s3_bucket.data[0]", "mode": "managed", "type": "aws_s3_bucket",
    "change": {"actions": ["delete", "create"],
               "before": {"bucket": "diabetes-local-data",
                          "tags_all": {"project": "diabetes", "environment": "local"}}}}]}


def test_command_line_plan_refuses_another_environments_destroy_unless_allowed(tmp_path, fake_terraform,
                                                                              monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps(FOREIGN_BUCKET))
    refused = _infra(tmp_path, "local", "plan")
    assert refused.exit_code == 2, refused.output
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: refusing the plan for ") and "module.storage.aws_s3_bucket.data[0] (project " \
        "diabetes, environment local)" in line and "--allow-foreign-destroy" in line
    assert not (tmp_path / "home" / "terraform" / "local" / "last.tfplan").exists(), "a refused plan is removed"
    bucket_only = _infra(tmp_path, "local", "plan", "--allow-foreign-destroy")
    assert bucket_only.exit_code == 2 and "--allow-bucket-replacement" in bucket_only.stderr
    allowed = _infra(tmp_path, "local", "plan", "--allow-foreign-destroy", "--allow-bucket-replacement")
    assert allowed.exit_code == 0, allowed.output
    assert "plan: 1 to add, 0 to change, 1 to destroy" in allowed.stdout


def test_command_line_apply_checks_its_plan_before_applying(tmp_path, fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("BATCHOPS_TERRAFORM", str(fake_terraform))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps(FOREIGN_BUCKET))
    _existing_state(tmp_path)  # resources to delete (an empty state is applied in one command: nothing to check)
    refused = _infra(tmp_path, "local", "apply")
    assert refused.exit_code == 2 and "another environment" in refused.stderr
    assert "apply" not in [call["argv"][0] for call in _calls(tmp_path)], "nothing is applied"
    applied = _infra(tmp_path, "local", "apply", "--allow-foreign-destroy", "--allow-bucket-replacement")
    assert applied.exit_code == 0, applied.output
    assert [call["argv"][0] for call in _calls(tmp_path)][-2:] == ["apply", "output"]
