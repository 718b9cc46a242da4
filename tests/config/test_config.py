"""The one configuration: every shipped env file is valid, every broken one yields its intended one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batchops_core.settings import (
    ENV_DIR,
    ENVIRONMENTS,
    ConfigError,
    check_env_file,
    load_settings,
    validate_schedule_expression,
)

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.tfvars"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_file_is_valid(env):
    settings = load_settings(env)
    assert settings.environment == env
    assert settings.pipelines.training_name.startswith(f"{settings.project}-{env}-")
    assert settings.dataset.target in settings.dataset.column_names


def test_local_settings_expose_the_derived_values_other_parts_use():
    settings = load_settings("local")
    assert settings.bucket == "abalone-local-data"
    assert settings.s3_uri("training", "a.csv") == "s3://abalone-local-data/data/training/a.csv"
    assert settings.dataset.categorical_features == ["sex"]
    assert "rings" not in settings.dataset.numeric_features and "record_id" not in settings.dataset.numeric_features
    assert settings.model.passes(2.6, 2.6) and not settings.model.passes(2.61, 2.6)
    assert set(settings.pipeline_names) == {"training", "training_hpo", "inference"}


def test_broken_corpus_is_large_enough():
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_gives_its_one_line_error(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    problems = check_env_file(path)
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(f"{path}: "), line
    assert expected in line, f"expected {expected!r} in {line!r}"
    assert "\n" not in line and "Traceback" not in line


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.tfvars")
    assert info.value.problems == [f"{tmp_path / 'nope.tfvars'}: file not found"]


def test_file_named_for_an_environment_must_declare_it(tmp_path):
    path = tmp_path / "prod.tfvars"
    path.write_text((ENV_DIR / "dev.tfvars").read_text())
    assert check_env_file(path) == [f"{path}: environment: expected 'prod' (the file's name), found 'dev'"]


@pytest.mark.parametrize("expression", ["rate(1 day)", "rate(15 minutes)", "cron(0 2 * * ? *)",
                                        "cron(0/15 8-17 ? * MON-FRI *)", "cron(0 3 L * ? *)", "cron(0 3 ? * 6#3 *)"])
def test_valid_schedule_expressions(expression):
    assert validate_schedule_expression(expression) == expression


@pytest.mark.parametrize("expression", ["rate(1 days)", "rate(0 minutes)", "cron(61 2 * * ? *)",
                                        "cron(0 2 * 13 ? *)", "cron(0 2 * * MON *)", "every day", "cron(0 2 * * ?)"])
def test_invalid_schedule_expressions(expression):
    with pytest.raises(ValueError):
        validate_schedule_expression(expression)


def test_checker_command_exit_codes():
    ok = subprocess.run([sys.executable, str(ROOT / "scripts/check_config.py")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": ok") == len(ENVIRONMENTS)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts/check_config.py"), str(BROKEN[0]), "local"],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0].startswith(str(BROKEN[0])) and lines[1].endswith("local.tfvars: ok")
    assert bad.stderr == ""
