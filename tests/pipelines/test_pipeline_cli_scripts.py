"""scripts/write_definitions.py and scripts/upsert_pipelines.py: arguments, exit codes, output files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *arguments: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["BATCHOPS_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "batchops-pipelines-cli-test-home")
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *arguments], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)


@pytest.mark.parametrize("script", ["write_definitions.py", "upsert_pipelines.py"])
def test_missing_env_is_an_argument_error(script):
    result = run(script)
    assert result.returncode == 2 and "--env" in result.stderr


def test_bad_account_id_is_an_argument_error(tmp_path):
    result = run("write_definitions.py", "--env", "local", "--out", str(tmp_path), "--account-id", "12ab")
    assert result.returncode == 2 and "--account-id: expected 12 digits, found '12ab'" in result.stderr


def test_unknown_environment_names_the_file(tmp_path):
    result = run("write_definitions.py", "--env", "nowhere", "--out", str(tmp_path))
    assert result.returncode == 2 and "nowhere.tfvars: file not found" in result.stderr


def test_out_must_be_a_directory(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("{}")
    result = run("write_definitions.py", "--env", "local", "--out", str(target))
    assert result.returncode == 2 and "exists and is not a directory" in result.stderr


def test_upsert_without_an_emulator_says_how_to_start_one():
    result = run("upsert_pipelines.py", "--env", "local")
    assert result.returncode == 2 and "emulator" in result.stderr


def test_upsert_refuses_a_malformed_endpoint():
    result = run("upsert_pipelines.py", "--env", "local", "--endpoint-url", "localhost:5000")
    assert result.returncode == 2 and "--endpoint-url: expected an http(s):// URL" in result.stderr


@pytest.mark.slow
def test_write_definitions_writes_one_file_per_pipeline(tmp_path, built_local, local_settings):
    result = run("write_definitions.py", "--env", "local", "--out", str(tmp_path / "defs"))
    assert result.returncode == 0, result.stderr
    for key, name in local_settings.pipeline_names.items():
        text = (tmp_path / "defs" / f"{name}.json").read_text()
        assert json.loads(text) == json.loads(built_local["texts"][key])
        assert f"{key}: " in result.stdout
