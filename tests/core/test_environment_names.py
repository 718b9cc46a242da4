"""Any environment name (issue 18 item 1): lower case, short enough for every name derived from it (the limit comes
from the tightest AWS name limit of the derived names), emulated by default only when it is `local`."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.loaders import create_loader

from batchops_core.settings import (
    ENV_DIR,
    ConfigError,
    check_env_file,
    fixed_resource_names,
    load_settings,
    max_environment_length,
    name_limit,
    parse_tfvars,
    settings_from_data,
)

BASE = (ENV_DIR / "local.tfvars").read_text(encoding="utf-8")


def _file(tmp_path: Path, environment: str, *, emulated: str | None = "keep") -> Path:
    """local.tfvars with another environment name (its explicit bucket and pipeline names stay as they are)."""
    text = BASE.replace('environment = "local"', f'environment = "{environment}"', 1)
    if emulated is None:
        text = text.replace("\nemulated = true\n", "\n", 1)
    elif emulated != "keep":
        text = text.replace("\nemulated = true\n", f"\nemulated = {emulated}\n", 1)
    path = tmp_path / "env.tfvars"
    path.write_text(text, encoding="utf-8")
    return path


def test_any_lower_case_name_is_an_environment_with_its_own_names(tmp_path) -> None:
    settings = load_settings(_file(tmp_path, "diabetes-eu2"))
    assert settings.environment == "diabetes-eu2" and settings.emulated
    assert settings.resource_prefix == "abalone-diabetes-eu2"
    assert ("Lambda function", "abalone-diabetes-eu2-notification") in fixed_resource_names("abalone", "diabetes-eu2")


@pytest.mark.parametrize(("name", "what"), [("Diabetes", "lower-case"), ("diabetes_eu", "lower-case"),
                                             ("2nd", "starts with a letter"), ("eu-", "lower-case")])
def test_a_name_that_is_not_lower_case_letters_digits_and_dashes_is_one_error(tmp_path, name, what) -> None:
    path = _file(tmp_path, name)
    problems = check_env_file(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: environment: ")
    assert what in problems[0] and f"'{name}'" in problems[0]


def _botocore_max(service: str, shape: str) -> int:
    return create_loader().load_service_model(service, "service-2")["shapes"][shape]["max"]


def test_the_longest_name_follows_from_the_tightest_derived_name(tmp_path) -> None:
    # The binding limits, read here straight from botocore: IAM role names and EventBridge rule names.
    assert name_limit("IAM role") == _botocore_max("iam", "roleNameType")
    assert name_limit("EventBridge rule") == _botocore_max("events", "RuleName")
    longest = max_environment_length("abalone")
    fits = "e" * longest
    assert all(len(name) <= name_limit(kind) for kind, name in fixed_resource_names("abalone", fits))
    assert any(len(name) == name_limit(kind) for kind, name in fixed_resource_names("abalone", fits))
    assert load_settings(_file(tmp_path, fits)).environment == fits
    too_long = fits + "e"
    path = _file(tmp_path, too_long)
    [problem] = check_env_file(path)
    over = [(kind, name) for kind, name in fixed_resource_names("abalone", too_long) if len(name) > name_limit(kind)]
    kind, name = over[0]
    assert problem.startswith(f"{path}: environment: '{too_long}' is too long: the ")
    assert f"'{name}'" in problem or any(f"'{n}'" in problem for _, n in over)
    assert f"at most {longest} characters" in problem
    # A shorter project leaves room for a longer environment name.
    assert max_environment_length("ab") == longest + len("abalone") - len("ab")


def test_schedule_rule_names_count_too(tmp_path) -> None:
    path = _file(tmp_path, "e" * max_environment_length("abalone"))
    data = parse_tfvars(path)
    data["schedules"] = [{"pipeline": "training_hpo", "expression": "rate(1 day)"}] * 101
    with pytest.raises(ConfigError) as info:
        settings_from_data(data, path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: ") and "schedules[100]: its EventBridge rule" in problem
    assert f"AWS allows {name_limit('EventBridge rule')}" in problem
    data["schedules"] = data["schedules"][:100]  # two-digit indices keep the rule names within the limit
    settings_from_data(data, path)


def test_only_the_environment_named_local_is_emulated_by_default(tmp_path) -> None:
    assert load_settings(_file(tmp_path, "local", emulated=None)).emulated is True  # today's local file works
    assert load_settings(_file(tmp_path, "sandbox", emulated=None)).emulated is False
    assert load_settings(_file(tmp_path, "sandbox", emulated="true")).emulated is True
    assert load_settings("dev").emulated is False and load_settings("local").emulated is True


def test_a_file_of_env_files_declares_its_own_name(tmp_path) -> None:
    # The case: a copy named after one environment that declares another one's name.
    path = tmp_path / "dev.tfvars"
    path.write_text(BASE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.problems == [f"{path}: environment: expected 'dev' (the file's name), found 'local'"]
