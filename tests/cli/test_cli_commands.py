"""Commands added when `batchops` became the one command line: config show, dev regenerate, ci package-lambdas,
and the global options that reach `infra`."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from batchops import generated
from batchops.cli import app


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, list(args))


def test_config_show_prints_the_resolved_settings(cli):
    result = cli("--env", "dev", "config", "show")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["environment"] == "dev" and shown["project"] == "abalone"


def test_dev_regenerate_check_lists_stale_files_and_exits_1(cli, monkeypatch):
    monkeypatch.setattr(generated, "stale", lambda: ["terraform/contracts.json"])
    stale = cli("dev", "regenerate", "--check")
    assert stale.exit_code == 1
    assert "stale: terraform/contracts.json (run `batchops dev regenerate`)" in stale.stderr
    monkeypatch.setattr(generated, "stale", lambda: [])
    assert cli("dev", "regenerate", "--check").exit_code == 0


def test_dev_regenerate_writes_through_the_registry(cli, monkeypatch):
    calls = []
    monkeypatch.setattr(generated, "write_all", lambda: calls.append("write_all") or ["terraform/contracts.json"])
    result = cli("dev", "regenerate")
    assert result.exit_code == 0 and calls == ["write_all"]
    assert "written: terraform/contracts.json" in result.stdout


def test_ci_package_lambdas_prints_one_line_per_zip(cli, tmp_path):
    out = tmp_path / "lambda"
    result = cli("ci", "package-lambdas", "--out", str(out))
    assert result.exit_code == 0, result.output
    zips = sorted(out.glob("*.zip"))
    assert [path.stem for path in zips] == ["approval_trigger", "notification", "retrain_trigger"]
    for path in zips:
        assert f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in result.stdout


def test_ci_deploy_model_without_a_package_is_a_user_error(cli, monkeypatch):
    monkeypatch.delenv("MODEL_PACKAGE_ARN", raising=False)
    result = cli("--env", "staging", "ci", "deploy-model")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no model package: pass --model-package-arn or set MODEL_PACKAGE_ARN"


def test_ci_check_deployed_needs_a_definitions_directory(cli, tmp_path):
    result = cli("--env", "dev", "ci", "check-deployed", "--definitions", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "--definitions:" in result.stderr and "is not a directory" in result.stderr


def test_pipelines_definitions_refuses_a_file_as_out(cli, tmp_path):
    target = tmp_path / "file.json"
    target.write_text("{}")
    result = cli("pipelines", "definitions", "--out", str(target))
    assert result.exit_code == 2 and "exists and is not a directory" in result.stderr


def test_pipelines_upsert_checks_the_account_before_connecting(cli):
    result = cli("pipelines", "upsert", "--account-id", "12ab")
    assert result.exit_code == 2
    assert "--account-id: expected 12 digits, found '12ab'" in result.stderr


def test_infra_rejects_an_unknown_backend_in_one_line(cli):
    result = cli("--env", "dev", "infra", "init", "--backend", "ftp")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --backend 'ftp': expected one of local, http, s3"


def test_a_malformed_emulator_endpoint_is_refused_before_any_call(cli, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:5000")
    result = cli("pipelines", "upsert")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: AWS_ENDPOINT_URL: expected an http(s):// URL, found 'localhost:5000'"
