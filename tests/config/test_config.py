"""The one configuration: every shipped env file is valid, every broken one yields its intended one-line error.

A broken case is a small override of the valid base `env_files/local.tfvars` (the reference that states every
key): its first line `# expect: <text>` is the single error line it must produce; `# remove: <key path>` lines
delete keys from the base; the rest is HCL deep-merged into the base (blocks merge key by key, lists and
values replace).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batchops_core.settings import (
    ENV_DIR,
    ENVIRONMENTS,
    ConfigError,
    check_env_file,
    load_settings,
    parse_tfvars,
    settings_from_data,
    validate_schedule_expression,
)

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.tfvars"))
ROOT = Path(__file__).resolve().parents[2]
BASE = ENV_DIR / "local.tfvars"
MAX_OVERRIDE_LINES = 12


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _remove(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    del data[last]


def apply_override(path: Path) -> dict[str, Any]:
    """The base's content with the case applied (ConfigError naming the case when it is not HCL)."""
    data = _merge(parse_tfvars(BASE), parse_tfvars(path))
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# remove: "):
            _remove(data, line.removeprefix("# remove: ").strip())
    return data


def override_problems(path: Path) -> list[str]:
    try:
        settings_from_data(apply_override(path), path)
    except ConfigError as exc:
        return exc.problems
    return []


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
    assert len(BROKEN) >= 23


def test_the_base_of_the_broken_cases_is_valid():
    assert override_problems(BASE) == []


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_case_is_a_small_override(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# expect: ")
    assert len(lines) <= MAX_OVERRIDE_LINES, f"{path.name}: {len(lines)} lines; state only what breaks the base"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_gives_its_one_line_error(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    problems = override_problems(path)
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


def test_checker_command_exit_codes(tmp_path):
    command = [sys.executable, "-m", "batchops.cli", "config", "check"]
    ok = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": ok") == len(ENVIRONMENTS)
    broken = tmp_path / "broken.tfvars"
    broken.write_text(BASE.read_text().replace('region      = "us-east-1"', 'region      = "mars-1"', 1))
    bad = subprocess.run([*command, str(broken), "local"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == f"{broken}: region: an AWS region such as 'us-east-1', found 'mars-1'"
    assert lines[1].endswith("local.tfvars: ok")
    assert bad.stderr == ""
