"""CLI behaviour that needs no emulator: help everywhere, argument errors, config check, local data checks."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from batchops.cli import app
from batchops_core.settings import ENV_DIR

GROUP_COMMANDS = {
    "config": ["check", "show"],
    "emulator": ["up", "down", "status", "reset"],
    "infra": ["init", "validate", "plan", "apply", "destroy", "output", "test", "checks"],
    "pipelines": ["upsert", "definitions", "list", "start"],
    "data": ["check", "drop"],
    "runs": ["list", "show", "watch", "logs"],
    "models": ["list", "show", "approve", "reject"],
    "outbox": ["list", "show"],
    "ci": ["package-lambdas", "install-terraform", "deploy-model", "rollback-model", "registry-environment",
           "check-deployed", "teardown-pipelines"],
    "dev": ["regenerate"],
}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich: no wrapping of the lines asserted below
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def test_root_help_lists_every_group(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for group in [*GROUP_COMMANDS, "report", "demo"]:
        assert re.search(rf"^\W*{group}\b", result.output, re.MULTILINE), group


@pytest.mark.parametrize("group", sorted(GROUP_COMMANDS))
def test_group_help_lists_its_commands(cli, group):
    result = cli(group, "--help")
    assert result.exit_code == 0
    for command in GROUP_COMMANDS[group]:
        assert re.search(rf"^\W*{command}\b", result.output, re.MULTILINE), f"{group} {command}"


@pytest.mark.parametrize("args", [[g, c] for g, cs in GROUP_COMMANDS.items() for c in cs] + [["report"], ["demo"]])
def test_every_command_has_help(cli, args):
    result = cli(*args, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_command_and_missing_arguments_exit_2(cli):
    assert cli("nonsense").exit_code == 2
    missing_kind = cli("data", "drop", "file.csv")
    assert missing_kind.exit_code == 2 and "--kind" in missing_kind.output
    missing_reason = cli("models", "reject", "1")
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.output


def test_bad_kind_is_a_clear_error(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    result = cli("data", "check", str(path), "--kind", "labels", "--offline")
    assert result.exit_code == 2
    assert "--kind 'labels': expected one of training, inference, ground-truth" in result.output


def test_bad_pipeline_parameter_is_a_clear_error(cli):
    result = cli("pipelines", "start", "training", "--param", "InputKey")
    assert result.exit_code == 2
    assert "--param 'InputKey': expected NAME=VALUE" in result.output


def test_unknown_environment_is_a_clear_error(cli):
    result = cli("--env", "qa", "models", "list")
    assert result.exit_code == 2
    assert "qa.tfvars: file not found" in result.output


def test_local_commands_without_emulator_say_how_to_start_it(cli):
    result = cli("models", "list")
    assert result.exit_code == 2
    assert "the local emulator is not running" in result.output
    assert "batchops emulator up" in result.output


def test_config_check_good_files(cli):
    result = cli("config", "check", "local")
    assert result.exit_code == 0
    assert f"{ENV_DIR / 'local.tfvars'}: ok" in result.output


def test_config_check_every_env_file_by_default(cli):
    result = cli("config", "check")
    assert result.exit_code == 0
    for path in ENV_DIR.glob("*.tfvars"):
        assert f"{path}: ok" in result.output


def test_config_check_bad_file_names_file_and_key(cli, tmp_path):
    text = (ENV_DIR / "local.tfvars").read_text()
    bad = tmp_path / "broken.tfvars"
    bad.write_text(text.replace("registration_threshold  = 2.6", 'registration_threshold  = "high"')
                   .replace('strategy          = "Random"', 'strategy          = "Genetic"'))
    result = cli("config", "check", "local", str(bad))
    assert result.exit_code == 1
    assert f"{ENV_DIR / 'local.tfvars'}: ok" in result.output
    assert f"{bad}: model.registration_threshold:" in result.output
    assert f"{bad}: hpo.strategy: expected one of" in result.output


def test_data_check_offline_accepts_a_good_batch_and_names_bad_cells(cli, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"
                    "a1,M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n")
    result = cli("data", "check", str(good), "--offline")
    assert result.exit_code == 0, result.output
    assert "schema ok (inference)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"
                   "a1,M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n"
                   "a1,F,long,0.36,0.1,0.5,0.2,0.1,0.15\n")
    result = cli("data", "check", str(bad), "--offline")
    assert result.exit_code == 1
    assert f"{bad}:3: column 'length': 'long' is not a number" in result.output
    assert f"{bad}:3: column 'record_id': duplicate record key 'a1'" in result.output


def test_data_check_missing_file(cli, tmp_path):
    result = cli("data", "check", str(tmp_path / "nope.csv"), "--offline")
    assert result.exit_code == 2
    assert "nope.csv: file not found" in result.output


def test_report_refuses_a_non_html_name_before_connecting(cli, tmp_path):
    result = cli("report", "--out", str(tmp_path / "r.pdf"))
    assert result.exit_code == 2
    assert "use a file name ending in .html" in result.output


def test_demo_only_runs_locally(cli):
    result = cli("--env", "dev", "demo")
    assert result.exit_code == 2
    assert "local emulator only" in result.output


def test_exit_codes_are_not_reported_as_errors(cli):
    result = cli("config", "check", "qa")
    assert result.exit_code == 1
    assert "error:" not in result.output and "qa.tfvars: file not found" in result.output


def test_pipelines_definitions_written_offline(cli, tmp_path):
    import json

    from batchops_core.settings import load_settings

    out = tmp_path / "definitions"
    result = cli("pipelines", "definitions", "--out", str(out))
    assert result.exit_code == 0, result.output
    settings = load_settings("local")
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{name}.json" for name in settings.pipeline_names.values())
    inference = json.loads((out / f"{settings.pipelines.inference_name}.json").read_text())
    assert [s["Name"] for s in inference["Steps"]][0] == "ResolveModel"
    assert {p["Name"] for p in inference["Parameters"]} >= {"InputBucket", "InputKey"}


def test_pipelines_definitions_reject_a_bad_account(cli, tmp_path):
    result = cli("pipelines", "definitions", "--out", str(tmp_path), "--account-id", "12ab")
    assert result.exit_code == 2
    assert "--account-id: expected 12 digits, found '12ab'" in result.output
    assert not any(tmp_path.iterdir()), "nothing is written after a refused argument"


def test_definitions_for_aws_without_credentials_ask_for_the_account_id(cli, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata credentials either
    out = tmp_path / "definitions"
    result = cli("--env", "dev", "pipelines", "definitions", "--out", str(out))
    assert result.exit_code == 2
    assert "pass --account-id (no AWS credentials are needed then)" in result.output
    assert "Unable to locate credentials" not in result.output
    assert not out.exists()
    written = cli("--env", "dev", "pipelines", "definitions", "--out", str(out), "--account-id", "210987654321")
    assert written.exit_code == 0, written.output
    assert "arn:aws:iam::210987654321:role/" in next(out.iterdir()).read_text()


def test_demo_names_an_unknown_scenario_in_one_line(cli):
    result = cli("demo", "--scenario", "three-accounts")
    assert result.exit_code == 2
    assert "--scenario: expected single-account or multi-account, found 'three-accounts'" in result.output


def test_registry_environment_is_printed_for_a_consumer_only(cli):
    consumer = cli("--env", str(ENV_DIR / "multi-account" / "staging.tfvars"), "ci", "registry-environment")
    assert (consumer.exit_code, consumer.output) == (0, "dev\n")
    standalone = cli("--env", "staging", "ci", "registry-environment")
    assert (standalone.exit_code, standalone.output) == (0, "")


@pytest.mark.parametrize("command", [
    ("pipelines", "start", "training_hpo"),
    ("pipelines", "start", "abalone-staging-training"),
    ("data", "drop", "data/abalone.csv", "--kind", "training"),
    ("demo",),
])
def test_a_consumer_refuses_to_train_naming_its_registry(cli, command):
    staging = str(ENV_DIR / "multi-account" / "staging.tfvars")
    result = cli("--env", staging, *command)
    assert result.exit_code == 2, result.output
    assert result.output.strip().endswith(
        "environment 'staging' is a consumer (accounts.role) and trains nothing; training and retraining run in "
        "the registry environment 'dev' (account 111111111111)"), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_consumer_still_starts_its_inference_pipeline_and_a_standalone_its_training(cli):
    # Past the refusal: both go on to connect, and no emulator runs here.
    for env, pipeline in ((str(ENV_DIR / "multi-account" / "staging.tfvars"), "inference"), ("local", "training")):
        result = cli("--env", env, "pipelines", "start", pipeline)
        assert "trains nothing" not in result.output, result.output
