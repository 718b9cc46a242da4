"""The one configuration: every shipped env file is valid, every broken one yields its intended one-line error.

A broken case is a small override of the valid base `env_files/local.tfvars` (the reference that states every
key): its first line `# expect: <text>` is the single error line it must produce; `# remove: <key path>` lines
delete keys from the base; the rest is HCL deep-merged into the base (blocks merge key by key, lists and
values replace). A suspicious case (`suspicious/`) is built the same way: a valid file whose `# expect:` line is
the single warning it must produce.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batchops_core import metrics, quotas
from batchops_core.settings import (
    ENV_DIR,
    PIPELINE_KEYS,
    TRAINING_PIPELINE_KEYS,
    ConfigError,
    check_env_file,
    inspect_env_file,
    load_settings,
    parse_tfvars,
    sagemaker_instance_types,
    settings_from_data,
    validate_schedule_expression,
)

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.tfvars"))
SUSPICIOUS = sorted((Path(__file__).parent / "suspicious").glob("*.tfvars"))
ROOT = Path(__file__).resolve().parents[2]
BASE = ENV_DIR / "local.tfvars"
ENVIRONMENTS = tuple(sorted(path.stem for path in ENV_DIR.glob("*.tfvars")))  # the shipped env files
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


@pytest.mark.parametrize("path", sorted((ENV_DIR / "multi-account").glob("*.tfvars")), ids=lambda path: path.stem)
def test_the_multi_account_example_is_valid_and_consistent(path):
    settings = load_settings(path)
    registry = load_settings(ENV_DIR / "multi-account" / "dev.tfvars")
    assert registry.accounts.role == "registry"
    if settings.accounts.role == "consumer":
        source = settings.accounts.registry
        assert (source.environment, source.account_id) == (registry.environment, registry.accounts.account_id)
        assert (source.model_package_group, source.bucket) == (registry.pipelines.model_package_group, registry.bucket)
        assert (settings.accounts.account_id, settings.environment) in {
            (c.account_id, c.environment) for c in registry.accounts.consumers}


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
    assert set(settings.pipeline_names) == set(PIPELINE_KEYS)  # a standalone environment deploys every pipeline


def test_broken_corpus_is_large_enough():
    assert len(BROKEN) >= 39
    assert len(SUSPICIOUS) >= 4


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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_file_is_free_of_warnings(env):
    assert inspect_env_file(env) == ([], [])


@pytest.mark.parametrize("path", SUSPICIOUS, ids=lambda p: p.stem)
def test_suspicious_file_is_valid_and_gives_its_one_warning(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_OVERRIDE_LINES
    settings = settings_from_data(apply_override(path), path)
    warnings = [f"{key}: warning: {text}" for key, text in settings.warnings()]
    assert warnings == [lines[0].removeprefix("# expect: ")]


def _problems_and_warnings(tmp_path: Path, **blocks: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The base with some blocks merged in, written to a file and checked like `batchops config check` does."""
    path = tmp_path / "case.tfvars"
    data = _merge(parse_tfvars(BASE), blocks)
    try:
        settings = settings_from_data(data, path)
    except ConfigError as exc:
        return [line.removeprefix(f"{path}: ") for line in exc.problems], []
    return [], [f"{key}: {text}" for key, text in settings.warnings()]


@pytest.mark.parametrize("name", [m.name for m in metrics.for_problem(metrics.REGRESSION)])
def test_registration_must_be_at_least_as_strict_as_model_quality_in_the_metric_s_direction(name, tmp_path):
    metric = metrics.get(name, metrics.REGRESSION)
    low, high = [t for t in (0.2, 0.5, 0.8, 2.0, 3.0) if metric.threshold_problem(t) is None][:2]
    strict, loose = (high, low) if metric.higher_is_better else (low, high)

    def gates(registration: float, quality: float) -> tuple[list[str], list[str]]:
        return _problems_and_warnings(tmp_path, model={"metric": name, "registration_threshold": registration,
                                                       "model_quality_threshold": quality})

    problems, _ = gates(loose, strict)
    assert len(problems) == 1 and problems[0].startswith(
        f"model: registration_threshold ({loose}) is looser than model_quality_threshold ({strict}) for {name}")
    assert gates(strict, loose) == ([], [])
    assert gates(strict, strict) == ([], [f"model.registration_threshold: equals model_quality_threshold ({strict})"
                                          ": a model registered at the threshold fails the first batch that scores "
                                          "slightly worse"])


@pytest.mark.parametrize("strategy", ["Random", "Bayesian", "Hyperband"])
def test_hpo_budget_is_bounded_by_the_documented_tuning_limits(strategy, tmp_path):
    jobs = quotas.limit(f"sagemaker.tuning_training_jobs.{strategy}")
    parallel = quotas.limit("sagemaker.tuning_parallel_training_jobs")
    at_limit = _problems_and_warnings(tmp_path, hpo={"strategy": strategy, "max_jobs": jobs, "max_parallel_jobs": 2})
    assert at_limit[0] == []
    over = _problems_and_warnings(tmp_path, hpo={"strategy": strategy, "max_jobs": jobs + 1})[0]
    assert len(over) == 1 and over[0].startswith(f"hpo: max_jobs ({jobs + 1}) exceeds SageMaker's limit of {jobs} ")
    assert _problems_and_warnings(tmp_path, hpo={"strategy": strategy, "max_jobs": jobs,
                                                 "max_parallel_jobs": parallel})[0] == []
    over = _problems_and_warnings(tmp_path, hpo={"strategy": strategy, "max_jobs": jobs,
                                                 "max_parallel_jobs": parallel + 1})[0]
    assert len(over) == 1 and over[0].startswith(f"hpo: max_parallel_jobs ({parallel + 1}) exceeds SageMaker's "
                                                 f"limit of {parallel} ")


def test_the_tuning_limits_name_the_aws_page():
    for key in ("sagemaker.tuning_parallel_training_jobs", "sagemaker.tuning_training_jobs.Random",
                "sagemaker.tuning_training_jobs.Bayesian", "sagemaker.tuning_training_jobs.Hyperband"):
        assert quotas.BY_KEY[key].source.startswith("https://docs.aws.amazon.com/sagemaker/"), key
        assert quotas.default(key) <= quotas.limit(key)


def test_instance_types_are_botocore_s_enum_of_each_job_kind():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    for kind, shape in (("processing", "ProcessingInstanceType"), ("training", "TrainingInstanceType"),
                        ("transform", "TransformInstanceType")):
        assert sagemaker_instance_types(kind) == tuple(model.shape_for(shape).enum)


@pytest.mark.parametrize("kind", ["processing", "training", "transform"])
def test_an_unknown_instance_type_names_key_value_and_three_valid_neighbours(kind, tmp_path):
    problems, _ = _problems_and_warnings(tmp_path, compute={f"{kind}_instance_type": "ml.m5.larg"})
    assert len(problems) == 1
    line = problems[0]
    assert line.startswith(f"compute.{kind}_instance_type: 'ml.m5.larg' is not a SageMaker {kind} instance type")
    suggested = re.search(r"did you mean (.*)\?\)", line).group(1)
    names = re.findall(r"'([^']+)'", suggested)
    assert len(names) == 3 and "ml.m5.large" in names
    assert all(name in sagemaker_instance_types(kind) and name.startswith("ml.m5.") for name in names)


def test_an_instance_type_of_another_job_kind_says_where_it_is_valid(tmp_path):
    training_only = next(t for t in sagemaker_instance_types("training")
                         if t not in sagemaker_instance_types("transform")
                         and t not in sagemaker_instance_types("processing"))
    problems, _ = _problems_and_warnings(tmp_path, compute={"transform_instance_type": training_only})
    assert len(problems) == 1 and problems[0].endswith("; it is one for training")


def test_rules_need_someone_to_receive_them_and_slack_alone_is_enough(tmp_path):
    nobody = {"recipients": [], "slack_webhook_secret_name": ""}
    problems, _ = _problems_and_warnings(tmp_path, notifications=nobody)
    assert problems == ["notifications: rules are configured but nobody receives them: recipients is empty and "
                        "slack_webhook_secret_name is unset; add a recipient or remove the rules"]
    slack = {"recipients": [], "slack_webhook_secret_name": "abalone/slack-webhook"}
    assert _problems_and_warnings(tmp_path, notifications=slack) == ([], [])
    muted = {**nobody, "rules": [{"step": "*", "status": "*", "mute": True}]}
    assert _problems_and_warnings(tmp_path, notifications=muted) == ([], [
        "notifications.recipients: empty and no slack_webhook_secret_name: final execution statuses and failed "
        "steps reach nobody"])


def test_keys_defined_more_than_once_are_found_at_any_depth_with_their_lines(tmp_path):
    path = tmp_path / "twice.tfvars"
    path.write_text("\n".join([
        'project = "a"',
        "dataset = {",
        "  columns = [",
        '    { name = "x", type = "float" },',
        '    { name = "y", type = "float",',
        '      "name" = "z" },',
        "  ]",
        "}",
        'project = "b"',
        "# project = \"c\" (a comment is not a definition)",
        'project = "d"',
        "tags = { team = \"a\" }",
        "labels = { team = \"a\" }",
    ]) + "\n")
    with pytest.raises(ConfigError) as info:
        parse_tfvars(path)
    assert info.value.problems == [f"{path}: project: defined 3 times (lines 1, 9 and 11)",
                                   f"{path}: dataset.columns[1].name: defined twice (lines 5 and 6)"]
    assert check_env_file(path) == info.value.problems


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


def test_checker_command_prints_warnings_and_still_passes(tmp_path):
    suspicious = tmp_path / "suspicious.tfvars"
    text = BASE.read_text()
    suspicious.write_text(text.replace("registration_threshold  = 2.6", "registration_threshold  = 3.0", 1))
    result = subprocess.run([sys.executable, "-m", "batchops.cli", "config", "check", str(suspicious)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{suspicious}: model.registration_threshold: warning: equals model_quality_threshold (3.0): a model "
        "registered at the threshold fails the first batch that scores slightly worse",
        f"{suspicious}: ok"]


def test_a_consumer_reads_its_registry_group_by_arn_and_a_registry_grants_its_consumers_roles():
    consumer = load_settings(ENV_DIR / "multi-account" / "staging.tfvars")
    assert consumer.model_package_group_ref == (
        "arn:aws:sagemaker:us-east-1:111111111111:model-package-group/abalone-dev-models")
    assert not consumer.trains
    registry = load_settings(ENV_DIR / "multi-account" / "dev.tfvars")
    assert registry.model_package_group_ref == "abalone-dev-models" and registry.trains
    assert registry.consumer_execution_role_arns() == [
        "arn:aws:iam::222222222222:role/abalone-staging-sagemaker-execution",
        "arn:aws:iam::333333333333:role/abalone-prod-sagemaker-execution"]
    standalone = load_settings("local")
    assert standalone.accounts.role == "standalone" and standalone.consumer_execution_role_arns() == []
    assert standalone.model_package_group_ref == standalone.pipelines.model_package_group


def test_a_consumer_deploys_only_the_pipelines_that_score_and_says_where_retraining_runs():
    consumer = load_settings(ENV_DIR / "multi-account" / "staging.tfvars")
    scoring = tuple(key for key in PIPELINE_KEYS if key not in TRAINING_PIPELINE_KEYS)
    assert scoring and consumer.pipeline_keys == scoring
    assert set(consumer.pipeline_names) == set(scoring)
    assert consumer.retraining == "retraining in registry 'dev' (account 111111111111)"
    for registry_or_standalone in (load_settings(ENV_DIR / "multi-account" / "dev.tfvars"), load_settings("local")):
        assert registry_or_standalone.pipeline_keys == PIPELINE_KEYS
        assert registry_or_standalone.retraining == "retraining starts"
